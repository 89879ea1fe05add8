// V8 heap growth for a process that holds a cache: how much garbage may pile up past the live heap before a full GC.
import { setFlagsFromString } from 'node:v8';

/**
 * Left to itself, V8 lets a heap that allocates fast grow to as much as four times what the last full GC found live
 * before it collects again. A cache's live heap is mostly its entries, and a miss-heavy load promotes request garbage
 * into the old generation, so a cache process would hold up to 4× its entries' memory. A fixed factor of
 * 1 + percent/100 bounds that headroom, at the price of more frequent full GCs (marking is mostly concurrent) under
 * loads that promote a lot. The flag is read at every GC, so setting it after start-up takes effect; 0 leaves V8's
 * heuristic.
 */
export function applyHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole percent ≥ 0, got ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

// V8 heap growth for a process that holds a cache: how much garbage may pile up past the live heap before a full GC.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

/** V8's own heuristic lets the heap grow to at most 4× its live size: the floor never asks for more. */
const MAX_PERCENT = 300;

/**
 * The growth percent to give V8 for a live heap of `liveBytes`: `percent` of it, but never less headroom than
 * `minHeadroomBytes` (capped at V8's own ×4). 0 leaves V8's heuristic.
 */
export function growthPercentFor(percent: number, minHeadroomBytes: number, liveBytes: number): number {
  if (percent === 0) return 0;
  if (minHeadroomBytes <= 0) return percent;
  const floor = liveBytes > 0 ? Math.ceil((minHeadroomBytes * 100) / liveBytes) : MAX_PERCENT;
  return Math.max(percent, Math.min(MAX_PERCENT, floor));
}

/** What applyHeapGrowth asked for, and how many large bodies stream now (the flag is process-wide, so this is too). */
const state = { percent: 0, minHeadroomBytes: 0, holds: 0, applied: -1, observer: undefined as PerformanceObserver | undefined };

function setPercent(p: number): void {
  if (p === state.applied) return;
  state.applied = p;
  setFlagsFromString(`--heap-growing-percent=${p}`);
}

/** The percent for now: with the floor while a large body streams, from the heap as it is. */
function update(): void {
  const floor = state.holds > 0 ? state.minHeadroomBytes : 0;
  setPercent(growthPercentFor(state.percent, floor, floor > 0 ? getHeapStatistics().used_heap_size : 0));
}

function afterMajorGc(entries: PerformanceEntry[]): void {
  if (state.holds === 0) return;
  for (const e of entries) {
    if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) return update();
  }
}

/**
 * Left to itself, V8 lets a heap that allocates fast grow to as much as four times what the last full GC found live
 * before it collects again. A cache's live heap is mostly its entries, and a miss-heavy load promotes request garbage
 * into the old generation, so a cache process would hold up to 4× its entries' memory. A fixed factor of
 * 1 + percent/100 bounds that headroom (the flag is read at every GC, so setting it after start-up takes effect);
 * percent 0 leaves V8's heuristic.
 *
 * A large body streaming through (holdHeadroom) is another matter: every socket read is a new Buffer, and that churn
 * of external memory, with a small heap's tight limit, set off a full GC every few MiB. A 256 MiB fill through an
 * 18 MiB heap ran about 30 full GCs (pauses of 3–22 ms, the miss's first byte 3–5× the origin's) against 2 with
 * 64 MiB of headroom. So while one streams, the headroom is at least `minHeadroomBytes`, recomputed after every full
 * GC from the heap it left. Its default, 32 MiB (cache.heapMinHeadroomBytes), gave the same first byte of a 1 GiB
 * fill as 64 MiB with about 15 MiB less RSS during it (+47–50 against +61–68 MiB, bench large-1g).
 */
export function applyHeapGrowth(percent: number, minHeadroomBytes = 0): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole percent ≥ 0, got ${percent}`);
  if (!Number.isSafeInteger(minHeadroomBytes) || minHeadroomBytes < 0) throw new RangeError(`heap headroom must be whole bytes ≥ 0, got ${minHeadroomBytes}`);
  state.percent = percent;
  state.minHeadroomBytes = minHeadroomBytes;
  state.applied = -1;
  update();
  if (percent > 0 && minHeadroomBytes > 0 && state.observer === undefined) {
    state.observer = new PerformanceObserver((list) => afterMajorGc(list.getEntries()));
    state.observer.observe({ entryTypes: ['gc'] });
  }
}

/** Bodies from this size hold the headroom floor while they stream (fills, relays, passed requests and answers). */
export const HEADROOM_BODY_BYTES = 1024 * 1024;

/** Large bodies streaming now (for tests and diagnostics). */
export function headroomHolds(): number { return state.holds; }

/** A large body starts streaming through: the headroom floor holds until the returned function is called (once). */
export function holdHeadroom(): () => void {
  let held = true;
  if (++state.holds === 1) update();
  return () => {
    if (!held) return;
    held = false;
    if (--state.holds === 0) update();
  };
}

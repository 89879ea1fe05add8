// The in-memory record of one stored variant: fields kept flat, the pair and record views derived on demand.
import type { StoredVariant } from './store.js';
import type { Freshness } from '../cache/policy/types.js';

/**
 * Held once per cached variant, so it is kept small (issue 7: ≤ 2 KiB of overhead per object): the response fields
 * live only as the flat [name, value, ...] array the hit path writes; the [name, value] pairs and the name → value
 * record that policy code needs (conditionals, ranges, 304 updates) are built when asked for.
 */
export class MemoryVariant<O = unknown> implements StoredVariant {
  flatHeaders: string[];
  #fieldMap: Record<string, string | string[]> | undefined;

  constructor(
    readonly id: number,
    public seq: number,
    readonly zoneId: string,
    readonly host: string,
    readonly path: string,
    readonly query: string,
    readonly objectKey: string,
    readonly keyNames: readonly string[],
    readonly selector: string,
    public status: number,
    headers: [string, string][],
    readonly body: Buffer,
    readonly bodyHash: string,
    public freshness: Freshness,
    readonly tags: readonly string[],
    public forcedStale: boolean,
    readonly storedAt: number,
    readonly size: number,
    readonly object: O,
  ) {
    this.flatHeaders = flatten(headers);
  }

  get headers(): [string, string][] {
    const f = this.flatHeaders;
    const out: [string, string][] = new Array(f.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = [f[2 * i]!, f[2 * i + 1]!];
    return out;
  }

  set headers(headers: [string, string][]) {
    this.flatHeaders = flatten(headers);
    this.#fieldMap = undefined;
  }

  get fieldMap(): Record<string, string | string[]> {
    return (this.#fieldMap ??= toFieldMap(this.flatHeaders));
  }

  set fieldMap(map: Record<string, string | string[]>) {
    this.#fieldMap = map;
  }
}

/**
 * Field names, and short values that repeat across responses (content-type, cache-control, vary, an Origin...), are
 * held once for the whole cache instead of once per variant. Bounded: once full, new strings are simply not shared.
 */
const INTERNED = new Map<string, string>();
const INTERN_MAX = 20_000;
const INTERN_VALUE_MAX_LENGTH = 80;

function intern(s: string): string {
  const known = INTERNED.get(s);
  if (known !== undefined) return known;
  if (INTERNED.size < INTERN_MAX) INTERNED.set(s, s);
  return s;
}

export function flatten(headers: [string, string][]): string[] {
  const out: string[] = new Array(headers.length * 2);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    out[2 * i] = intern(name);
    // Dates and validators are unique per response: sharing them would only fill the table.
    out[2 * i + 1] = value.length <= INTERN_VALUE_MAX_LENGTH && name !== 'date' && name !== 'etag' && name !== 'last-modified' && name !== 'expires'
      ? intern(value) : value;
  }
  return out;
}

/** name → value (or values, for repeated fields) from a flat field list. */
export function toFieldMap(flat: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const v = flat[i + 1]!;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

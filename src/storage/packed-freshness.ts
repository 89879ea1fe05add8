// A cold variant's numbers (stored-at, charge, entry file, parked body file, freshness) packed into one short string: no object, no boxed doubles.
import type { DirectivesSource, Freshness, LifetimeSource } from '../cache/policy/types.js';

const LIFETIME_SOURCES: readonly LifetimeSource[] = ['s-maxage', 'max-age', 'expires', 'heuristic', 'default-ttl', 'none'];
const DIRECTIVES_SOURCES: readonly DirectivesSource[] = ['cloudflare-cdn-cache-control', 'cdn-cache-control', 'surrogate-control', 'cache-control'];

/** A cold variant's own numbers, besides its freshness. */
export interface ColdNumbers {
  storedAt: number;
  /** Bytes charged for it (memory-cost.ts). */
  size: number;
  /** Its disk entry file's seq (0: none). */
  entry: number;
  /** Its body's file, when the variant holds it itself (a parked body: see MemoryVariant); else 0. */
  file: number;
  /** That body's length (0 when not parked). */
  length: number;
}

/** The numbers in their packed order. */
export const STORED_AT = 0, SIZE = 1, ENTRY = 2, FILE = 3, LENGTH = 4;
const FRESH = 5;
const COUNT = 10;
/** Two header units: a 2-bit class per number (0: zero; 1: uint32 in 2 units; 2: uint48 in 3; 3: any double in 4), then the freshness flags. */
const HEAD = 2;
const UNITS = [0, 2, 3, 4];
const f64 = new Float64Array(1);
const u16 = new Uint16Array(f64.buffer);

function classOf(x: number): number {
  if (x === 0 && 1 / x > 0) return 0;
  if (Number.isInteger(x) && x > 0) return x < 2 ** 32 ? 1 : x < 2 ** 48 ? 2 : 3;
  return 3;
}

/**
 * The numbers and the freshness as one string: small whole numbers (most of them: lifetimes, sizes, ids; ms dates fit
 * 48 bits) take 0 to 3 UTF-16 units, any other double its exact 64 bits in 4. Undefined when the freshness holds a
 * source the packing does not know (the variant keeps its fields in memory then).
 */
export function packCold(n: ColdNumbers, f: Freshness): string | undefined {
  const ls = LIFETIME_SOURCES.indexOf(f.lifetimeSource);
  const ds = DIRECTIVES_SOURCES.indexOf(f.directivesSource);
  if (ls === -1 || ds === -1) return undefined;
  const values = VALUES;
  values[0] = n.storedAt; values[1] = n.size; values[2] = n.entry; values[3] = n.file; values[4] = n.length;
  values[5] = f.lifetime; values[6] = f.correctedInitialAge; values[7] = f.responseTime; values[8] = f.staleWhileRevalidate; values[9] = f.staleIfError;
  const units = UNITS_OUT;
  units.length = HEAD;
  units[0] = 0;
  units[1] = 0;
  for (let i = 0; i < COUNT; i++) {
    const x = values[i]!;
    const c = classOf(x);
    units[i >> 3]! |= c << ((i & 7) * 2);
    if (c === 1) units.push(Math.floor(x / 65536), x % 65536);
    else if (c === 2) units.push(Math.floor(x / 2 ** 32), Math.floor(x / 65536) % 65536, x % 65536);
    else if (c === 3) { f64[0] = x; units.push(u16[0]!, u16[1]!, u16[2]!, u16[3]!); }
  }
  units[1]! |= ((f.noStaleServing ? 1 : 0) | (f.alwaysRevalidate ? 2 : 0) | (f.heuristic ? 4 : 0) | (ls << 3) | (ds << 6)) << 4;
  return String.fromCharCode.apply(null, units);
}

/** Scratch arrays of packCold (a million variants are packed at each start). */
const VALUES: number[] = new Array<number>(COUNT).fill(0);
const UNITS_OUT: number[] = [];

/** Number `k` (STORED_AT, SIZE...) of a packed string. */
export function coldNumber(s: string, k: number): number {
  let at = HEAD;
  for (let i = 0; i < k; i++) at += UNITS[(s.charCodeAt(i >> 3) >> ((i & 7) * 2)) & 3]!;
  switch ((s.charCodeAt(k >> 3) >> ((k & 7) * 2)) & 3) {
    case 0: return 0;
    case 1: return s.charCodeAt(at) * 65536 + s.charCodeAt(at + 1);
    case 2: return s.charCodeAt(at) * 2 ** 32 + s.charCodeAt(at + 1) * 65536 + s.charCodeAt(at + 2);
    default:
      for (let i = 0; i < 4; i++) u16[i] = s.charCodeAt(at + i);
      return f64[0]!;
  }
}

export function coldNumbers(s: string): ColdNumbers {
  return { storedAt: coldNumber(s, STORED_AT), size: coldNumber(s, SIZE), entry: coldNumber(s, ENTRY), file: coldNumber(s, FILE), length: coldNumber(s, LENGTH) };
}

export function coldFreshness(s: string): Freshness {
  const bits = s.charCodeAt(1) >> 4;
  return {
    lifetime: coldNumber(s, FRESH), correctedInitialAge: coldNumber(s, FRESH + 1), responseTime: coldNumber(s, FRESH + 2),
    staleWhileRevalidate: coldNumber(s, FRESH + 3), staleIfError: coldNumber(s, FRESH + 4),
    noStaleServing: (bits & 1) !== 0, alwaysRevalidate: (bits & 2) !== 0, heuristic: (bits & 4) !== 0,
    lifetimeSource: LIFETIME_SOURCES[(bits >> 3) & 7]!, directivesSource: DIRECTIVES_SOURCES[(bits >> 6) & 3]!,
  };
}

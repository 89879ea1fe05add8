// A variant's freshness packed into one short string while the variant is cold (a disk tier): 64 heap bytes instead of an object and its boxed numbers.
import type { DirectivesSource, Freshness, LifetimeSource } from '../cache/policy/types.js';

const LIFETIME_SOURCES: readonly LifetimeSource[] = ['s-maxage', 'max-age', 'expires', 'heuristic', 'default-ttl', 'none'];
const DIRECTIVES_SOURCES: readonly DirectivesSource[] = ['cloudflare-cdn-cache-control', 'cdn-cache-control', 'surrogate-control', 'cache-control'];
const NUMBERS = 5;
const f64 = new Float64Array(1);
const u16 = new Uint16Array(f64.buffer);

/**
 * Five doubles (lifetime, corrected initial age, response time, stale-while-revalidate, stale-if-error) as four
 * UTF-16 code units each, then one unit of flags and sources: 21 units, exact (the doubles' bits are kept). Undefined
 * when a field holds what the packing does not know (an unknown source): the object is kept then.
 */
export function packFreshness(f: Freshness): string | undefined {
  const ls = LIFETIME_SOURCES.indexOf(f.lifetimeSource);
  const ds = DIRECTIVES_SOURCES.indexOf(f.directivesSource);
  if (ls === -1 || ds === -1) return undefined;
  const units: number[] = new Array(NUMBERS * 4 + 1);
  const values = [f.lifetime, f.correctedInitialAge, f.responseTime, f.staleWhileRevalidate, f.staleIfError];
  for (let i = 0; i < NUMBERS; i++) {
    f64[0] = values[i]!;
    for (let k = 0; k < 4; k++) units[i * 4 + k] = u16[k]!;
  }
  units[NUMBERS * 4] = (f.noStaleServing ? 1 : 0) | (f.alwaysRevalidate ? 2 : 0) | (f.heuristic ? 4 : 0) | (ls << 3) | (ds << 6);
  return String.fromCharCode(...units);
}

export function unpackFreshness(s: string): Freshness {
  const n = (i: number): number => {
    for (let k = 0; k < 4; k++) u16[k] = s.charCodeAt(i * 4 + k);
    return f64[0]!;
  };
  const bits = s.charCodeAt(NUMBERS * 4);
  return {
    lifetime: n(0), correctedInitialAge: n(1), responseTime: n(2), staleWhileRevalidate: n(3), staleIfError: n(4),
    noStaleServing: (bits & 1) !== 0, alwaysRevalidate: (bits & 2) !== 0, heuristic: (bits & 4) !== 0,
    lifetimeSource: LIFETIME_SOURCES[(bits >> 3) & 7]!, directivesSource: DIRECTIVES_SOURCES[(bits >> 6) & 3]!,
  };
}

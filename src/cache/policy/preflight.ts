// Origin-owned preflight caching (cacheKey.cachePreflight): whether an origin's preflight answer is kept, and for how
// long (its Access-Control-Max-Age). Its key and selection rule are in cache/key.ts.
import { deltaSeconds } from './cache-control.js';
import { parseAgeValue } from './freshness.js';
import { selectResponseCacheControl } from './targeted.js';
import type { Freshness, Headers } from './types.js';

export type PreflightDecision = { storable: true; freshness: Freshness } | { storable: false; reason: string };

/**
 * Stored only when the origin allowed it: a 200/204 with a positive Access-Control-Max-Age (the browser's own
 * preflight-cache lifetime, https://fetch.spec.whatwg.org/#http-access-control-max-age) and nothing in the directives
 * that govern this cache (RFC 9213 targeted fields, else Cache-Control) against it: no no-store, private or no-cache
 * (a preflight answer has no validators, so "validate before each use" means "do not reuse"), no Set-Cookie.
 * Kept for at most Access-Control-Max-Age, and at most s-maxage/max-age when given, counted from the answer's
 * age on arrival (Age plus the response delay).
 */
export function decidePreflight(status: number, headers: Headers, requestTime: number, responseTime: number): PreflightDecision {
  if (status !== 200 && status !== 204) return { storable: false, reason: 'status' };
  const { directives: cc, source } = selectResponseCacheControl(headers);
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5, #section-5.2.2.7, #section-5.2.2.4
  if (cc.has('no-store')) return { storable: false, reason: 'no-store' };
  if (cc.has('private')) return { storable: false, reason: 'private' };
  if (cc.has('no-cache')) return { storable: false, reason: 'no-cache' };
  if (headers['set-cookie'] !== undefined) return { storable: false, reason: 'set-cookie' };
  const raw = headers['access-control-max-age'];
  const maxAge = deltaSeconds(typeof raw === 'string' ? raw.trim() : undefined);
  if (maxAge === undefined || maxAge <= 0) return { storable: false, reason: 'no-freshness' };
  let lifetime = maxAge;
  for (const d of ['s-maxage', 'max-age']) {
    const v = cc.get(d);
    if (v === undefined) continue;
    // A present but invalid value makes the answer stale (https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1).
    lifetime = Math.min(lifetime, deltaSeconds(v) ?? 0);
    break;
  }
  // corrected_age_value of https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3: an upstream cache's Age counts
  // against the lifetime. The apparent age (from Date) is left out: Date has one-second granularity and would cut
  // an answer with Access-Control-Max-Age: 1 to nothing; browsers' preflight caches ignore both.
  const correctedInitialAge = parseAgeValue(headers) + Math.max(0, (responseTime - requestTime) / 1000);
  if (lifetime <= correctedInitialAge) return { storable: false, reason: 'no-freshness' };
  return {
    storable: true,
    freshness: {
      lifetime, correctedInitialAge, responseTime, staleWhileRevalidate: 0, staleIfError: 0,
      noStaleServing: true, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: source,
    },
  };
}

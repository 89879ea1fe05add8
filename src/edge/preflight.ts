// Origin-owned preflight caching (cacheKey.cachePreflight): an origin's preflight answer kept for its Access-Control-Max-Age.
import type { HeaderValues } from '../cache/key.js';
import { deltaSeconds, parseCacheControl } from '../cache/policy/index.js';
import type { Freshness } from '../cache/policy/types.js';

/** A preflight answer depends on the Origin, the method and the headers asked for (Fetch standard, CORS-preflight cache). */
export const PREFLIGHT_KEY_NAMES: readonly string[] = Object.freeze(['origin', 'access-control-request-method', 'access-control-request-headers']);

/** Preflight entries live beside the URL's object, under their own key, so a GET never selects one. */
export function preflightObjectKey(objectKey: string): string {
  return `${objectKey}\u0000OPTIONS`;
}

export type PreflightDecision = { storable: true; freshness: Freshness } | { storable: false; reason: string };

/**
 * Stored only when the origin allowed it: a 200/204 with a positive Access-Control-Max-Age, no no-store/private and
 * no Set-Cookie; kept for at most Access-Control-Max-Age (and at most max-age/s-maxage when given).
 */
export function decidePreflight(status: number, headers: HeaderValues, _requestTime: number, responseTime: number): PreflightDecision {
  if (status !== 200 && status !== 204) return { storable: false, reason: 'status' };
  const cc = parseCacheControl(headers['cache-control']);
  if (cc.has('no-store')) return { storable: false, reason: 'no-store' };
  if (cc.has('private')) return { storable: false, reason: 'private' };
  if (headers['set-cookie'] !== undefined) return { storable: false, reason: 'set-cookie' };
  const raw = headers['access-control-max-age'];
  const maxAge = deltaSeconds(typeof raw === 'string' ? raw.trim() : undefined);
  if (maxAge === undefined || maxAge <= 0) return { storable: false, reason: 'no-freshness' };
  let lifetime = maxAge;
  for (const d of ['s-maxage', 'max-age']) {
    const v = deltaSeconds(cc.get(d));
    if (v !== undefined) { lifetime = Math.min(lifetime, v); break; }
  }
  if (lifetime <= 0) return { storable: false, reason: 'no-freshness' };
  return {
    storable: true,
    freshness: {
      lifetime, correctedInitialAge: 0, responseTime, staleWhileRevalidate: 0, staleIfError: 0,
      noStaleServing: true, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
    },
  };
}

export interface PreflightCache {
  keyNames: readonly string[];
  decide: typeof decidePreflight;
}

export function createPreflightCache(): PreflightCache {
  return { keyNames: PREFLIGHT_KEY_NAMES, decide: decidePreflight };
}

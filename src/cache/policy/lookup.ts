// The lookup decision, as one outcome (Varnish's request steps switch on theirs): pass, preflight, hit, updating,
// revalidate, miss, only-if-cached. Pure: the caller looks in the store and passes the clock's now.
import { preciseAge } from './freshness.js';
import { evaluateReuse, parseRequestDirectives } from './reuse.js';
import type { Freshness, Headers, PolicyOptions } from './types.js';

/** What the lookup needs of a stored variant (the store's record satisfies it). */
export interface Stored {
  readonly freshness: Freshness;
  /** Soft-purged: the next use revalidates. */
  readonly forcedStale: boolean;
}

/** Forwarded without the cache: another method, or a request with content (RFC 9111 §2, §3). */
export interface PassOutcome { readonly kind: 'pass'; readonly fwd: 'method' | 'request'; readonly detail?: 'request-content' }
/** A CORS preflight the edge answers itself (edge-owned CORS). */
export interface PreflightOutcome { readonly kind: 'preflight' }
/** Looked up in the cache; `preflight`: in the preflight cache (origin-owned CORS with cachePreflight). */
export interface CacheRoute { readonly kind: 'cache'; readonly preflight: boolean }

export type Route = PassOutcome | PreflightOutcome | CacheRoute;

/** Fresh (or stale within the request's max-stale): served from the cache. `age` is the Age value, `ttl = lifetime − age`. */
export interface HitOutcome<V> { readonly kind: 'hit'; readonly variant: V; readonly age: number; readonly ttl: number }
/** Stale within stale-while-revalidate: served now, refreshed in the background (RFC 5861 §3). */
export interface UpdatingOutcome<V> { readonly kind: 'updating'; readonly variant: V; readonly age: number; readonly ttl: number }
/**
 * Asked of the origin with the stored validators. `fwd`: 'request' when the stored response was fresh and the
 * request asked for validation, else 'stale' (RFC 9211 §2.2). `staleIfError`: the stored response may answer if
 * the origin fails (stale-on-error.ts).
 */
export interface RevalidateOutcome<V> { readonly kind: 'revalidate'; readonly variant: V; readonly fwd: 'request' | 'stale'; readonly staleIfError: boolean }
/** Nothing stored for this request: 'vary-miss' when the URL has other variants, else 'uri-miss' (RFC 9211 §2.2). */
export interface MissOutcome { readonly kind: 'miss'; readonly fwd: 'vary-miss' | 'uri-miss' }
/** only-if-cached and nothing usable stored: 504 (RFC 9111 §5.2.1.7). */
export interface OnlyIfCachedOutcome { readonly kind: 'only-if-cached' }

export type LookupOutcome<V extends Stored = Stored> =
  | HitOutcome<V> | UpdatingOutcome<V> | RevalidateOutcome<V> | MissOutcome | OnlyIfCachedOutcome;

/** Every outcome of a request's lookup step, the one union the edge switches on. */
export type Outcome<V extends Stored = Stored> = PassOutcome | PreflightOutcome | LookupOutcome<V>;

// The outcomes without per-request values are made once (the hit path allocates nothing it need not).
const CACHE: CacheRoute = Object.freeze({ kind: 'cache', preflight: false });
const CACHE_PREFLIGHT: CacheRoute = Object.freeze({ kind: 'cache', preflight: true });
const PREFLIGHT: PreflightOutcome = Object.freeze({ kind: 'preflight' });
const PASS_METHOD: PassOutcome = Object.freeze({ kind: 'pass', fwd: 'method' });
const PASS_METHOD_CONTENT: PassOutcome = Object.freeze({ kind: 'pass', fwd: 'method', detail: 'request-content' });
const PASS_CONTENT: PassOutcome = Object.freeze({ kind: 'pass', fwd: 'request', detail: 'request-content' });
const MISS_VARY: MissOutcome = Object.freeze({ kind: 'miss', fwd: 'vary-miss' });
const MISS_URI: MissOutcome = Object.freeze({ kind: 'miss', fwd: 'uri-miss' });
const ONLY_IF_CACHED: OnlyIfCachedOutcome = Object.freeze({ kind: 'only-if-cached' });

/**
 * Whether a request is looked up at all. Only GET and HEAD without content are (RFC 9111 §2: a cache may store
 * responses to other methods, this one does not; https://www.rfc-editor.org/rfc/rfc9111#section-2), plus CORS
 * preflights: answered by the edge when it owns CORS (`edgeCors`), or looked up in the preflight cache when the zone
 * caches the origin's answers (`cachePreflight`). Plain arguments: this runs on every request, hits included.
 * - `hasContent`: the request has content (a body); it is never answered from the cache.
 * - `isPreflight`: a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method).
 */
export function routeRequest(method: string, hasContent: boolean, isPreflight: boolean, edgeCors: boolean, cachePreflight: boolean): Route {
  if ((method === 'GET' || method === 'HEAD') && !hasContent) return CACHE;
  if (method === 'OPTIONS' && !hasContent && isPreflight) {
    if (edgeCors) return PREFLIGHT;
    if (cachePreflight) return CACHE_PREFLIGHT;
  }
  if (method === 'GET' || method === 'HEAD') return PASS_CONTENT;
  return hasContent ? PASS_METHOD_CONTENT : PASS_METHOD;
}

/**
 * The freshness a lookup judges a stored response by. A soft-purged one counts as if it had expired just now: it
 * revalidates, or within stale-while-revalidate it is served stale while it does (RFC 5861 §3,
 * https://www.rfc-editor.org/rfc/rfc5861#section-3). A soft purge is Cloudflare's "mark stale" purge, not an RFC rule.
 */
export function effectiveFreshness(v: Stored, now: number): Freshness {
  if (!v.forcedStale) return v.freshness;
  return { ...v.freshness, lifetime: Math.min(v.freshness.lifetime, preciseAge(v.freshness, now) - 0.001) };
}

/**
 * Decides how a request is answered from what the store found for it at `now` (ms): `stored` is the variant the
 * request selects (or undefined), `hasOtherVariants` whether the URL has variants for other requests.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4
 */
export function lookup<V extends Stored>(stored: V | undefined, hasOtherVariants: boolean, reqHeaders: Headers, now: number, policy: PolicyOptions): LookupOutcome<V> {
  if (stored === undefined) {
    // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7
    if (reqHeaders['cache-control'] !== undefined && parseRequestDirectives(reqHeaders, policy).onlyIfCached) return ONLY_IF_CACHED;
    return hasOtherVariants ? MISS_VARY : MISS_URI;
  }
  const d = evaluateReuse(effectiveFreshness(stored, now), reqHeaders, now, policy);
  if (d.action === 'serve') return { kind: 'hit', variant: stored, age: d.age, ttl: d.ttl };
  if (d.action === 'serve-stale-revalidate') return { kind: 'updating', variant: stored, age: d.age, ttl: d.ttl };
  if (parseRequestDirectives(reqHeaders, policy).onlyIfCached) return ONLY_IF_CACHED;
  // fwd=request when the stored response was fresh and the client's directives asked for validation (RFC 9211 §2.2,
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2).
  const f = stored.freshness;
  const wasFresh = !stored.forcedStale && !f.alwaysRevalidate && preciseAge(f, now) < f.lifetime;
  return { kind: 'revalidate', variant: stored, fwd: wasFresh ? 'request' : 'stale', staleIfError: d.staleIfError };
}

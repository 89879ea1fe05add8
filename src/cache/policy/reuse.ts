// Whether a stored response may answer a request now: serve, serve stale while revalidating, or revalidate
// (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861). What may stand in for a failed origin is in stale-on-error.ts.
import { combineFieldLines, deltaSeconds, parseCacheControl, splitList } from './cache-control.js';
import { preciseAge } from './freshness.js';
import { mayServeOnError } from './stale-on-error.js';
import type { Freshness, Headers, PolicyOptions } from './types.js';

export type ReuseDecision =
  /** Fresh, or stale but allowed by request max-stale (never when noStaleServing). */
  | { action: 'serve'; age: number; ttl: number; stale: boolean }
  /** RFC 5861 stale-while-revalidate window: serve now, refresh in background. */
  | { action: 'serve-stale-revalidate'; age: number; ttl: number }
  /** Ask the origin (conditionally); staleIfError: the stored response may be served if the origin fails. */
  | { action: 'revalidate'; age: number; ttl: number; staleIfError: boolean };

export interface RequestDirectives {
  /** https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.1 */
  maxAge?: number;
  /** https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.3 */
  minFresh?: number;
  /** Infinity when present without a value. https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.2 */
  maxStale?: number;
  /** Request stale-if-error (RFC 5861 §4). https://www.rfc-editor.org/rfc/rfc5861#section-4 */
  staleIfError?: number;
  /** no-cache directive, or Pragma: no-cache without Cache-Control. */
  noCache: boolean;
  noStore: boolean;
  onlyIfCached: boolean;
}

/** A request without Cache-Control or Pragma (the common case): no directives. Frozen, shared. */
const NO_REQUEST_DIRECTIVES: RequestDirectives = Object.freeze({ noCache: false, noStore: false, onlyIfCached: false });

/**
 * Whether this request's revalidation directives are ignored (the zone's ignoreRequestCacheControl). 'anonymous': a
 * request without Authorization or Cookie, whose answer is the same for every visitor (nginx and Varnish never honour
 * them). Only read when the request has Cache-Control or Pragma.
 */
function ignoresRequestCacheControl(reqHeaders: Headers, opts: PolicyOptions): boolean {
  const how = opts.ignoreRequestCacheControl;
  if (how === 'anonymous') return reqHeaders['authorization'] === undefined && reqHeaders['cookie'] === undefined;
  return how;
}

/**
 * Reads the request's cache directives. When `opts.ignoreRequestCacheControl` applies to it the directives that
 * would force a revalidation (no-cache, max-age, min-fresh, Pragma: no-cache) are ignored; no-store, only-if-cached,
 * max-stale and stale-if-error are kept (they cannot make the cache contact the origin).
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1
 */
export function parseRequestDirectives(reqHeaders: Headers, opts: PolicyOptions): RequestDirectives {
  if (reqHeaders['cache-control'] === undefined && reqHeaders['pragma'] === undefined) return NO_REQUEST_DIRECTIVES;
  const cc = parseCacheControl(reqHeaders['cache-control']);
  const out: RequestDirectives = {
    noCache: false,
    noStore: cc.has('no-store'),
    onlyIfCached: cc.has('only-if-cached'),
  };
  if (cc.has('max-stale')) {
    const value = cc.get('max-stale');
    // A present but malformed argument is read as "no value" would be too permissive; ignore the directive.
    if (value === true) out.maxStale = Infinity;
    else if (deltaSeconds(value) !== undefined) out.maxStale = deltaSeconds(value);
  }
  const sie = deltaSeconds(cc.get('stale-if-error'));
  if (sie !== undefined) out.staleIfError = sie;
  if (ignoresRequestCacheControl(reqHeaders, opts)) return out;

  const maxAge = deltaSeconds(cc.get('max-age'));
  if (maxAge !== undefined) out.maxAge = maxAge;
  const minFresh = deltaSeconds(cc.get('min-fresh'));
  if (minFresh !== undefined) out.minFresh = minFresh;
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.4
  out.noCache = cc.has('no-cache');
  // Pragma: no-cache counts only "when the Cache-Control header field is not present in a request"
  // (RFC 7234 §5.4; RFC 9111 §5.4 deprecates Pragma).
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.4
  if (reqHeaders['cache-control'] === undefined) {
    const pragma = combineFieldLines(reqHeaders['pragma']);
    if (pragma !== undefined && splitList(pragma).some((p) => p.toLowerCase() === 'no-cache')) out.noCache = true;
  }
  return out;
}

/**
 * Decides how a stored response answers a request at `now` (ms). `age` is the integer current_age (the Age
 * header), `ttl = lifetime − age` (negative when stale).
 * https://www.rfc-editor.org/rfc/rfc9111#section-4
 */
export function evaluateReuse(f: Freshness, reqHeaders: Headers, now: number, opts: PolicyOptions): ReuseDecision {
  const exactAge = preciseAge(f, now);
  const age = Math.floor(exactAge);
  const ttl = f.lifetime - age;
  const req = parseRequestDirectives(reqHeaders, opts);
  // response_is_fresh = (freshness_lifetime > current_age)  https://www.rfc-editor.org/rfc/rfc9111#section-4.2
  const fresh = f.lifetime > exactAge;
  const revalidate = (): ReuseDecision =>
    ({ action: 'revalidate', age, ttl, staleIfError: mayServeOnError(f, exactAge, fresh, req) });

  // Stored no-cache: "MUST NOT be used to satisfy any other request without forwarding it for validation".
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4
  if (f.alwaysRevalidate) return revalidate();
  // Request no-cache / Pragma: no-cache. https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.4
  if (req.noCache) return revalidate();
  // Request max-age: the client wants age ≤ max-age; max-age=0 always asks for validation.
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.1
  if (req.maxAge !== undefined && (req.maxAge === 0 || exactAge > req.maxAge)) return revalidate();
  // Request min-fresh: still fresh for at least that long. https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.3
  if (req.minFresh !== undefined && f.lifetime - exactAge < req.minFresh) return revalidate();

  if (fresh) return { action: 'serve', age, ttl, stale: false };

  // Stale. must-revalidate / proxy-revalidate / s-maxage forbid serving it without validation, even to a client
  // that accepts stale responses. https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4
  const staleness = exactAge - f.lifetime;
  if (!f.noStaleServing && req.maxStale !== undefined && staleness <= req.maxStale) {
    return { action: 'serve', age, ttl, stale: true };
  }
  // stale-while-revalidate (zero when must-revalidate / proxy-revalidate / no-cache forbid it).
  // https://www.rfc-editor.org/rfc/rfc5861#section-3
  if (f.staleWhileRevalidate > 0 && staleness < f.staleWhileRevalidate) {
    return { action: 'serve-stale-revalidate', age, ttl };
  }
  return revalidate();
}

// Freshness lifetime and age (RFC 9111 §4.2, RFC 5861); HTTP-dates are read by http-date.ts.
import { DELTA_SECONDS_MAX, deltaSeconds, firstFieldLine, splitList } from './cache-control.js';
import { isHttpDate, parseHttpDate } from './http-date.js';
import { selectResponseCacheControl } from './targeted.js';
import type { Directives, Freshness, Headers, LifetimeSource, PolicyOptions } from './types.js';

/**
 * Statuses "defined as heuristically cacheable" (RFC 9110 §15.1).
 * https://www.rfc-editor.org/rfc/rfc9110#section-15.1
 */
export const HEURISTICALLY_CACHEABLE_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/**
 * age_value from the Age field: the first field line and, within it, the first list member, without any
 * `;parameters` (read conservatively as the age they qualify); a value that is not then a non-negative integer is
 * ignored (0). RFC 9111 §5.1 says a cache SHOULD consider such a response stale; we follow the conformance suite's
 * required age-parse-* tests instead, since apparent_age (from Date) still bounds the age.
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.1
 */
export function parseAgeValue(headers: Headers): number {
  const line = firstFieldLine(headers, 'age');
  if (line === undefined) return 0;
  const first = splitList(line)[0]?.split(';')[0]?.trim();
  return deltaSeconds(first) ?? 0;
}

/** The Date field's value, or the time the response was received when it is absent or invalid (RFC 9110 §6.6.1). */
export function dateValue(headers: Headers, responseTime: number): number {
  return parseHttpDate(firstFieldLine(headers, 'date'), responseTime) ?? responseTime;
}

/** True when a Last-Modified or ETag validator is present (RFC 9111 §4.3.1); `now` places rfc850 two-digit years. */
export function hasValidator(headers: Headers, now: number): boolean {
  const etag = firstFieldLine(headers, 'etag');
  if (etag !== undefined && etag.trim() !== '') return true;
  return isHttpDate(firstFieldLine(headers, 'last-modified'), now);
}

export interface FreshnessRequest {
  headers: Headers;
}

export interface FreshnessResponse {
  status: number;
  headers: Headers;
}

function clampSeconds(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.min(Math.floor(seconds), DELTA_SECONDS_MAX);
}

/** True when the operator's defaultTtl may be used for this request (never with Cookie or Authorization). */
export function canUseDefaultTtl(req: FreshnessRequest, opts: PolicyOptions): boolean {
  return opts.defaultTtl !== undefined && opts.defaultTtl > 0 &&
    req.headers['cookie'] === undefined && req.headers['authorization'] === undefined;
}

interface Lifetime {
  lifetime: number;
  source: LifetimeSource;
}

/**
 * freshness_lifetime, first match of: s-maxage (shared cache), max-age, Expires − Date, heuristic.
 * Invalid s-maxage / max-age / Expires make the response stale (lifetime 0).
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1
 */
function computeLifetime(
  req: FreshnessRequest, res: FreshnessResponse, directives: Directives, useExpires: boolean,
  date: number, responseTime: number, opts: PolicyOptions,
): Lifetime {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.10 (s-maxage overrides max-age and Expires)
  if (directives.has('s-maxage')) return { lifetime: deltaSeconds(directives.get('s-maxage')) ?? 0, source: 's-maxage' };
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1 (max-age overrides Expires)
  if (directives.has('max-age')) return { lifetime: deltaSeconds(directives.get('max-age')) ?? 0, source: 'max-age' };
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.3 ("invalid date formats, especially "0"" = already expired;
  // with several lines the first is used, RFC 9111 §4.2.1)
  const expires = useExpires ? firstFieldLine(res.headers, 'expires') : undefined;
  if (expires !== undefined) {
    const at = parseHttpDate(expires, responseTime);
    return { lifetime: at === undefined ? 0 : clampSeconds((at - date) / 1000), source: 'expires' };
  }
  // Heuristics only for heuristically cacheable statuses or responses marked `public`.
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2 and #section-5.2.2.9
  if (!HEURISTICALLY_CACHEABLE_STATUSES.has(res.status) && !directives.has('public')) return { lifetime: 0, source: 'none' };
  if (canUseDefaultTtl(req, opts)) return { lifetime: clampSeconds(opts.defaultTtl ?? 0), source: 'default-ttl' };
  const lastModified = parseHttpDate(firstFieldLine(res.headers, 'last-modified'), responseTime);
  if (lastModified === undefined) return { lifetime: 0, source: 'none' };
  const interval = Math.max(0, (date - lastModified) / 1000);
  const lifetime = Math.min(interval * opts.heuristicFraction, opts.heuristicMaxSeconds);
  return { lifetime: clampSeconds(lifetime), source: 'heuristic' };
}

/**
 * Everything needed later to decide reuse of a stored response, computed once when it is received.
 * `requestTime` / `responseTime` are ms since epoch (request_time / response_time of RFC 9111 §4.2.3).
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2
 */
export function computeFreshness(
  req: FreshnessRequest, res: FreshnessResponse, requestTime: number, responseTime: number, opts: PolicyOptions,
): Freshness {
  const { directives, source } = selectResponseCacheControl(res.headers);
  const date = dateValue(res.headers, responseTime);
  // A targeted field makes this cache ignore Cache-Control and Expires (RFC 9213 §2.2).
  const { lifetime, source: lifetimeSource } =
    computeLifetime(req, res, directives, source === 'cache-control', date, responseTime, opts);

  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3
  const apparentAge = Math.max(0, (responseTime - date) / 1000);
  const responseDelay = Math.max(0, (responseTime - requestTime) / 1000);
  const correctedAgeValue = parseAgeValue(res.headers) + responseDelay;
  const correctedInitialAge = Math.min(Math.max(apparentAge, correctedAgeValue), DELTA_SECONDS_MAX);

  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4 (unqualified no-cache: validate on every use)
  const alwaysRevalidate = directives.get('no-cache') === true;
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2, #section-5.2.2.8, #section-5.2.2.10
  const explicitRevalidate = directives.has('must-revalidate') || directives.has('proxy-revalidate');
  const noStaleServing = explicitRevalidate || directives.has('s-maxage');
  // RFC 5861 windows. must-revalidate / proxy-revalidate / no-cache forbid serving stale outright, so they close
  // the windows; s-maxage's implied proxy-revalidate yields to an explicit stale-* grant in the same field.
  // https://www.rfc-editor.org/rfc/rfc5861#section-3 and #section-4
  const staleAllowed = !explicitRevalidate && !alwaysRevalidate;
  const staleWhileRevalidate = staleAllowed ? deltaSeconds(directives.get('stale-while-revalidate')) ?? 0 : 0;
  const staleIfError = staleAllowed ? deltaSeconds(directives.get('stale-if-error')) ?? 0 : 0;

  return {
    lifetime,
    correctedInitialAge,
    responseTime,
    staleWhileRevalidate,
    staleIfError,
    noStaleServing,
    alwaysRevalidate,
    heuristic: lifetimeSource === 'heuristic' || lifetimeSource === 'default-ttl',
    lifetimeSource,
    directivesSource: source,
  };
}

/**
 * current_age = corrected_initial_age + resident_time, in (fractional) seconds.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3
 */
export function preciseAge(f: Freshness, now: number): number {
  const age = f.correctedInitialAge + (now - f.responseTime) / 1000;
  return Math.min(Math.max(0, age), DELTA_SECONDS_MAX);
}

/**
 * current_age as the integer the Age header carries.
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.1
 */
export function currentAge(f: Freshness, now: number): number {
  return Math.floor(preciseAge(f, now));
}

/**
 * response_is_fresh = (freshness_lifetime > current_age).
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2
 */
export function isFresh(f: Freshness, now: number): boolean {
  return f.lifetime > preciseAge(f, now);
}

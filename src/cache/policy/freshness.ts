// Freshness lifetime, age and HTTP-date parsing (RFC 9111 §4.2, RFC 9110 §5.6.7, RFC 5861).
import { DELTA_SECONDS_MAX, deltaSeconds, firstFieldLine, splitList } from './cache-control.js';
import { selectResponseCacheControl } from './targeted.js';
import type { Directives, Freshness, Headers, LifetimeSource, PolicyOptions } from './types.js';

/**
 * Statuses "defined as heuristically cacheable" (RFC 9110 §15.1).
 * https://www.rfc-editor.org/rfc/rfc9110#section-15.1
 */
export const HEURISTICALLY_CACHEABLE_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
// Matched case-insensitively: "a cache recipient SHOULD match the field value case-insensitively" (RFC 9111 §4.2).
const IMF_FIXDATE = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun), ([0-9]{2}) ${MONTH} ([0-9]{4}) ${TIME} gmt$`, 'i');
const RFC850_DATE = new RegExp(
  `^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), ([0-9]{2})-${MONTH}-([0-9]{2}) ${TIME} gmt$`, 'i');
const ASCTIME_DATE = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} ([0-9]{2}| [0-9]) ${TIME} ([0-9]{4})$`, 'i');

function toEpoch(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (monthIndex < 0 || h > 23 || m > 59 || s > 60) return undefined;
  // 23:59:60 (leap second) is allowed by the grammar; represent it as the nearest earlier time (RFC 9111 §4.2).
  const ms = Date.UTC(year, monthIndex, day, h, m, Math.min(s, 59));
  const check = new Date(ms);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== monthIndex) return undefined; // e.g. 31 Feb
  return ms;
}

/**
 * Parses an HTTP-date (IMF-fixdate, rfc850-date or asctime-date) into ms since epoch; undefined when invalid.
 * Zones other than GMT, missing commas, extra spaces, 1-digit hours, 2-digit years in IMF-fixdate are invalid.
 * `now` (ms) resolves rfc850's 2-digit years: "more than 50 years in the future" means the previous century.
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2
 */
export function parseHttpDate(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) {
    const [, day, month, year, h, min, s] = m as unknown as string[];
    return toEpoch(Number(year), month!, Number(day), Number(h), Number(min), Number(s));
  }
  m = RFC850_DATE.exec(text);
  if (m !== null) {
    const [, day, month, yy, h, min, s] = m as unknown as string[];
    const nowYear = new Date(now).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(yy);
    if (year > nowYear + 50) year -= 100;
    else if (year < nowYear - 49) year += 100;
    return toEpoch(year, month!, Number(day), Number(h), Number(min), Number(s));
  }
  m = ASCTIME_DATE.exec(text);
  if (m !== null) {
    const [, month, day, h, min, s, year] = m as unknown as string[];
    return toEpoch(Number(year), month!, Number(day!.trim()), Number(h), Number(min), Number(s));
  }
  return undefined;
}

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

/** True when a Last-Modified or ETag validator is present (RFC 9111 §4.3.1). */
export function hasValidator(headers: Headers): boolean {
  const etag = firstFieldLine(headers, 'etag');
  if (etag !== undefined && etag.trim() !== '') return true;
  // Validity does not depend on the reference time (it only picks an rfc850 century), so any clock value will do.
  return parseHttpDate(firstFieldLine(headers, 'last-modified'), 0) !== undefined;
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

// Whether a shared cache may store a response (RFC 9111 §3), and which header fields it must leave out (§3.1).
import { connectionTokensBeyondHopByHop, HOP_BY_HOP_FIELDS } from '../../http/fields.js';
import { fieldNameList, parseCacheControl } from './cache-control.js';
import { computeFreshness, hasValidator, HEURISTICALLY_CACHEABLE_STATUSES } from './freshness.js';
import { selectResponseCacheControl } from './targeted.js';
import type { Freshness, Headers, PolicyOptions } from './types.js';
import { isVaryStar } from './vary.js';

/**
 * Final status codes whose semantics (RFC 9110 §15) this cache implements; "understood" in the sense of
 * RFC 9111 §3 / §5.2.2.3 (must-understand). 206 and 304 are understood but never stored here.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3
 */
export const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 206,
  300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426,
  500, 501, 502, 503, 504, 505,
]);

export type NotStorableReason =
  | 'method' | 'request-no-store' | 'status-invalid' | 'status-not-final' | 'not-modified' | 'partial'
  | 'must-understand' | 'no-store' | 'private' | 'authorization' | 'set-cookie' | 'vary-star'
  | 'no-freshness' | 'stale-no-validator' | 'no-cache-no-validator' | 'request-error';

/**
 * Errors that only ever describe the request rather than the resource: 408 Request Timeout, 411 Length Required,
 * 413 Content Too Large, 417 Expectation Failed, 431 Request Header Fields Too Large (RFC 9110 §15.5). They are never
 * stored unless the zone opts in (`storeRequestErrors`): a client that makes the origin refuse its request would
 * otherwise store that refusal for everyone who asks for the URL, a cache-poisoned denial of service (CPDoS). RFC 9111
 * §3 lists when a cache MAY store, never when it must, so declining is always allowed. 414 URI Too Long stays
 * heuristically cacheable (§4.2.2): the URI is keyed and forwarded byte for byte, so a 414 describes the URL as the
 * cache names it, not something one client added.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3 and https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2
 */
export const REQUEST_ERROR_STATUSES: ReadonlySet<number> = new Set([408, 411, 413, 417, 431]);

/**
 * A 400 Bad Request may describe the resource (an API's answer to its URL, cacheable like any other, RFC 9111 §4.2.2)
 * or the one request that provoked it: the CPDoS shape is a request head larger than the origin accepts. So a 400 is
 * not stored (unless the zone opts in) when the request's head exceeds what a typical origin accepts from browsers
 * (4 KiB of fields: browsers send well under 2 KiB without cookies; origins refuse from 1-8 KiB per field).
 */
export const REQUEST_ERROR_HEAD_BYTES = 4096;

/** The bytes of a request's fields as sent (`name: value` CRLF per line); counted only for a 400, never per request. */
function headBytes(headers: Headers): number {
  let n = 0;
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    if (typeof v === 'string') n += name.length + v.length + 4;
    else if (Array.isArray(v)) for (const x of v) n += name.length + x.length + 4;
  }
  return n;
}

export type StoreDecision =
  | { storable: true; freshness: Freshness }
  | { storable: false; reason: NotStorableReason };

export interface StoreRequest {
  method: string;
  headers: Headers;
}

export interface StoreResponse {
  status: number;
  headers: Headers;
}

function notStorable(reason: NotStorableReason): StoreDecision {
  return { storable: false, reason };
}

/**
 * Decides whether this shared cache may store `res`, received for `req` (RFC 9111 §3), and if so its freshness.
 * `requestTime` / `responseTime` are ms since epoch.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3
 */
export function decideStore(
  req: StoreRequest, res: StoreResponse, requestTime: number, responseTime: number, opts: PolicyOptions,
): StoreDecision {
  // "the request method is understood by the cache": only GET is stored here (HEAD responses are never stored).
  // https://www.rfc-editor.org/rfc/rfc9111#section-3
  if (req.method !== 'GET') return notStorable('method');
  // Request no-store: "a cache MUST NOT store any part of either this request or any response to it" (kept even
  // with ignoreRequestCacheControl: it cannot bust the cache, it only prevents storing this answer).
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.5
  if (parseCacheControl(req.headers['cache-control']).has('no-store')) return notStorable('request-no-store');
  // "the response status code is final"; 206 / 304 need special handling that the caller does.
  // https://www.rfc-editor.org/rfc/rfc9111#section-3 and #section-3.3, #section-4.3.4
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 599) return notStorable('status-invalid');
  if (res.status < 200) return notStorable('status-not-final');
  if (res.status === 304) return notStorable('not-modified');
  if (res.status === 206) return notStorable('partial');
  if (opts.storeRequestErrors !== true && (REQUEST_ERROR_STATUSES.has(res.status) || (res.status === 400 && headBytes(req.headers) > REQUEST_ERROR_HEAD_BYTES))) {
    return notStorable('request-error');
  }

  const { directives } = selectResponseCacheControl(res.headers);
  // must-understand: store only if the status is understood, and then ignore no-store.
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.3
  const mustUnderstand = directives.has('must-understand');
  if (mustUnderstand && !UNDERSTOOD_STATUSES.has(res.status)) return notStorable('must-understand');
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5
  if (directives.has('no-store') && !mustUnderstand) return notStorable('no-store');
  // Unqualified private: a shared cache MUST NOT store it (qualified: strip the fields, see fieldsToStrip).
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.7
  if (directives.get('private') === true) return notStorable('private');
  // Authorization: only with a directive that allows shared caching: public, s-maxage, must-revalidate.
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.5
  if (req.headers['authorization'] !== undefined &&
      !directives.has('public') && !directives.has('s-maxage') && !directives.has('must-revalidate')) {
    return notStorable('authorization');
  }
  // Product decision (as Cloudflare): never store a response that sets cookies, although RFC 9111 §7.3 allows it.
  // https://www.rfc-editor.org/rfc/rfc9111#section-7.3
  if (res.headers['set-cookie'] !== undefined) return notStorable('set-cookie');
  // Vary: * always fails to match, so storing it is useless.
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1
  if (isVaryStar(res.headers['vary'])) return notStorable('vary-star');

  const freshness = computeFreshness(req, res, requestTime, responseTime, opts);
  // "the response contains at least one of": public, Expires, max-age, s-maxage, or a heuristically cacheable
  // status code (Expires only counts when Cache-Control governs: a targeted field replaces it, RFC 9213 §2.2).
  // https://www.rfc-editor.org/rfc/rfc9111#section-3
  const explicit = freshness.lifetimeSource === 's-maxage' || freshness.lifetimeSource === 'max-age' ||
    freshness.lifetimeSource === 'expires';
  if (!explicit && !directives.has('public') && !HEURISTICALLY_CACHEABLE_STATUSES.has(res.status)) {
    return notStorable('no-freshness');
  }
  const validator = hasValidator(res.headers, responseTime);
  // no-cache: stored and validated on every use; without a validator every use is a full fetch anyway.
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4
  if (freshness.alwaysRevalidate) {
    return validator ? { storable: true, freshness } : notStorable('no-cache-no-validator');
  }
  // Nothing gives it a lifetime (no explicit freshness, no Last-Modified heuristic, no defaultTtl): "some caches will
  // not store a response that has neither a cache validator nor an explicit expiration time" (RFC 9111 §3).
  if (freshness.lifetimeSource === 'none') return notStorable('no-freshness');
  // Already stale on arrival (max-age=0, past or invalid Expires, Age ≥ lifetime): worth storing only when it can
  // be revalidated or an RFC 5861 window still lets it be served.
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4
  const ageOnArrival = freshness.correctedInitialAge;
  const usableWindow = Math.max(freshness.staleWhileRevalidate, freshness.staleIfError);
  if (freshness.lifetime <= ageOnArrival && !validator && freshness.lifetime + usableWindow <= ageOnArrival) {
    return notStorable('stale-no-validator');
  }
  return { storable: true, freshness };
}

/**
 * Header fields that must not be stored, lowercased:
 * - fields named by qualified private="…" (shared cache) and no-cache="…" (RFC 9111 §5.2.2.7, §5.2.2.4);
 * - Connection and the fields it lists, other hop-by-hop fields and the proxy-specific fields Proxy-Authenticate,
 *   Proxy-Authentication-Info, Proxy-Authorization: HOP_BY_HOP_FIELDS (RFC 9111 §3.1, RFC 9110 §7.6.1).
 * https://www.rfc-editor.org/rfc/rfc9111#section-3.1
 */
export function fieldsToStrip(res: { status?: number; headers: Headers }): readonly string[] {
  const { directives } = selectResponseCacheControl(res.headers);
  const qualified = typeof directives.get('private') === 'string' || typeof directives.get('no-cache') === 'string';
  const listed = connectionTokensBeyondHopByHop(res.headers['connection']);
  // Most responses name no field of their own (at most `Connection: keep-alive`): the hop-by-hop list, made once.
  if (!qualified && (listed === undefined || isSubsetOfHopByHop(listed))) return HOP_BY_HOP_LIST;
  const names = new Set<string>(HOP_BY_HOP_FIELDS);
  for (const name of fieldNameList(directives.get('private'))) names.add(name);
  for (const name of fieldNameList(directives.get('no-cache'))) names.add(name);
  for (const name of listed ?? []) names.add(name);
  return [...names];
}

const HOP_BY_HOP_LIST: readonly string[] = Object.freeze([...HOP_BY_HOP_FIELDS]);

function isSubsetOfHopByHop(names: ReadonlySet<string>): boolean {
  for (const n of names) if (!HOP_BY_HOP_FIELDS.has(n)) return false;
  return true;
}

/** Reasons not to store that come from the request that fetched a response, not from the resource. */
const REQUEST_CAUSED: ReadonlySet<string> = new Set<NotStorableReason>(['method', 'request-no-store', 'authorization', 'request-error']);

/**
 * Whether a response this cache does not store may change what it keeps for others: whether a fresh answer that is
 * not stored removes the stored response it revalidated, and whether a 304 that is not storable makes the stored
 * response stale. Only when the refusal says something about the resource: never when the request's own directives
 * (no-store) or credentials (Authorization, Cookie: the origin may answer that user alone with private, no-store or
 * Set-Cookie) explain it, nor for an error answer (a 5xx or a 4xx other than 404 / 410 describes this exchange, and
 * one client can provoke it). Otherwise one client's `Cache-Control: no-cache, no-store` or `max-age=0` with any
 * Authorization would evict what everybody shares; nginx and Varnish keep it. RFC 9111 never requires the removal
 * (§4.4 invalidates after unsafe methods only): keeping the stored response is the conservative reading of §3.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3 and https://www.rfc-editor.org/rfc/rfc9111#section-4.4
 */
export function refusalConcernsResource(reason: string, status: number, req: StoreRequest): boolean {
  if (REQUEST_CAUSED.has(reason)) return false;
  if (req.headers['authorization'] !== undefined || req.headers['cookie'] !== undefined) return false;
  return status < 400 || status === 404 || status === 410;
}

// Cache status headers: Cloudflare's cf-cache-status values and RFC 9211 Cache-Status, and the one table that maps each
// way a request is answered to both.

/** The values Cloudflare's users know (https://developers.cloudflare.com/cache/concepts/cache-responses/). */
export type CfCacheStatus = 'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'BYPASS' | 'DYNAMIC';

/** RFC 9211 §2.2 fwd reasons. */
export type FwdReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale' | 'partial';

export interface CacheStatusParts {
  hit?: boolean;
  fwd?: FwdReason;
  fwdStatus?: number;
  ttl?: number;
  stored?: boolean;
  collapsed?: boolean;
  detail?: string;
}

const NO_PARTS: CacheStatusParts = Object.freeze({});

/** Serialises one Cache-Status member for this cache (RFC 9211 §2); `over`'s members replace `p`'s (no merged copy). */
export function cacheStatus(p: CacheStatusParts, over: CacheStatusParts = NO_PARTS): string {
  let s = 'edgecache';
  if (over.hit ?? p.hit) s += '; hit';
  const fwd = over.fwd ?? p.fwd;
  if (fwd) s += `; fwd=${fwd}`;
  const fwdStatus = over.fwdStatus ?? p.fwdStatus;
  if (fwdStatus !== undefined) s += `; fwd-status=${fwdStatus}`;
  const ttl = over.ttl ?? p.ttl;
  if (ttl !== undefined) s += `; ttl=${ttl}`;
  if (over.stored ?? p.stored) s += '; stored';
  if (over.collapsed ?? p.collapsed) s += '; collapsed';
  const detail = over.detail ?? p.detail;
  if (detail) s += `; detail=${/^[A-Za-z*][A-Za-z0-9_.*:/%-]*$/.test(detail) ? detail : JSON.stringify(detail)}`;
  return s;
}

const HIT_STATUS = new Map<number, string>();

/** `edgecache; hit; ttl=N` for a plain hit, made once per ttl value (it is written on every cache hit). */
export function hitStatus(ttl: number): string {
  let s = HIT_STATUS.get(ttl);
  if (s === undefined) {
    s = answerStatus('hit', { ttl });
    if (HIT_STATUS.size >= 10_000) HIT_STATUS.clear();
    HIT_STATUS.set(ttl, s);
  }
  return s;
}

/**
 * Each way the edge answers a request, from the lookup outcome and what the origin said:
 * - hit: fresh from the cache; updating: stale within stale-while-revalidate, refreshed in the background;
 * - stale: the stored response stands in for a failed origin (the detail says why);
 * - revalidated: the origin confirmed the stored response (304); tier-hit: another node's copy from the shared tier;
 * - miss / expired: fetched and stored (nothing stored before / a stale one before);
 * - bypass: the origin's answer forbids storing it; dynamic: the request or answer is never cached (pass, or not storable);
 * - only-if-cached: 504, nothing usable stored; origin-error: the origin failed (the detail is its error code);
 * - preflight: a CORS preflight the edge answered itself; edge-error: the edge refused or failed the request itself.
 */
export type AnswerKind =
  | 'hit' | 'updating' | 'stale' | 'revalidated' | 'tier-hit' | 'miss' | 'expired' | 'bypass' | 'dynamic'
  | 'only-if-cached' | 'origin-error' | 'preflight' | 'edge-error';

/** One row: the cf-cache-status value (NONE: counted, not sent) and the Cache-Status members every such answer has. */
export interface AnswerStatus { readonly cf: CfCacheStatus | 'NONE'; readonly parts: Readonly<CacheStatusParts> }

/** The table (https://developers.cloudflare.com/cache/concepts/cache-responses/, https://www.rfc-editor.org/rfc/rfc9211#section-2). */
export const ANSWER_STATUS: { readonly [K in AnswerKind]: AnswerStatus } = Object.freeze({
  hit: { cf: 'HIT', parts: { hit: true } },
  updating: { cf: 'UPDATING', parts: { hit: true, detail: 'stale-while-revalidate' } },
  stale: { cf: 'STALE', parts: { hit: true, fwd: 'stale' } },
  revalidated: { cf: 'REVALIDATED', parts: {} },
  'tier-hit': { cf: 'HIT', parts: { hit: true, detail: 'shared-tier' } },
  miss: { cf: 'MISS', parts: { stored: true } },
  expired: { cf: 'EXPIRED', parts: { stored: true } },
  bypass: { cf: 'BYPASS', parts: {} },
  dynamic: { cf: 'DYNAMIC', parts: {} },
  'only-if-cached': { cf: 'NONE', parts: { fwd: 'miss', detail: 'only-if-cached' } },
  'origin-error': { cf: 'NONE', parts: { fwd: 'miss' } },
  preflight: { cf: 'NONE', parts: { detail: 'cors-preflight' } },
  'edge-error': { cf: 'NONE', parts: {} },
});

/** The Cache-Status value of one answer: its row's members, then this answer's own (fwd, fwd-status, ttl, ...). */
export function answerStatus(kind: AnswerKind, own?: CacheStatusParts): string {
  return cacheStatus(ANSWER_STATUS[kind].parts, own);
}

/** Reasons the origin's answer forbids storing it (BYPASS); any other reason not to store is DYNAMIC. */
const BYPASS_REASONS: ReadonlySet<string> = new Set(['set-cookie', 'no-store', 'private', 'authorization', 'vary-star', 'no-cache']);

/** The row of an answer not stored for `reason`. */
export function notStoredKind(reason: string): 'bypass' | 'dynamic' {
  return BYPASS_REASONS.has(reason) ? 'bypass' : 'dynamic';
}

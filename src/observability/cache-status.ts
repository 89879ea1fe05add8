// Cache status headers: Cloudflare's cf-cache-status values and RFC 9211 Cache-Status.

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

/** Serialises one Cache-Status member for this cache (RFC 9211 §2). */
export function cacheStatus(p: CacheStatusParts): string {
  let s = 'edgecache';
  if (p.hit) s += '; hit';
  if (p.fwd) s += `; fwd=${p.fwd}`;
  if (p.fwdStatus !== undefined) s += `; fwd-status=${p.fwdStatus}`;
  if (p.ttl !== undefined) s += `; ttl=${p.ttl}`;
  if (p.stored) s += '; stored';
  if (p.collapsed) s += '; collapsed';
  if (p.detail) s += `; detail=${/^[A-Za-z*][A-Za-z0-9_.*:/%-]*$/.test(p.detail) ? p.detail : JSON.stringify(p.detail)}`;
  return s;
}

const HIT_STATUS = new Map<number, string>();

/** `edgecache; hit; ttl=N` for a plain hit, made once per ttl value (it is written on every cache hit). */
export function hitStatus(ttl: number): string {
  let s = HIT_STATUS.get(ttl);
  if (s === undefined) {
    s = cacheStatus({ hit: true, ttl });
    if (HIT_STATUS.size >= 10_000) HIT_STATUS.clear();
    HIT_STATUS.set(ttl, s);
  }
  return s;
}

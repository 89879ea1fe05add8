// How the shared tier encodes entries in Redis: variant ids, the metadata JSON, an object's Vary groups, reading an entry back, and how long it is kept.
import { createHash } from 'node:crypto';
import type { Freshness } from '../cache/policy/types.js';
import { preciseAge } from '../cache/policy/freshness.js';
import { RedisTierError } from './redis-tier-error.js';
import type { StoredEntry, VariantInput } from './store.js';

const TTL_MARGIN_S = 5;
const MIN_TTL_S = 10;
/** Longest a variant stays in Redis unless configured (cluster.sharedCache.maxTtl). */
export const DEFAULT_MAX_TTL_S = 24 * 3600;
/** Without maxBytes, a Redis with a maxmemory keeps this share of it for the tier (the rest for purges and the stream). */

/**
 * How long Redis keeps a variant: its remaining freshness lifetime (RFC 9111 §4.2,
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2) plus the window in which it may still be served stale
 * (stale-while-revalidate / stale-if-error both count from the moment it became stale, RFC 5861 §3–4,
 * https://www.rfc-editor.org/rfc/rfc5861#section-3; none under must-revalidate/s-maxage, RFC 9111 §4.2.4
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4), plus a
 * margin; never below MIN_TTL_S, so a just-stale entry is still there for a node to revalidate.
 */
export function tierTtlMs(f: Freshness, now: number, maxTtlSeconds = DEFAULT_MAX_TTL_S): number {
  const remaining = f.lifetime - preciseAge(f, now);
  const staleWindow = f.noStaleServing ? 0 : Math.max(f.staleWhileRevalidate, f.staleIfError);
  const seconds = Math.max(remaining + staleWindow, 0) + TTL_MARGIN_S;
  return Math.round(Math.min(Math.max(seconds, MIN_TTL_S), Math.max(maxTtlSeconds, MIN_TTL_S)) * 1000);
}

/** Clock differences below this are measurement noise (ages are whole seconds): entries are not shifted for them. */
const SHIFT_NOISE_MS = 100;

export interface Meta {
  objectKey: string; status: number; headers: [string, string][]; freshness: Freshness; tags: string[];
  selector: string; keyNames: string[]; storedAt: number;
}

/** The metadata JSON stored beside a variant's body. */
export function encodeMeta(input: VariantInput, now: number): string {
  const meta: Meta = {
    objectKey: input.objectKey, status: input.status, headers: input.headers, freshness: input.freshness, tags: [...input.tags],
    selector: input.selector, keyNames: [...input.keyNames], storedAt: input.storedAt ?? now,
  };
  return JSON.stringify(meta);
}

/** The entry the get script's reply for a variant makes; `now` is this node's clock. */
export function decodeEntry(m: Meta, body: Buffer, stale: Buffer, elapsed: Buffer, storedLocal: Buffer, now: number): StoredEntry {
  // The storing node's times, moved onto this node's clock by how long Redis says the entry has been there:
  // ages do not depend on the storing node's clock.
  let shift = now - Number(elapsed.toString()) - Number(storedLocal.toString());
  if (Math.abs(shift) < SHIFT_NOISE_MS || !Number.isFinite(shift)) shift = 0;
  return {
    status: m.status, headers: m.headers, body, freshness: shift === 0 ? m.freshness : { ...m.freshness, responseTime: m.freshness.responseTime + shift },
    tags: m.tags, selector: m.selector, keyNames: m.keyNames, forcedStale: stale.toString() === '1', storedAt: m.storedAt + shift,
  };
}

/** One Vary group of an object: its key names, when it was last stored into, and its variants (vid → body bytes). */
export interface Group { id: string; keyNames: string[]; t: number; vids: Map<string, number> }

/** The distinct Vary groups of an object's variant list, most recently stored first (a lookup prefers the newest). */
export function groupsOf(fields: Record<string, string>): Group[] {
  const byId = new Map<string, Group>();
  for (const [vid, raw] of Object.entries(fields)) {
    let v: { k?: unknown; t?: unknown; s?: unknown };
    try { v = JSON.parse(raw) as typeof v; } catch { continue; }
    if (!Array.isArray(v.k) || !v.k.every((n) => typeof n === 'string')) continue;
    const id = JSON.stringify(v.k);
    const t = typeof v.t === 'number' ? v.t : 0;
    const size = typeof v.s === 'number' ? v.s : 0;
    const g = byId.get(id);
    if (g) { g.vids.set(vid, size); g.t = Math.max(g.t, t); } else byId.set(id, { id, keyNames: v.k as string[], t, vids: new Map([[vid, size]]) });
  }
  return [...byId.values()].sort((a, b) => b.t - a.t);
}

export function variantId(objectKey: string, keyNames: readonly string[], selector: string): string {
  return createHash('sha256').update(objectKey).update('\u0000\u0000').update(JSON.stringify(keyNames)).update('\u0000\u0000')
    .update(selector).digest('base64url').slice(0, 32);
}

export function parseMeta(buf: Buffer): Meta {
  let m: Partial<Meta>;
  try { m = JSON.parse(buf.toString('utf8')) as Partial<Meta>; } catch { throw new RedisTierError('TIER_CORRUPT', 'unreadable variant metadata'); }
  if (typeof m.status !== 'number' || !Array.isArray(m.headers) || typeof m.freshness !== 'object' || m.freshness === null ||
    !Array.isArray(m.tags) || typeof m.selector !== 'string' || !Array.isArray(m.keyNames) || typeof m.storedAt !== 'number' ||
    typeof m.objectKey !== 'string') {
    throw new RedisTierError('TIER_CORRUPT', 'incomplete variant metadata');
  }
  return m as Meta;
}

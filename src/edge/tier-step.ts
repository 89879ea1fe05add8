// The shared cache tier on the fetch path (cluster.sharedCache): look in Redis before the origin, collapse across nodes, write through.
import type { RedisTier } from '../cluster/redis-tier.js';
import type { CacheStore, StoredVariant, VariantInput } from '../storage/store.js';
import { selectorOf, type HeaderValues } from '../cache/key.js';
import { normalizeVaryValue, preciseAge } from '../cache/policy/index.js';

/** How long a node waits for another node's fetch of the same variant before asking the origin itself. */
const CROSS_NODE_WAIT_MS = 3_000;

export interface TierKey {
  zoneId: string; host: string; path: string; query: string; objectKey: string;
  baseKeyNames: readonly string[];
  clientHeaders: HeaderValues;
}

/**
 * A fresh entry another node stored, now also in the local store; or, when there is none, the cross-node lock this
 * node holds for fetching it (release it when the fetch ends). A tier failure is a miss, never an error.
 */
export async function lookupTier(tier: RedisTier, store: CacheStore, k: TierKey, epoch: number, lockMs: number): Promise<{ variant?: StoredVariant; lockKey?: string }> {
  let entry = await tier.get(k.objectKey, k.clientHeaders);
  let lockKey: string | undefined;
  if (!entry) {
    const key = `${k.objectKey}\u0000${selectorOf(k.baseKeyNames, k.clientHeaders, normalizeVaryValue)}`;
    if (await tier.acquire(key, lockMs)) lockKey = key;
    else entry = await tier.waitFor(k.objectKey, k.clientHeaders, CROSS_NODE_WAIT_MS, key);
  }
  if (!entry || entry.forcedStale) return { lockKey };
  // Only a fresh entry is taken: a stale one is revalidated against the origin by whoever holds it.
  if (preciseAge(entry.freshness, Date.now()) >= entry.freshness.lifetime) return { lockKey };
  const variant = store.insert({
    zoneId: k.zoneId, host: k.host, path: k.path, query: k.query, objectKey: k.objectKey,
    keyNames: entry.keyNames, selector: entry.selector, status: entry.status, headers: entry.headers,
    body: entry.body, freshness: entry.freshness, tags: entry.tags, storedAt: entry.storedAt,
  }, epoch);
  return { variant, lockKey };
}

/** The tier's copy of a locally stored variant. */
export function tierInput(v: StoredVariant): VariantInput {
  return {
    zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: v.keyNames,
    selector: v.selector, status: v.status, headers: v.headers, body: v.body, freshness: v.freshness, tags: v.tags,
    storedAt: v.storedAt,
  };
}

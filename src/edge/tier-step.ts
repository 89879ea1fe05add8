// The shared cache tier on the fetch path (cluster.sharedCache): look in Redis before the origin, collapse across nodes, write through.
import type { RedisTier, TierFence } from '../storage/redis-tier.js';
import type { CacheStore, StoredVariant, VariantInput } from '../storage/store.js';
import type { HeaderValues, RequestKey } from '../cache/key.js';
import { normalizeVaryValue, preciseAge } from '../cache/policy/index.js';
import type { Clock } from './clock.js';

/** How long a node waits for another node's fetch of the same variant before asking the origin itself. */
const CROSS_NODE_WAIT_MS = 3_000;

/**
 * A fresh entry another node stored, now also in the local store; or, when there is none, the cross-node lock this
 * node holds for fetching it (release it when the fetch ends). `fence` is the purge generation the fetch starts under:
 * pass it to the write-through (tier.put), which Redis refuses if a purge since then covers it. A tier failure is a
 * miss, never an error.
 */
export async function lookupTier(tier: RedisTier, store: CacheStore, key: RequestKey, clientHeaders: HeaderValues, epoch: number, lockMs: number, clock: Clock): Promise<{ variant?: StoredVariant; lockKey?: string; fence?: TierFence }> {
  let { entry, fence } = await tier.getWithFence(key.objectKey, clientHeaders);
  let lockKey: string | undefined;
  if (!entry) {
    const fetchKey = key.fetchKey(clientHeaders, normalizeVaryValue);
    if (await tier.acquire(fetchKey, lockMs)) {
      lockKey = fetchKey;
      // Another node may have stored it and let go of the lock between our look and our lock: look once more.
      entry = await tier.get(key.objectKey, clientHeaders);
    } else entry = await tier.waitFor(key.objectKey, clientHeaders, CROSS_NODE_WAIT_MS, fetchKey);
  }
  if (!entry || entry.forcedStale) return { lockKey, fence };
  // Only a fresh entry is taken: a stale one is revalidated against the origin by whoever holds it.
  if (preciseAge(entry.freshness, clock.now()) >= entry.freshness.lifetime) return { lockKey, fence };
  const variant = store.insert({
    zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: key.objectKey, keyNames: entry.keyNames, selector: entry.selector, status: entry.status, headers: entry.headers,
    body: entry.body, freshness: entry.freshness, tags: entry.tags, storedAt: entry.storedAt,
  }, epoch);
  return { variant, lockKey, fence };
}

/** The tier's copy of a locally stored variant; undefined when its body is only on disk (not read just to write it through). */
export function tierInput(v: StoredVariant): VariantInput | undefined {
  if (v.body === undefined) return undefined;
  return {
    zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: v.keyNames, selector: v.selector, status: v.status, headers: v.headers, body: v.body,
    freshness: v.freshness, tags: v.tags, storedAt: v.storedAt,
  };
}

// The shared tier's public shapes: its options, the RedisTier interface the edge uses, its state and refusal reasons.
import type { HeaderValues } from '../cache/key.js';
import type { RedisTarget } from '../cluster/redis-connect.js';
import type { AsyncStore, PurgeTarget, StoredEntry, VariantInput } from './store.js';

/** Why a write was not stored: a newer purge covers it, the tier's byte bound, or Redis out of memory. */
export type TierRefusal = 'fenced' | 'full' | 'oom';

export interface RedisTierOptions {
  /** One Redis server (or use `target`). */
  url?: string;
  /** A Redis Cluster or a Sentinel-named primary (or one server); takes precedence over `url`. */
  target?: RedisTarget;
  /** Zones whose generations clear() moves on (besides those this tier has seen). */
  zones?: string[];
  /**
   * No write is stored once the Redis it goes to (INFO used_memory; per master on a Redis Cluster) would use more than
   * this; default 90% of that Redis's maxmemory when it has one, else none. Purges are never bound by it.
   */
  maxBytes?: number;
  /** Called for each write not stored (the edge counts them in edgecache_shared_tier_write_refusals_total). */
  onRefused?: (reason: TierRefusal) => void;
  /** Key prefix; default 'edgecache:tier:'. */
  prefix?: string;
  /** Normalises a header value for selectors: the same function the local store uses. */
  normalize: (name: string, value: string | string[] | undefined) => string | undefined;
  logger?: { warn(o: object, m: string): void; error?(o: object, m: string): void };
  /** Bound on every operation (a miss / false / 0 after it), plus 1 ms per 32 KiB of body moved; default 200. */
  opTimeoutMs?: number;
  /** Bodies larger than this are not put into Redis; default 8 MiB. */
  maxBodyBytes?: number;
  /** Longest time a variant stays in Redis (a cap on its TTL), in seconds; default 86400. Purge fences are kept longer. */
  maxTtlSeconds?: number;
  /** The node's clock for the times stored in entries (default Date.now): entries read back are shifted into it. */
  clock?: { now(): number };
}

/** The purge generation a fetch started under (from getWithFence or fence()): its put is refused if a purge since covers it. */
export type TierFence = number;

export interface RedisTier extends AsyncStore {
  /** Cross-node collapsing: try to become the one node that fetches `key` (SET NX PX). False when held or on error. */
  acquire(key: string, ttlMs: number): Promise<boolean>;
  /** Releases a lock this tier acquired (never another node's). */
  release(key: string): Promise<void>;
  /**
   * Polls until an entry for (objectKey, headers) appears or `ms` passes; undefined at once on a tier error, and —
   * when `lockKey` is given — as soon as that lock is free again with nothing stored (the fetching node gave up).
   */
  waitFor(objectKey: string, headers: HeaderValues, ms: number, lockKey?: string): Promise<StoredEntry | undefined>;
  /** `get`, plus the fence its fetch (on a miss) must carry to put; fence undefined when the tier failed. */
  getWithFence(objectKey: string, headers: HeaderValues): Promise<{ entry?: StoredEntry; fence?: TierFence }>;
  /** The current purge generation, for a fetch that did not look the tier up (a revalidation). */
  fence(zoneId: string): Promise<TierFence | undefined>;
  /** Stores unless a purge newer than `fence` covers it (then false, counted as refused). Without a fence: unfenced. */
  put(input: VariantInput, fence?: TierFence): Promise<boolean>;
  /** `purge`, but rejects with a RedisTierError when the tier could not apply it (a purge must not be lost silently). */
  purgeStrict(target: PurgeTarget, soft: boolean): Promise<number>;
  state(): TierState;
}

export interface TierState {
  connected: boolean;
  errors: number;
  /** Puts refused because a purge newer than their fetch covers them. */
  fenced: number;
  /** Puts refused because the tier is full: its byte bound (full) or Redis out of memory (oom). */
  full: number;
  oom: number;
  /** The byte bound in force (0: none). */
  maxBytes: number;
}

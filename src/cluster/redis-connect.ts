// How the bus and the tier reach Redis: one server, a Redis Cluster (ioredis Cluster) or a primary named by Sentinel; and the hash tags that keep keys used together in one slot.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { backoff } from './backoff.js';
export { companionKey, hashTagOf, TAGGABLE_KEY } from './hash-tag.js';

/** A connection to one server, or to a whole Redis Cluster: the commands edgecache uses behave the same on both. */
export type RedisConn = Redis | Cluster;

export interface RedisTarget {
  /**
   * redis[s]://[user:password@]host:port: the server; with `isCluster`, one node of the Redis Cluster (the others are
   * discovered); with `sentinels`, only the credentials, database and TLS for the primary (its address comes from Sentinel).
   */
  url?: string;
  isCluster?: boolean;
  /** Sentinels to ask for the primary named `name` (a failover is followed: ioredis reconnects to the new primary). */
  sentinels?: { host: string; port: number }[];
  name?: string;
}

/** The settings a redis[s]:// URL carries besides its address. */
function urlOptions(url: string | undefined): { host?: string; port?: number; options: RedisOptions } {
  if (url === undefined) return { options: {} };
  const u = new URL(url);
  const options: RedisOptions = {};
  if (u.username) options.username = decodeURIComponent(u.username);
  if (u.password) options.password = decodeURIComponent(u.password);
  const db = Number(u.pathname.slice(1));
  if (u.pathname.length > 1 && Number.isInteger(db)) options.db = db;
  if (u.protocol === 'rediss:') options.tls = {};
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379, options };
}

/**
 * Opens a connection. `opts` are per-server options (offline queue, retries, names); the reconnect strategy is always
 * the capped backoff, which never gives up (close() ends it).
 */
export function openRedis(target: RedisTarget, opts: RedisOptions): RedisConn {
  const { host, port, options } = urlOptions(target.url);
  if (target.sentinels && target.sentinels.length > 0) {
    return new Redis({
      ...options, ...opts,
      sentinels: target.sentinels, name: target.name ?? 'mymaster',
      // No failoverDetector: its disconnect can land during a reconnect, which ends the connection for good (ioredis
      // 5 sets status 'end'); a failover is followed when the old primary's connection drops or stalls.
      sentinelRetryStrategy: backoff, retryStrategy: backoff,
    });
  }
  if (target.isCluster) {
    const { enableOfflineQueue, ...perNode } = opts;
    const clusterOpts: ClusterOptions = {
      redisOptions: { ...options, ...perNode },
      enableOfflineQueue,
      clusterRetryStrategy: backoff,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      slotsRefreshTimeout: 2000,
    };
    return new Cluster([{ host: host ?? '127.0.0.1', port: port ?? 6379 }], clusterOpts);
  }
  if (target.url === undefined) throw new TypeError('a Redis target needs a url, or sentinels and a name');
  return new Redis(target.url, { ...opts, retryStrategy: backoff });
}

const ALLOW_OOM = '#!lua flags=allow-oom\n';
/** Connections whose Redis (< 7) does not know script flags: their scripts run without them. */
const noFlags = new WeakSet<object>();

/**
 * Defines `name` as a script Redis runs even when it is out of memory (Redis ≥ 7 `allow-oom`): purges, the stream's
 * identity and reads that drop purged entries must get through a full Redis. `<name>Plain` is the same script without
 * the flag, used on a Redis that does not know flags. The first key routes it on a Redis Cluster.
 */
export function defineAllowOom(conn: RedisConn, name: string, numberOfKeys: number, lua: string): void {
  conn.defineCommand(name, { numberOfKeys, lua: ALLOW_OOM + lua });
  conn.defineCommand(`${name}Plain`, { numberOfKeys, lua });
}

/** Runs a script defined by defineAllowOom (`suffix` 'Buffer' for binary replies). */
export async function runAllowOom(conn: RedisConn, name: string, args: (string | Buffer | number)[], suffix = ''): Promise<unknown> {
  const cmd = conn as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  if (!noFlags.has(conn)) {
    try {
      return await cmd[`${name}${suffix}`]!(...args);
    } catch (err) {
      if (!(err instanceof Error && /compiling script|shebang/i.test(err.message))) throw err;
      noFlags.add(conn);
    }
  }
  return cmd[`${name}Plain${suffix}`]!(...args);
}

/** Redis refused a write because it is out of memory (maxmemory under noeviction, or nothing left to evict). */
export function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /^OOM\b/.test(err.message);
}

/**
 * After a redirection or cluster-down error on a Redis Cluster, asks for the slot map again. ioredis follows MOVED for
 * single commands, but not for a pipeline whose commands failed differently (or mixed with keyless ones like TIME):
 * without this, a slot map gone stale during an outage would fail every such pipeline for good.
 */
export function refreshSlotsAfter(conn: RedisConn, err: unknown): void {
  if (conn instanceof Cluster && err instanceof Error && /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/.test(err.message)) conn.refreshSlotsCache();
}

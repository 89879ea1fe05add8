// What every step of the request path shares: the zones, the store, metrics, logger, clock and limits of one edge.
import type { Logger } from '../observability/logger.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import type { CacheStore } from '../storage/store.js';
import type { RedisTier } from '../storage/redis-tier.js';
import type { ZoneRouter, ZoneRuntime } from './zones.js';
import type { RequestKey } from '../cache/key.js';
import type { Clock } from './clock.js';
import type { FreshnessGate } from '../control/pause-guard.js';
import type { AccessLog } from '../observability/access-log.js';

export interface EdgeContext {
  router: ZoneRouter;
  store: CacheStore;
  metrics: EdgeMetrics;
  logger: Logger;
  maxObjectBytes: number;
  /** The shared cache tier in Redis (cluster.sharedCache), when configured. */
  tier?: RedisTier;
  /** What "now" is for ages and freshness (default: the real clock). */
  clock?: Clock;
  /** The port of the first TLS listener, for zones with redirectHttp (undefined: no TLS listener, or not listening yet). */
  httpsPort?: () => number | undefined;
  /** Cluster: closed after this process was paused, until the purges delivered meanwhile are applied (lookups then miss). */
  gate?: FreshnessGate;
  /** Request records and ids (src/observability/access-log.ts); absent in unit tests that build a handler alone. */
  access?: AccessLog;
  /** Most bytes of compressed copies held beside stored variants (src/edge/compress.ts); default 64 MiB. */
  compressBytes?: number;
  /** `cache.slice`: objects are fetched and stored in slices of this many bytes (src/edge/slice-miss.ts); unset: off. */
  sliceBytes?: number;
}

/** The key of a request routed to one of this edge's zones. */
export type EdgeKey = RequestKey<ZoneRuntime>;

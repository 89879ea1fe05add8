// Prometheus metrics (prom-client): requests by cache status, origin fetches and errors, store size, purges.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { StoreStats } from '../storage/store.js';

export interface EdgeMetrics {
  readonly registry: Registry;
  /**
   * Counts one answered request by its cf-cache-status (NONE for errors and edge answers): a plain tally, read into
   * edgecache_requests_total at scrape time, because prom-client's labelled inc() hashes its labels on every call
   * and this runs on every cache hit.
   */
  countRequest(status: string): void;
  /** The tally countRequest keeps (cf-cache-status → requests), for the dashboard's history. */
  requestCounts(): ReadonlyMap<string, number>;
  readonly originFetches: Counter<'kind'>;
  readonly originErrors: Counter<'code'>;
  readonly purges: Counter<'kind'>;
  readonly purgedVariants: Counter;
  readonly corsDiagnostics: Counter<'kind'>;
  readonly storeErrors: Counter;
}

export function createMetrics(stats: () => StoreStats): EdgeMetrics {
  const registry = new Registry();
  const tally = new Map<string, number>();
  new Counter({
    name: 'edgecache_requests_total', help: 'Requests answered, by cf-cache-status (NONE for errors and edge answers)', labelNames: ['cache_status'], registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of tally) this.inc({ cache_status: status }, n);
    },
  });
  const m: EdgeMetrics = {
    registry,
    countRequest(status) { tally.set(status, (tally.get(status) ?? 0) + 1); },
    requestCounts: () => tally,
    originFetches: new Counter({ name: 'edgecache_origin_fetches_total', help: 'Requests sent to origins, by kind (miss, revalidate, pass)', labelNames: ['kind'], registers: [registry] }),
    originErrors: new Counter({ name: 'edgecache_origin_errors_total', help: 'Origin failures, by code', labelNames: ['code'], registers: [registry] }),
    purges: new Counter({ name: 'edgecache_purges_total', help: 'Purges applied, by kind', labelNames: ['kind'], registers: [registry] }),
    purgedVariants: new Counter({ name: 'edgecache_purged_variants_total', help: 'Variants removed or marked stale by purges', registers: [registry] }),
    corsDiagnostics: new Counter({ name: 'edgecache_cors_misconfigurations_total', help: 'Origin CORS responses that poison shared caches, by kind', labelNames: ['kind'], registers: [registry] }),
    storeErrors: new Counter({ name: 'edgecache_store_errors_total', help: 'Store failures (served as misses)', registers: [registry] }),
  };
  new Counter({
    name: 'edgecache_variant_evictions_total', help: 'Variants evicted because their URL reached its zone\'s cacheKey.maxVariants (a variant flood)', registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().variantEvictions);
    },
  });
  const gauge = (name: string, help: string, read: (s: StoreStats) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(stats())); } });
  };
  // The process's own figures (heap, RSS, GC, event-loop lag), read at scrape time.
  collectDefaultMetrics({ register: registry });
  gauge('edgecache_objects', 'Cached objects (URLs with at least one variant)', (s) => s.objects);
  gauge('edgecache_variants', 'Cached variants', (s) => s.variants);
  gauge('edgecache_store_bytes', 'Bytes of bodies held (a body shared by variants counts once)', (s) => s.bodyBytes);
  gauge('edgecache_store_bodies', 'Distinct bodies held', (s) => s.bodies);
  gauge('edgecache_evictions', 'Variants evicted by the byte bound since start', (s) => s.evictions);
  return m;
}

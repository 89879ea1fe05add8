// One process's figures for the dashboard: cumulative counters and gauges gathered from the metrics, the store, the
// client sockets and the origin watch (read every few seconds; nothing here runs per request).
import type { Counter } from 'prom-client';
import type { Server } from 'node:http';
import type { EdgeMetrics } from './metrics.js';
import type { CacheStore } from '../storage/store.js';
import type { ZoneRouter } from '../edge/zones.js';
import type { Figures } from './history.js';
import { createRecentEvents, type EventGroup, type RecentEvents } from './recent-events.js';
import { watchClientTraffic } from './traffic.js';
import { watchOrigins } from './origin-watch.js';

export interface FigureSource {
  read(): Promise<Figures>;
  events(): EventGroup[];
  /** Counts a purge applied here for its zone (the metrics count purges by kind only). */
  purged(zoneId: string, variants: number): void;
  /** Zones whose origin fails every fetch lately (src/observability/origin-watch.ts). */
  failingZones(): string[];
  close(): void;
}

export interface FigureSourceOptions {
  metrics: EdgeMetrics;
  store: CacheStore;
  router: ZoneRouter;
  /** The edge listener: its sockets are counted, and it reports the requests it refuses. */
  edgeServer: Server;
  events?: RecentEvents;
}

async function addLabelled(out: Record<string, number>, prefix: string, counter: Counter<string>, label?: string): Promise<void> {
  const m = await counter.get();
  for (const v of m.values) {
    const name = label === undefined ? prefix : `${prefix}:${String(v.labels[label] ?? '')}`;
    out[name] = (out[name] ?? 0) + v.value;
  }
}

export function createFigureSource(opts: FigureSourceOptions): FigureSource {
  const events = opts.events ?? createRecentEvents();
  const traffic = watchClientTraffic(opts.edgeServer, events);
  const origins = watchOrigins(opts.router, events);
  const zonePurges = new Map<string, { purges: number; variants: number }>();
  return {
    async read() {
      const { metrics, store } = opts;
      const counters: Record<string, number> = {};
      for (const [status, n] of metrics.requestCounts()) counters[`requests:${status}`] = n;
      counters['bytes_served'] = traffic.bytesServed();
      counters['bytes_received'] = traffic.bytesReceived();
      counters['origin_bytes'] = origins.bytesFetched();
      await addLabelled(counters, 'origin_fetches', metrics.originFetches, 'kind');
      await addLabelled(counters, 'origin_errors', metrics.originErrors, 'code');
      await addLabelled(counters, 'purges', metrics.purges, 'kind');
      await addLabelled(counters, 'purged_variants', metrics.purgedVariants);
      await addLabelled(counters, 'cors', metrics.corsDiagnostics, 'kind');
      await addLabelled(counters, 'store_errors', metrics.storeErrors);
      Object.assign(counters, traffic.refused(), origins.counters());
      for (const z of opts.router.zones) {
        for (const [status, n] of z.tally.requests) counters[`zone:${z.id}:requests:${status}`] = n;
        counters[`zone:${z.id}:cache_bytes`] = z.tally.cacheBytes;
      }
      for (const [id, p] of zonePurges) {
        counters[`zone:${id}:purges`] = p.purges;
        counters[`zone:${id}:purged_variants`] = p.variants;
      }
      const s = store.stats();
      counters['evictions'] = s.evictions;
      const gauges: Record<string, number> = { objects: s.objects, variants: s.variants, store_bytes: s.bodyBytes, bodies: s.bodies };
      for (const [id, z] of Object.entries(store.zoneStats?.() ?? {})) {
        counters[`zone:${id}:evictions`] = z.evictions;
        gauges[`zone:${id}:objects`] = z.objects;
        gauges[`zone:${id}:variants`] = z.variants;
        gauges[`zone:${id}:body_bytes`] = z.bodyBytes;
      }
      return { counters, gauges };
    },
    events: () => events.list(),
    failingZones: () => origins.failingZones(),
    purged(zoneId, variants) {
      const p = zonePurges.get(zoneId) ?? { purges: 0, variants: 0 };
      p.purges++;
      p.variants += variants;
      zonePurges.set(zoneId, p);
    },
    close() {
      traffic.close();
      origins.close();
    },
  };
}

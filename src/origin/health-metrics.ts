// Origin health figures in a registry: edgecache_origin_up{zone,origin} (read from the live origin sets at scrape time)
// and edgecache_origin_state_changes_total{zone,origin,state}. Registered once per registry, so zones compiled again
// (a reload) report through the same metrics.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface OriginStates {
  readonly zoneId: string;
  /** Each origin's URL and whether it is up (always true without health checks). */
  health(): readonly { url: string; up: boolean }[];
}

export interface OriginHealthMetrics {
  /** Adds a zone's origins to edgecache_origin_up; the returned function removes them (on close). */
  track(set: OriginStates): () => void;
  changed(zoneId: string, url: string, up: boolean): void;
}

const byRegistry = new WeakMap<Registry, OriginHealthMetrics>();

export function originHealthMetrics(registry: Registry): OriginHealthMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const live = new Set<OriginStates>();
  new Gauge({
    name: 'edgecache_origin_up', help: '1 when the origin passes its health checks (or has none), 0 when it is down',
    labelNames: ['zone', 'origin'], registers: [registry],
    // With --workers each worker checks on its own: an origin is up when every worker sees it up (never a sum).
    aggregator: 'min',
    collect() {
      this.reset();
      for (const s of live) for (const o of s.health()) this.set({ zone: s.zoneId, origin: o.url }, o.up ? 1 : 0);
    },
  });
  const changes = new Counter({
    name: 'edgecache_origin_state_changes_total', help: 'Origin health state changes, by the state entered (up, down)',
    labelNames: ['zone', 'origin', 'state'], registers: [registry],
  });
  m = {
    track(set) { live.add(set); return () => { live.delete(set); }; },
    changed(zoneId, url, up) { changes.inc({ zone: zoneId, origin: url, state: up ? 'up' : 'down' }); },
  };
  byRegistry.set(registry, m);
  return m;
}

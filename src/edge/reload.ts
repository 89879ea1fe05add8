// A config reload (SIGHUP, `edgecache reload`): what changed between two validated configs, which parts apply live,
// which need a restart, and which zones' cache key rules changed (their cached entries no longer match their keys).
import type { Config, Zone } from '../config/schema.js';
import { compileZoneKeys } from '../cache/zone-keys.js';

/** What a reload applied, dropped and could not apply (logged, and answered by POST /reload). */
export interface ReloadReport {
  /** Zones whose cached entries were dropped (key rules changed, or the zone is gone). */
  droppedZones: string[];
  /** Zones added, changed (origin, CORS, timeouts, ...) and removed. */
  zones: { added: string[]; changed: string[]; removed: string[] };
  /** Settings that changed but apply only after a restart (listen addresses, cache store, cluster, workers, ...). */
  restartRequired: string[];
  /** Certificates loaded, and the ones that could not be (the previous certificate stays). */
  certificates: number;
  problems: { listener: string; cert: string; key: string; message: string }[];
}

export interface ReloadPlan {
  added: Zone[];
  /** Zones of the same id whose settings differ. */
  changed: Zone[];
  unchanged: string[];
  removed: string[];
  /** Zones whose cache key rules differ (hosts, cacheKey, who owns CORS): their entries are dropped. */
  keyChanged: string[];
  restartRequired: string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What makes a zone's cache keys: its hosts, key headers (edge-owned CORS drops Origin), query rule and preflight keying. */
function keyRules(zone: Zone): unknown {
  const k = compileZoneKeys(zone);
  return { hosts: zone.hosts, headers: k.keyHeaders, query: zone.cacheKey.query, preflight: zone.cacheKey.cachePreflight, edgeCors: zone.cors !== undefined };
}

/** Listener settings that cannot change on a running socket (the certificate files can: they are re-read). */
function listenShape(config: Config): unknown {
  return config.listen.map((l) => ({ host: l.host, port: l.port, tls: l.tls !== undefined, h2c: l.h2c, http2: l.http2 }));
}

export function planReload(current: Config, next: Config): ReloadPlan {
  const before = new Map(current.zones.map((z) => [z.id, z]));
  const after = new Set(next.zones.map((z) => z.id));
  const plan: ReloadPlan = { added: [], changed: [], unchanged: [], removed: [], keyChanged: [], restartRequired: [] };
  for (const z of next.zones) {
    const old = before.get(z.id);
    if (!old) { plan.added.push(z); continue; }
    if (same(old, z)) { plan.unchanged.push(z.id); continue; }
    plan.changed.push(z);
    if (!same(keyRules(old), keyRules(z))) plan.keyChanged.push(z.id);
  }
  for (const id of before.keys()) if (!after.has(id)) { plan.removed.push(id); plan.keyChanged.push(id); }
  const restart = (name: string, a: unknown, b: unknown): void => { if (!same(a, b)) plan.restartRequired.push(name); };
  restart('listen', listenShape(current), listenShape(next));
  restart('limits.maxHeaderBytes', current.limits.maxHeaderBytes, next.limits.maxHeaderBytes);
  restart('admin.listen', current.admin.listen, next.admin.listen);
  restart('cache', current.cache, next.cache);
  restart('workers', current.workers, next.workers);
  restart('cluster', current.cluster, next.cluster);
  return plan;
}

/**
 * The config that runs after a reload: `next`, except what needs a restart, which keeps its running value (so the next
 * reload compares with what really runs). Listener certificate files are taken when the listeners are otherwise the same.
 */
export function runningConfig(current: Config, next: Config, plan: ReloadPlan): Config {
  return {
    ...next,
    limits: { ...next.limits, maxHeaderBytes: current.limits.maxHeaderBytes },
    listen: plan.restartRequired.includes('listen') ? current.listen : next.listen,
    admin: { ...next.admin, listen: current.admin.listen },
    cache: current.cache, workers: current.workers, cluster: current.cluster,
  };
}

// Zones ready to serve, built once at start-up on the zone key rules (cache/zone-keys.ts): origin pools, forwarding, CORS.
import type { Config, Zone } from '../config/schema.js';
import { compileZoneKeys, HostRouter, type ZoneKeys } from '../cache/zone-keys.js';
import { OriginSet, type OriginSetHooks } from '../origin/director.js';
import type { PolicyOptions } from '../cache/policy/types.js';
import { DEFAULT_POLICY_OPTIONS } from '../cache/policy/types.js';
import { compileCors, type CompiledCors, type HeaderList } from '../cors/policy.js';
import { NOT_FORWARDED_TO_CLIENTS } from '../cache/policy/targeted.js';
import { compileClientFields } from '../origin/response-fields.js';
import { compilePeers, type PeerMatcher } from '../http/trusted-peers.js';
import { detachedMeter, type ZoneMeter } from '../observability/metrics.js';

/** A zone ready to serve: its key rules plus the origin pool, forwarding settings and CORS. */
/** Counted per answer with one Map update (and one add for answers from the cache): no per-request allocation. */
export interface ZoneTally {
  readonly requests: Map<string, number>;
  cacheBytes: number;
}

export interface ZoneRuntime extends ZoneKeys {
  /** The zone's origins (one or several, health-checked when configured): request(), health(), close(). */
  readonly origin: OriginSet;
  /** Client fields never forwarded: the zone's stripHeaders minus its key headers. */
  readonly strip: ReadonlySet<string>;
  /** Peers whose X-Forwarded-For is appended to (IPs and CIDR ranges). */
  readonly trustedProxies: PeerMatcher;
  /** Forward client fields whose names contain '_' (off by default: CGI-style origins alias them to '-' names). */
  readonly forwardUnderscores: boolean;
  /** This zone's answers by cf-cache-status and the body bytes it served from the cache (the dashboard's per-zone figures). */
  readonly tally: ZoneTally;
  /** This zone's Prometheus figures (made once per zone id: answers are counted with plain increments). */
  readonly meter: ZoneMeter;
  readonly policy: PolicyOptions;
  /** Edge-owned CORS, compiled once; undefined when the origin owns CORS. */
  readonly cors: CompiledCors | undefined;
  /** Edge fields every answer to this request carries (edge-owned CORS headers, Vary: Origin), flat [name, value, ...]. */
  decorate(origin: string | string[] | undefined): readonly string[];
  /**
   * Origin response fields as clients (and the store) get them: no hop-by-hop, edge-only or (edge CORS) origin CORS
   * fields, nor the origin's Vary: Origin when the edge sends its own; the zone's responseHeaders applied.
   */
  clientFields(headers: Record<string, string | string[] | undefined>): [string, string][];
}

const NO_FIELDS: readonly string[] = Object.freeze([]);

/** Flat [name, value, ...] arrays for edge CORS header lists, built once per distinct list. */
function corsDecorator(cors: CompiledCors): (origin: string | string[] | undefined) => readonly string[] {
  const flat = new WeakMap<HeaderList, readonly string[]>();
  const vary = cors.varyOrigin ? ['vary', 'Origin'] : [];
  return (origin) => {
    const list = cors.actualHeaders(typeof origin === 'string' ? origin : undefined);
    let out = flat.get(list);
    if (!out) {
      const a: string[] = [];
      for (const [n, v] of list) a.push(n, v);
      out = Object.freeze([...a, ...vary]);
      flat.set(list, out);
    }
    return out;
  };
}

/**
 * `previous`: the zone of the same id before a config reload, whose dashboard tally carries on; `meter`: its metrics
 * (default: the previous zone's, else figures of its own that nothing exposes); `hooks`: where origin health state
 * changes are logged and counted.
 */
export function compileZone(zone: Zone, previous?: ZoneRuntime, meter?: ZoneMeter, hooks: OriginSetHooks = {}): ZoneRuntime {
  const keys = compileZoneKeys(zone);
  const cors = zone.cors ? compileCors(zone.cors) : undefined;
  const clientFields = compileClientFields({
    drop: ['cache-tag', ...NOT_FORWARDED_TO_CLIENTS], edgeCors: cors !== undefined, edgeVaryOrigin: cors?.varyOrigin === true, rules: zone.responseHeaders,
  });
  return {
    ...keys,
    origin: new OriginSet({
      zoneId: zone.id, origins: zone.origins, timeouts: zone.timeouts, originHost: zone.originHost, tls: zone.tls, healthCheck: zone.healthCheck,
    }, hooks),
    strip: new Set(zone.stripHeaders.filter((h) => !keys.keyHeaders.includes(h))),
    trustedProxies: compilePeers(zone.trustedProxies),
    forwardUnderscores: zone.forwardUnderscoreHeaders,
    tally: previous?.tally ?? { requests: new Map(), cacheBytes: 0 },
    meter: meter ?? previous?.meter ?? detachedMeter(zone.id),
    policy: {
      ...DEFAULT_POLICY_OPTIONS,
      defaultTtl: zone.defaultTtl,
      ignoreRequestCacheControl: zone.ignoreRequestCacheControl,
      storeRequestErrors: zone.storeRequestErrors,
    },
    cors,
    decorate: cors ? corsDecorator(cors) : () => NO_FIELDS,
    clientFields,
  };
}

/** Host → zone (the rules in cache/zone-keys.ts) over runtime zones; close() ends their origin pools. */
export class ZoneRouter extends HostRouter<ZoneRuntime> {
  async close(deadlineMs?: number): Promise<void> { await Promise.all(this.zones.map((z) => z.origin.close(deadlineMs))); }
}

/** `meterFor`: each zone's metrics; `hooks`: where origin health state changes are logged and counted. */
export function compileZones(config: Config, meterFor?: (zoneId: string) => ZoneMeter, hooks: OriginSetHooks = {}): ZoneRouter {
  const zones: ZoneRuntime[] = [];
  try {
    for (const z of config.zones) zones.push(compileZone(z, undefined, meterFor?.(z.id), hooks));
  } catch (err) {
    for (const z of zones) void z.origin.close(0); // health checks of the zones compiled before a bad one stop
    throw err;
  }
  return new ZoneRouter(zones);
}

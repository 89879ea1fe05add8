// Zones resolved once at start-up: Host routing, origin pools, key and forwarding settings as ready-made values.
import type { Config, Zone } from '../config/schema.js';
import { compileQueryNormalizer } from '../cache/key.js';
import { OriginClient } from '../origin/client.js';
import type { PolicyOptions } from '../cache/policy/types.js';
import { DEFAULT_POLICY_OPTIONS } from '../cache/policy/types.js';

export interface ZoneRuntime {
  readonly zone: Zone;
  readonly id: string;
  readonly origin: OriginClient;
  readonly normalizeQuery: (raw: string) => string;
  /** The zone's key headers (lowercase): the first names of every variant selector. */
  readonly keyHeaders: readonly string[];
  /** Client fields never forwarded: the zone's stripHeaders minus its key headers. */
  readonly strip: ReadonlySet<string>;
  readonly trustedProxies: ReadonlySet<string>;
  readonly policy: PolicyOptions;
}

export function compileZone(zone: Zone): ZoneRuntime {
  const keyHeaders = Object.freeze([...zone.cacheKey.headers]);
  return {
    zone,
    id: zone.id,
    origin: new OriginClient({ origin: zone.origin, ...zone.timeouts }),
    normalizeQuery: compileQueryNormalizer(zone.cacheKey.query),
    keyHeaders,
    strip: new Set(zone.stripHeaders.filter((h) => !keyHeaders.includes(h))),
    trustedProxies: new Set(zone.trustedProxies),
    policy: {
      ...DEFAULT_POLICY_OPTIONS,
      defaultTtl: zone.defaultTtl,
      ignoreRequestCacheControl: zone.ignoreRequestCacheControl,
    },
  };
}

/** Host → zone: exact names first, then the longest `*.suffix` wildcard, then `*`. Ports are ignored. */
export class ZoneRouter {
  readonly #exact = new Map<string, ZoneRuntime>();
  readonly #wildcards: { suffix: string; zone: ZoneRuntime }[] = [];
  #any: ZoneRuntime | undefined;
  readonly #byId = new Map<string, ZoneRuntime>();
  readonly #cache = new Map<string, ZoneRuntime | null>();

  constructor(readonly zones: readonly ZoneRuntime[]) {
    for (const z of zones) {
      this.#byId.set(z.id, z);
      for (const h of z.zone.hosts) {
        if (h === '*') this.#any ??= z;
        else if (h.startsWith('*.')) this.#wildcards.push({ suffix: h.slice(1), zone: z });
        else if (!this.#exact.has(h)) this.#exact.set(h, z);
      }
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  byId(id: string): ZoneRuntime | undefined { return this.#byId.get(id); }

  /** `host` is the lowercased Host value (maybe with a port). */
  match(host: string): ZoneRuntime | undefined {
    const cached = this.#cache.get(host);
    if (cached !== undefined) return cached ?? undefined;
    const name = stripPort(host);
    let z = this.#exact.get(name);
    if (!z) for (const w of this.#wildcards) if (name.endsWith(w.suffix) && name.length > w.suffix.length) { z = w.zone; break; }
    z ??= this.#any;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(host, z ?? null);
    return z;
  }

  async close(): Promise<void> { await Promise.all(this.zones.map((z) => z.origin.close())); }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) { const end = host.indexOf(']'); return end === -1 ? host : host.slice(0, end + 1); }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

export function compileZones(config: Config): ZoneRouter {
  return new ZoneRouter(config.zones.map(compileZone));
}

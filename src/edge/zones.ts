// Zones resolved once at start-up: Host routing, origin pools, key and forwarding settings as ready-made values.
import type { Config, Zone } from '../config/schema.js';
import { compileQueryNormalizer, hostName } from '../cache/key.js';
import { OriginClient } from '../origin/client.js';
import type { PolicyOptions } from '../cache/policy/types.js';
import { DEFAULT_POLICY_OPTIONS } from '../cache/policy/types.js';
import { compileCors, type CompiledCors, type HeaderList } from '../cors/policy.js';
import { NOT_FORWARDED_TO_CLIENTS } from '../cache/policy/targeted.js';
import { responseFields } from '../http/headers.js';
import { compilePeers, type PeerMatcher } from '../http/trusted-peers.js';

export interface ZoneRuntime {
  readonly zone: Zone;
  readonly id: string;
  readonly origin: OriginClient;
  readonly normalizeQuery: (raw: string) => string;
  /** The zone's key headers (lowercase): the first names of every variant selector. */
  readonly keyHeaders: readonly string[];
  /** Client fields never forwarded: the zone's stripHeaders minus its key headers. */
  readonly strip: ReadonlySet<string>;
  /** Peers whose X-Forwarded-For is appended to (IPs and CIDR ranges). */
  readonly trustedProxies: PeerMatcher;
  /** Forward client fields whose names contain '_' (off by default: CGI-style origins alias them to '-' names). */
  readonly forwardUnderscores: boolean;
  readonly policy: PolicyOptions;
  /** Edge-owned CORS (issue 5), compiled once; undefined when the origin owns CORS. */
  readonly cors: CompiledCors | undefined;
  /** Edge fields every answer to this request carries (edge-owned CORS headers, Vary: Origin), flat [name, value, ...]. */
  decorate(origin: string | string[] | undefined): readonly string[];
  /** Origin response fields as clients (and the store) get them: no hop-by-hop, edge-only or (edge CORS) origin CORS fields. */
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

export function compileZone(zone: Zone): ZoneRuntime {
  const cors = zone.cors ? compileCors(zone.cors) : undefined;
  // With edge-owned CORS the answer no longer depends on Origin: one variant serves every Origin.
  const keyHeaders = Object.freeze(zone.cacheKey.headers.filter((h) => !(cors && h === 'origin')));
  const dropFields: ReadonlySet<string> = new Set(['cache-tag', ...NOT_FORWARDED_TO_CLIENTS]);
  const dropPrefix = cors ? 'access-control-' : undefined;
  return {
    zone,
    id: zone.id,
    origin: new OriginClient({ origin: zone.origin, ...zone.timeouts }),
    normalizeQuery: compileQueryNormalizer(zone.cacheKey.query),
    keyHeaders,
    strip: new Set(zone.stripHeaders.filter((h) => !keyHeaders.includes(h))),
    trustedProxies: compilePeers(zone.trustedProxies),
    forwardUnderscores: zone.forwardUnderscoreHeaders,
    policy: {
      ...DEFAULT_POLICY_OPTIONS,
      defaultTtl: zone.defaultTtl,
      ignoreRequestCacheControl: zone.ignoreRequestCacheControl,
    },
    cors,
    decorate: cors ? corsDecorator(cors) : () => NO_FIELDS,
    clientFields: (headers) => responseFields(headers, dropFields, dropPrefix),
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
    const name = hostName(host);
    let z = this.#exact.get(name);
    if (!z) for (const w of this.#wildcards) if (name.endsWith(w.suffix) && name.length > w.suffix.length) { z = w.zone; break; }
    z ??= this.#any;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(host, z ?? null);
    return z;
  }

  async close(): Promise<void> { await Promise.all(this.zones.map((z) => z.origin.close())); }
}


export function compileZones(config: Config): ZoneRouter {
  return new ZoneRouter(config.zones.map(compileZone));
}

// Zone key rules, pure and compiled once from config: which zone a Host belongs to, its key headers, its query normalisation.
import type { Config, Zone } from '../config/schema.js';
import { compileQueryNormalizer, hostName } from './key.js';

/** What a cache key needs to know about a zone (the edge runtime, purges and inspect all build on it). */
export interface ZoneKeys {
  readonly zone: Zone;
  readonly id: string;
  readonly normalizeQuery: (raw: string) => string;
  /** The zone's key headers (lowercase): the first names of every variant selector. */
  readonly keyHeaders: readonly string[];
}

export function compileZoneKeys(zone: Zone): ZoneKeys {
  return {
    zone,
    id: zone.id,
    normalizeQuery: compileQueryNormalizer(zone.cacheKey.query),
    // With edge-owned CORS the answer no longer depends on Origin: one variant serves every Origin.
    keyHeaders: Object.freeze(zone.cacheKey.headers.filter((h) => !(zone.cors && h === 'origin'))),
  };
}

/** Finds a zone by its id (purges and inspect name zones by id). */
export interface ZoneLookup<Z extends ZoneKeys = ZoneKeys> {
  byId(id: string): Z | undefined;
}

/** Most distinct Host values remembered by `match` before the memo starts again. */
const MAX_MEMO_HOSTS = 10_000;

/** Host → zone: exact names first, then the longest `*.suffix` wildcard, then `*`. Ports are ignored. */
export class HostRouter<Z extends ZoneKeys = ZoneKeys> implements ZoneLookup<Z> {
  #exact = new Map<string, Z>();
  #wildcards: { suffix: string; zone: Z }[] = [];
  #any: Z | undefined;
  #byId = new Map<string, Z>();
  #memo = new Map<string, Z | null>();
  #zones: readonly Z[];

  constructor(zones: readonly Z[]) {
    this.#zones = zones;
    this.#build(zones);
  }

  get zones(): readonly Z[] { return this.#zones; }

  /** A config reload: routes to `zones` from now on (requests already routed keep the zone they got). */
  replace(zones: readonly Z[]): void {
    this.#exact = new Map();
    this.#wildcards = [];
    this.#any = undefined;
    this.#byId = new Map();
    this.#build(zones);
    this.#zones = zones;
    this.#memo = new Map();
  }

  #build(zones: readonly Z[]): void {
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

  byId(id: string): Z | undefined { return this.#byId.get(id); }

  /** `host` is the lowercased Host value (maybe with a port). */
  match(host: string): Z | undefined {
    const memo = this.#memo.get(host);
    if (memo !== undefined) return memo ?? undefined;
    const name = hostName(host);
    let z = this.#exact.get(name);
    if (!z) for (const w of this.#wildcards) if (name.endsWith(w.suffix) && name.length > w.suffix.length) { z = w.zone; break; }
    z ??= this.#any;
    if (this.#memo.size > MAX_MEMO_HOSTS) this.#memo.clear();
    this.#memo.set(host, z ?? null);
    return z;
  }
}

/** The key rules of every configured zone, without origin pools or CORS (what a purge or an inspection needs). */
export function compileZoneKeyRules(config: Config): HostRouter<ZoneKeys> {
  return new HostRouter(config.zones.map(compileZoneKeys));
}

// Purges normalised once into store targets, then applied: the shared tier strictly before publishing, this node's store on apply.
import type { PurgeRequest } from './request.js';
import type { CacheStore, PurgeTarget } from '../storage/store.js';
import type { ZoneLookup } from '../cache/zone-keys.js';
import { keyedHost } from '../cache/key.js';

/** A purge request made into the store targets it names; plain data, so it can cross a process boundary as is. */
export interface Purge {
  readonly zoneId: string;
  readonly request: PurgeRequest;
  readonly targets: readonly PurgeTarget[];
}

/** The purge side of the shared cache tier (cluster.sharedCache). */
export interface SharedTierPurge {
  /** Best effort: a tier failure counts as nothing purged. */
  purge(target: PurgeTarget, soft: boolean): Promise<number>;
  /** Rejects (with a coded error) when the tier could not apply the purge. */
  purgeStrict(target: PurgeTarget, soft: boolean): Promise<number>;
}

/** The store targets a purge names: the one normalisation, so the API, the cluster bus and tests agree. */
export function purgeTargets(zones: ZoneLookup, zoneId: string, req: PurgeRequest): PurgeTarget[] {
  const zone = zones.byId(zoneId);
  if (!zone) return [];
  switch (req.kind) {
    case 'everything':
      return [{ kind: 'everything', zoneId }];
    case 'files':
      return req.files.map((f) => {
        const base = { zoneId, host: keyedHost(f.host), path: f.path, query: zone.normalizeQuery(f.query) };
        // A URL alone names every variant (all Origins, all Vary values); with headers it names the one
        // variant a request with those headers would be served (the lookup's own selector function).
        if (!f.headers) return { kind: 'object' as const, ...base };
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(f.headers)) headers[k.toLowerCase()] = v;
        return { kind: 'variant' as const, ...base, headers };
      });
    case 'tags':
      return req.tags.map((tag) => ({ kind: 'tag' as const, zoneId, tag: tag.trim().toLowerCase() }));
    case 'hosts':
      return req.hosts.map((host) => ({ kind: 'host' as const, zoneId, host: keyedHost(host) }));
    case 'prefixes':
      return req.prefixes.map((p) => ({ kind: 'prefix' as const, zoneId, host: keyedHost(p.host), pathPrefix: p.pathPrefix }));
  }
}

/**
 * What a purge found where it was applied: how many cached variants it removed or marked stale (on this machine: its
 * one store, or the sum over its workers). Undefined when that is not known: a whole-zone purge marks the zone at once
 * without counting, and a cluster purge may not have come back from the stream within the wait. `cluster`: other
 * nodes apply it too, so the count is this node's only.
 */
export interface PurgeOutcome {
  readonly matched: number | undefined;
  readonly cluster: boolean;
  /** Cluster: the purge's stream entry id, which is its purge id (GET .../purge_cache/{id} reports fleet completion). */
  readonly id?: string;
}

export function preparePurge(zones: ZoneLookup, zoneId: string, request: PurgeRequest): Purge {
  return { zoneId, request, targets: purgeTargets(zones, zoneId, request) };
}

/**
 * Purges the shared tier before the purge is published, so no node refills from the tier what the purge names.
 * Rejects when the tier could not apply it: a purge that cannot reach the tier must not be reported done.
 */
export async function purgeSharedTier(tier: SharedTierPurge, purge: Purge): Promise<void> {
  await Promise.all(purge.targets.map((t) => tier.purgeStrict(t, purge.request.soft)));
}

export interface PurgerOptions {
  zones: ZoneLookup;
  store: CacheStore;
  tier?: SharedTierPurge;
  /** Told after every local apply (metrics, log). */
  onApplied?(purge: Purge, variants: number): void;
}

export interface Purger {
  /** Normalises a purge request once; the result is what beforePublish and apply take. */
  prepare(zoneId: string, request: PurgeRequest): Purge;
  /** The strict shared-tier purge that precedes publishing (nothing to do without a tier). */
  beforePublish(purge: Purge): Promise<void>;
  /** Applies a purge to this node's store; returns how many variants it removed or marked stale. */
  apply(purge: Purge): number;
}

export function createPurger(opts: PurgerOptions): Purger {
  const { zones, store, tier } = opts;
  return {
    prepare: (zoneId, request) => preparePurge(zones, zoneId, request),
    beforePublish: async (purge) => { if (tier) await purgeSharedTier(tier, purge); },
    apply(purge) {
      let n = 0;
      for (const t of purge.targets) n += store.purge(t, purge.request.soft);
      // Not repeated in the shared tier: the strict purge before publishing left fences there, so a write-through of
      // content fetched before the purge is refused by Redis, whenever it lands (src/storage/redis-tier-lua.ts).
      opts.onApplied?.(purge, n);
      return n;
    },
  };
}

// Applies a parsed purge request to the local store: every file variant, one variant, tags, hosts, prefixes, all.
import type { PurgeRequest } from './request.js';
import type { CacheStore, PurgeTarget } from '../storage/store.js';
import type { ZoneRouter } from '../edge/zones.js';
import { keyedHost } from '../cache/key.js';

/** The store targets a purge names. One function, so the API, the cluster bus and tests agree. */
export function purgeTargets(router: ZoneRouter, zoneId: string, req: PurgeRequest): PurgeTarget[] {
  const zone = router.byId(zoneId);
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

/** Applies a purge locally; returns how many variants it removed or marked stale. */
export function applyPurge(store: CacheStore, router: ZoneRouter, zoneId: string, req: PurgeRequest): number {
  let n = 0;
  for (const t of purgeTargets(router, zoneId, req)) n += store.purge(t, req.soft);
  return n;
}

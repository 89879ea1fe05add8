// The shared tier's purges: a purge target as the purge script's arguments (redis-tier-lua.ts), and how long its fences are kept.
import { hostName, pathMember, preflightObjectKey, primaryKey, selectorOf, zoneScoped } from '../cache/key.js';
import type { Arg } from './redis-tier-lua.js';
import { groupsOf, variantId } from './redis-tier-entry.js';
import type { PurgeTarget } from './store.js';

/** Fences outlive the longest variant TTL by this much. */
const FENCE_MARGIN_MS = 10 * 60_000;

/** How long a purge fence is kept: the longest a variant stays in Redis (maxTtlSeconds), and a margin. */
export function fenceKeepMs(maxTtlSeconds: number): number {
  return maxTtlSeconds * 1000 + FENCE_MARGIN_MS;
}

/**
 * The purge script's arguments after the prefix, keep time and soft flag. A variant purge looks the object's Vary groups
 * up (`variantsOf`: its o:<objectKey> hash) to name the variant a lookup with the target's headers selects.
 */
export async function purgeArgs(
  target: PurgeTarget,
  variantsOf: (objectKey: string) => Promise<Record<string, string>>,
  normalize: (name: string, value: string | string[] | undefined) => string | undefined,
): Promise<Arg[]> {
  const { zoneId } = target;
  switch (target.kind) {
    case 'everything': return ['everything', zoneId];
    case 'tag': return ['tag', zoneId, target.tag];
    case 'host': {
      const host = target.host;
      return hostName(host) !== host ? ['host', zoneId, zoneScoped(zoneId, hostName(host)), host] : ['host', zoneId, zoneScoped(zoneId, host), ''];
    }
    case 'prefix': {
      const min = Buffer.from(`[${target.pathPrefix}`);
      return ['prefix', zoneId, target.host, zoneScoped(zoneId, hostName(target.host)), min, Buffer.concat([min, Buffer.from([0xff])]), target.pathPrefix];
    }
    case 'object': {
      const member = pathMember(target.path, target.query);
      return ['objects', zoneId, target.host, zoneScoped(zoneId, hostName(target.host)), member, preflightObjectKey(member)];
    }
    case 'variant': {
      // At most one variant per Vary group: the one a lookup with these headers selects (and its preflight answers).
      const key = primaryKey(zoneId, target.host, target.path, target.query);
      const vids: string[] = [];
      for (const objectKey of [key, preflightObjectKey(key)]) {
        for (const g of groupsOf(await variantsOf(objectKey))) {
          const vid = variantId(objectKey, g.keyNames, selectorOf(g.keyNames, target.headers, normalize));
          if (g.vids.has(vid)) vids.push(vid);
        }
      }
      return ['variant', key, preflightObjectKey(key), ...vids];
    }
  }
}

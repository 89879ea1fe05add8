// edgecache dashboard: reading figures out of history samples (pure functions: sums over sources, rates, ratios).

export const STATUSES = ['HIT', 'MISS', 'EXPIRED', 'STALE', 'UPDATING', 'REVALIDATED', 'BYPASS', 'DYNAMIC', 'NONE'];
/** Answered from the cache (REVALIDATED: the origin said 304, the stored body went out). */
export const FROM_CACHE = ['HIT', 'STALE', 'UPDATING', 'REVALIDATED'];

/** The source ids a view covers: one chosen source, or all of them. */
function chosen(sample, source) {
  return source ? [source] : Object.keys(sample.sources);
}

/** Sum of counter `key` (deltas over the sample's interval) across sources. */
export function count(sample, source, key) {
  let n = 0;
  for (const id of chosen(sample, source)) n += sample.sources[id]?.c[key] ?? 0;
  return n;
}

/** Sum of every counter whose name starts with `prefix`. */
export function countPrefix(sample, source, prefix) {
  let n = 0;
  for (const id of chosen(sample, source)) {
    const c = sample.sources[id]?.c ?? {};
    for (const k in c) if (k.startsWith(prefix)) n += c[k];
  }
  return n;
}

export function gauge(sample, source, key) {
  let n = 0;
  let seen = false;
  for (const id of chosen(sample, source)) {
    const v = sample.sources[id]?.g[key];
    if (v !== undefined) { n += v; seen = true; }
  }
  return seen ? n : null;
}

export const perSecond = (sample, n) => n / (sample.dt / 1000);

/** Names of the counters a view reads: node-wide ones, or a zone's own `zone:<id>:…` ones. */
export function keysFor(zone) {
  if (!zone) return { fetches: ['origin_fetches:', true], errors: ['origin_errors:', true], fetchedBytes: ['origin_bytes', false], purges: ['purges:', true], purgedVariants: ['purged_variants', false] };
  const p = `zone:${zone}:`;
  return { fetches: [`${p}origin_fetches`, false], errors: [`${p}origin_errors`, false], fetchedBytes: [`${p}origin_bytes`, false], purges: [`${p}purges`, false], purgedVariants: [`${p}purged_variants`, false] };
}

/** A request-status counter's name: node-wide, or a zone's own. */
export const requestKey = (zone, st) => (zone ? `zone:${zone}:requests:${st}` : `requests:${st}`);

/**
 * Bytes served in one sample. Node-wide: bytes written to client sockets. For a zone: body bytes answered from its cache
 * plus body bytes fetched from its origins (a zone's share of a socket cannot be told apart).
 */
export function servedBytes(sample, source, zone) {
  if (!zone) return count(sample, source, 'bytes_served');
  return count(sample, source, `zone:${zone}:cache_bytes`) + count(sample, source, `zone:${zone}:origin_bytes`);
}

export function read(sample, source, [key, isPrefix]) {
  return isPrefix ? countPrefix(sample, source, key) : count(sample, source, key);
}

/** Over several samples: totals of requests, cache-served requests, bytes served and fetched. */
export function totals(samples, source, zone) {
  const k = keysFor(zone);
  const out = { requests: 0, fromCache: 0, counted: 0, served: 0, fetched: 0, fetches: 0, errors: 0, purges: 0, purgedVariants: 0, evictions: 0, refused: 0, ms: 0, byStatus: {} };
  for (const s of samples) {
    out.ms += s.dt;
    for (const st of STATUSES) {
      const n = count(s, source, requestKey(zone, st));
      out.byStatus[st] = (out.byStatus[st] ?? 0) + n;
      out.requests += n;
      if (st !== 'NONE') out.counted += n;
      if (FROM_CACHE.includes(st)) out.fromCache += n;
    }
    out.served += servedBytes(s, source, zone);
    out.fetched += read(s, source, k.fetchedBytes);
    out.fetches += read(s, source, k.fetches);
    out.errors += read(s, source, k.errors);
    out.purges += read(s, source, k.purges);
    out.purgedVariants += read(s, source, k.purgedVariants);
    out.evictions += count(s, source, zone ? `zone:${zone}:evictions` : 'evictions');
    out.refused += countPrefix(s, source, 'refused:');
  }
  return out;
}

/** Share of requests with a cache status answered from the cache; null when there were none. */
export const requestHitRatio = (t) => (t.counted > 0 ? t.fromCache / t.counted : null);
/** Share of bytes sent to clients that did not have to come from an origin; null when nothing was sent. */
export const byteHitRatio = (t) => (t.served > 0 ? Math.max(0, Math.min(1, 1 - t.fetched / t.served)) : null);

export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function formatNumber(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1);
}

export const formatPercent = (r) => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)}%`);

// Prometheus metrics (prom-client): answers by zone, cache status and status class, hit/miss/origin latency histograms,
// origin fetches and errors, store size, purges; names in base units, counts as counters (`promtool check metrics` clean).
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { StoreStats } from '../storage/store.js';
import { ANSWER_STATUS, type AnswerKind } from './cache-status.js';
import { TallyHistogram, Timings } from './tally-histogram.js';

/** cf-cache-status values, in a fixed order (a zone's counts are indexed by them). */
const CF_STATUSES: readonly string[] = [...new Set(Object.values(ANSWER_STATUS).map((s) => s.cf))];
const CF_INDEX: ReadonlyMap<string, number> = new Map(CF_STATUSES.map((s, i) => [s, i]));
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Each answer kind's cf-cache-status index, and whether it is timed as a hit (0), a miss (1) or not timed (-1). */
const KIND_CF: { readonly [K in AnswerKind]: number } = Object.fromEntries(Object.entries(ANSWER_STATUS).map(([k, s]) => [k, CF_INDEX.get(s.cf)!])) as { [K in AnswerKind]: number };
const KIND_TIMED: { readonly [K in AnswerKind]: -1 | 0 | 1 } = {
  hit: 0, updating: 0, stale: 0, 'tier-hit': 0, miss: 1, expired: 1, revalidated: 1,
  bypass: -1, dynamic: -1, 'only-if-cached': -1, 'origin-error': -1, preflight: -1, 'edge-error': -1,
};
/** The zone label of answers given before a zone was chosen (refused requests, unknown hosts). */
export const NO_ZONE = '(none)';

/** One zone's figures, made once per zone (at config time): the request path only increments numbers in it. */
export interface ZoneMeter {
  readonly zoneId: string;
  /** Answers: [cf-cache-status index * 5 + status class index]. */
  readonly counts: Float64Array;
  readonly hit: Timings;
  readonly miss: Timings;
  readonly origin: Timings;
}

export interface EdgeMetrics {
  readonly registry: Registry;
  /** The figures of zone `zoneId` (made on first ask, kept across config reloads so counters never go back). */
  zoneMeter(zoneId: string): ZoneMeter;
  /**
   * Counts one answer of a zone by its kind and HTTP status; `startedAt` (performance.now() when the request arrived)
   * times hits and misses. Plain array increments: no label hashing on the hit path.
   */
  countAnswer(meter: ZoneMeter, kind: AnswerKind, status: number, startedAt?: number): void;
  /** Counts an answer given outside a zone's steps (a refusal, a redirect, an internal error) under cf-cache-status NONE. */
  countRequest(status: string, httpStatus?: number, meter?: ZoneMeter): void;
  /** Answers by cf-cache-status over every zone, refusals before any zone left out (the dashboard's history reads it). */
  requestCounts(): ReadonlyMap<string, number>;
  readonly originFetches: Counter<'kind'>;
  /** Counts one origin fetch for the cache (a plain increment; added to originFetches when it is read). */
  countOriginFetch(kind: 'miss' | 'revalidate'): void;
  readonly originErrors: Counter<'code'>;
  readonly purges: Counter<'kind'>;
  readonly purgedVariants: Counter;
  readonly corsDiagnostics: Counter<'kind'>;
  readonly storeErrors: Counter;
}

const statusClass = (status: number): number => {
  const c = ((status / 100) | 0) - 1;
  return c < 0 ? 0 : c > 4 ? 4 : c;
};

/**
 * prom-client's default metrics, minus the three whose names break the naming rules (a gauge named *_total:
 * nodejs_active_{handles,requests,resources}_total; their per-type gauges of the same name without _total stay), and
 * with aggregators that say how `--workers` combines them (a limit is not summed over processes).
 */
function defaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const aggregate: Record<string, 'max' | 'min' | 'first'> = {
    process_max_fds: 'max', process_start_time_seconds: 'min', nodejs_version_info: 'first',
    nodejs_heap_space_size_total_bytes: 'max',
  };
  for (const [name, how] of Object.entries(aggregate)) {
    const m = registry.getSingleMetric(name) as { aggregator?: string } | undefined;
    if (m) m.aggregator = how;
  }
}

export function createMetrics(stats: () => StoreStats): EdgeMetrics {
  const registry = new Registry();
  const meters = new Map<string, ZoneMeter>();
  const zoneMeter = (zoneId: string): ZoneMeter => {
    let m = meters.get(zoneId);
    if (!m) {
      m = { zoneId, counts: new Float64Array(CF_STATUSES.length * 5), hit: hits.timings({ zone: zoneId, cache: 'hit' }), miss: hits.timings({ zone: zoneId, cache: 'miss' }), origin: origins.timings({ zone: zoneId }) };
      meters.set(zoneId, m);
    }
    return m;
  };
  const hits = new TallyHistogram('edgecache_request_duration_seconds',
    'Time from a request\'s arrival to its answer\'s head, for answers from the cache (cache="hit") and fetched from the origin (cache="miss"), by zone');
  const origins = new TallyHistogram('edgecache_origin_duration_seconds', 'Time from sending a request to an origin to its response head, by zone');
  registry.registerMetric(hits.metric());
  registry.registerMetric(origins.metric());
  const none = (): ZoneMeter => zoneMeter(NO_ZONE);
  new Counter({
    name: 'edgecache_requests_total', help: 'Answers, by zone, cf-cache-status (NONE for errors and edge answers) and HTTP status class', labelNames: ['zone', 'cache_status', 'status_class'], registers: [registry],
    collect() {
      this.reset();
      for (const m of meters.values()) {
        for (let i = 0; i < m.counts.length; i++) {
          const n = m.counts[i]!;
          if (n > 0) this.inc({ zone: m.zoneId, cache_status: CF_STATUSES[(i / 5) | 0]!, status_class: STATUS_CLASSES[i % 5]! }, n);
        }
      }
    },
  });
  // Cache fetches since originFetches was last read: every miss counts one, without prom-client's label hashing.
  const fetches = { miss: 0, revalidate: 0 };
  const m: EdgeMetrics = {
    registry,
    zoneMeter,
    countAnswer(meter, kind, status, startedAt) {
      meter.counts[KIND_CF[kind] * 5 + statusClass(status)]!++;
      const timed = KIND_TIMED[kind];
      if (timed >= 0 && startedAt !== undefined) (timed === 0 ? meter.hit : meter.miss).observe((performance.now() - startedAt) / 1000);
    },
    countRequest(status, httpStatus = 500, meter = none()) {
      meter.counts[(CF_INDEX.get(status) ?? CF_INDEX.get('NONE')!) * 5 + statusClass(httpStatus)]!++;
    },
    requestCounts() {
      const out = new Map<string, number>();
      for (const meter of meters.values()) {
        if (meter.zoneId === NO_ZONE) continue; // the dashboard counts refusals on their own (src/observability/traffic.ts)
        for (let i = 0; i < meter.counts.length; i++) {
          const n = meter.counts[i]!;
          if (n > 0) { const cf = CF_STATUSES[(i / 5) | 0]!; out.set(cf, (out.get(cf) ?? 0) + n); }
        }
      }
      return out;
    },
    originFetches: new Counter({
      name: 'edgecache_origin_fetches_total', help: 'Requests sent to origins, by kind (miss, revalidate, pass)', labelNames: ['kind'], registers: [registry],
      collect() {
        if (fetches.miss > 0) this.inc({ kind: 'miss' }, fetches.miss);
        if (fetches.revalidate > 0) this.inc({ kind: 'revalidate' }, fetches.revalidate);
        fetches.miss = 0;
        fetches.revalidate = 0;
      },
    }),
    countOriginFetch(kind) { fetches[kind]++; },
    originErrors: new Counter({ name: 'edgecache_origin_errors_total', help: 'Origin failures, by code', labelNames: ['code'], registers: [registry] }),
    purges: new Counter({ name: 'edgecache_purges_total', help: 'Purges applied, by kind', labelNames: ['kind'], registers: [registry] }),
    purgedVariants: new Counter({ name: 'edgecache_purged_variants_total', help: 'Variants removed or marked stale by purges', registers: [registry] }),
    corsDiagnostics: new Counter({ name: 'edgecache_cors_misconfigurations_total', help: 'Origin CORS responses that poison shared caches, by kind', labelNames: ['kind'], registers: [registry] }),
    storeErrors: new Counter({ name: 'edgecache_store_errors_total', help: 'Store failures (served as misses)', registers: [registry] }),
  };
  const counter = (name: string, help: string, read: (s: StoreStats) => number): void => {
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read(stats())); } });
  };
  const gauge = (name: string, help: string, read: (s: StoreStats) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(stats())); } });
  };
  counter('edgecache_variant_evictions_total', 'Variants evicted because their URL reached its zone\'s cacheKey.maxVariants (a variant flood)', (s) => s.variantEvictions);
  counter('edgecache_evictions_total', 'Variants evicted by the byte bound (cache.maxBytes)', (s) => s.evictions);
  // The process's own figures (heap, RSS, GC, event-loop lag), read at scrape time.
  defaultMetrics(registry);
  gauge('edgecache_objects', 'Cached objects (URLs with at least one variant)', (s) => s.objects);
  gauge('edgecache_variants', 'Cached variants', (s) => s.variants);
  gauge('edgecache_store_bytes', 'Bytes of bodies held (a body shared by variants counts once)', (s) => s.bodyBytes);
  gauge('edgecache_store_bodies', 'Distinct bodies held', (s) => s.bodies);
  return m;
}

/** Figures for a zone built without an edge's metrics (unit tests): counted, never exposed. */
export function detachedMeter(zoneId: string): ZoneMeter {
  return { zoneId, counts: new Float64Array(CF_STATUSES.length * 5), hit: new Timings(), miss: new Timings(), origin: new Timings() };
}

/** A counter read from a running total at scrape time (`read` never goes back while the process lives). */
export function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
}

// Composition root: builds the store, zones, handler, admin API and listeners from a Config; stops them cleanly.
import type { AddressInfo } from 'node:net';
import { createEdgeListener } from './listener.js';
import { createH2Server, type EdgeH2Server } from './h2-listener.js';
import { createPublicListener, directListener, listenOn, type PublicListener } from './listeners.js';
import { createFastConnections } from './fast-listener.js';
import { keyedHost } from '../cache/key.js';
import { Counter } from 'prom-client';
import { planReload, runningConfig, type ReloadReport } from './reload.js';
import { sharedCacheOf, type Config } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics, totalCounter, type EdgeMetrics } from '../observability/metrics.js';
import { createAccessLog } from '../observability/access-log.js';
import { REFUSED_EVENT } from '../observability/traffic.js';
import { MemoryStore } from '../storage/memory.js';
import { applyHeapGrowth } from './heap-growth.js';
import { DiskStore } from '../storage/disk.js';
import type { CacheStore } from '../storage/store.js';
import { compileZone, compileZones, type ZoneRouter, type ZoneRuntime } from './zones.js';
import { originHealthMetrics } from '../origin/health-metrics.js';
import { createHandler } from './handler.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import { inspectVariants } from '../admin/inspect-route.js';
import { createPurger, type Purger } from '../purge/purger.js';
import { sharedTierFor } from '../storage/redis-tier.js';
import { Gauge } from 'prom-client';
import { startControlPlane, type ControlPlane } from '../control/control-plane.js';
import { createFreshnessGate, type FreshnessGate } from '../control/pause-guard.js';
import { normalizeVaryValue } from '../cache/policy/index.js';
import { createFigureSource, type FigureSource } from '../observability/figures.js';
import { localDashboard } from '../admin/dashboard/source.js';
import type { Clock } from './clock.js';

export interface RunningEdge {
  readonly config: Config;
  readonly edge: AddressInfo;
  /** Every public listener (the first is `edge`). */
  readonly listeners: readonly PublicListener[];
  /** The admin listener's address (undefined in a worker: the primary runs the admin API). */
  readonly admin: AddressInfo;
  readonly store: CacheStore;
  readonly metrics: EdgeMetrics;
  readonly router: ZoneRouter;
  readonly logger: Logger;
  /** This process's figures for the dashboard (a primary collects them from its workers). */
  readonly figures: FigureSource;
  /** Closed (lookups answered as misses) while this process cannot vouch for its cache: after a pause, until caught up. */
  readonly gate: FreshnessGate;
  /** Starts listening (when started with holdListen); resolves with the edge address. */
  listen(): Promise<AddressInfo>;
  /** Prepares purges and applies them to this process's store (and repeats them in the shared tier). */
  readonly purger: Purger;
  /**
   * SIGHUP, `edgecache reload`: applies `next` (a validated config; default: the running one, which re-reads the
   * certificate files) without a restart: zones, tokens, CORS, limits, log level, certificates (a bad file keeps the
   * old certificate and is reported). Zones whose key rules changed lose their cached entries; what needs a restart is
   * reported (src/edge/reload.ts). Throws, changing nothing, when a zone cannot be built.
   */
  reload(next?: Config): Promise<ReloadReport>;
  /** Why this node should not get traffic (not listening yet, catching up with the cluster, shutting down); empty: ready. */
  notReady(): string[];
  /** Why this node is degraded (Redis unreachable, every origin failing); empty: healthy. */
  degraded(): string[];
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), closes origin pools (destroyed past `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

export type { ReloadReport } from './reload.js';

export interface StartOptions {
  logger?: Logger;
  /** Run the admin listener and purge control plane here (default true; false in a worker of `--workers N`). */
  admin?: boolean;
  /** Do not listen yet: call listen() (a worker waits until the primary has applied missed purges). */
  holdListen?: boolean;
  /** The dashboard's sampling interval in ms (default 5 s; tests use less). */
  historyIntervalMs?: number;
  /** What "now" is for ages and freshness (default: the real clock); tests advance a ManualClock instead of sleeping. */
  clock?: Clock;
  /** Use this store instead of opening the configured one (closed with the edge). */
  store?: CacheStore;
  /** The admin API's POST /reload (`edgecache reload`): re-reads the config and applies it (absent: no such route). */
  reloadRequest?: () => Promise<unknown>;
}

/** While shutting down, how often connections that became idle are closed. */
const IDLE_SWEEP_MS = 100;

/** How long, after in-flight requests, closing the Redis connections (purge bus, shared tier) may take. */
const CLOSE_REDIS_MS = 1_500;

/** How long the origin pools of zones a reload replaced may finish what they are fetching before they are destroyed. */
const RETIRED_ORIGIN_GRACE_MS = 60_000;

export { listenOn as listen } from './listeners.js';

export async function startEdge(config: Config, opts: StartOptions = {}): Promise<RunningEdge> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  /** The config running now (a reload replaces it); `liveLimits` is the one limits object the listeners read. */
  let current = config;
  const liveLimits = config.limits;
  const retiring = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;
  applyHeapGrowth(config.cache.heapGrowthPercent, config.cache.heapMinHeadroomBytes);
  const store: CacheStore = opts.store ?? (config.cache.store === 'disk'
    ? await DiskStore.open({
      path: config.cache.path!, maxBytes: config.cache.maxBytes, memoryMaxBytes: config.cache.memory?.maxBytes,
      diskMaxBytes: config.cache.disk?.maxBytes, normalize: normalizeVaryValue, logger,
    })
    : new MemoryStore({ maxBytes: config.cache.maxBytes, normalize: normalizeVaryValue }));
  const metrics = createMetrics(() => store.stats());
  // Where origin health state changes are logged and counted (also for zones a reload builds).
  const originHooks = { logger, metrics: originHealthMetrics(metrics.registry) };
  let router: ZoneRouter;
  try {
    router = compileZones(config, metrics.zoneMeter, originHooks);
  } catch (err) {
    await store.close(); // an origin setting that cannot be used (an unreadable tls.ca): a disk store releases its lock
    throw err;
  }
  const refusals = sharedCacheOf(config) && new Counter({
    name: 'edgecache_shared_tier_write_refusals_total', help: 'Shared tier writes not stored: fenced (a newer purge covers them), full (sharedCache.maxBytes), oom (Redis out of memory)',
    labelNames: ['reason'], registers: [metrics.registry],
  });
  const tier = sharedTierFor(config, logger, opts.clock, refusals ? (reason) => refusals.inc({ reason }) : undefined);
  if (tier) {
    totalCounter(metrics.registry, 'edgecache_shared_tier_errors_total', 'Shared tier operations that failed or timed out (served as misses)', () => tier.state().errors);
    // With --workers: connected only when every worker is (the smallest value, not the sum).
    new Gauge({ name: 'edgecache_shared_tier_connected', help: '1 when the shared tier is connected', registers: [metrics.registry], aggregator: 'min', collect() { this.set(tier.state().connected ? 1 : 0); } });
  }
  if (store instanceof DiskStore) {
    const disk = store;
    totalCounter(metrics.registry, 'edgecache_disk_write_errors_total', 'Disk store writes that failed (entries kept in memory only)', () => disk.diskStats().writeErrors);
    totalCounter(metrics.registry, 'edgecache_disk_corrupt_entries_total', 'Torn or corrupt entry files skipped and deleted at start', () => disk.diskStats().corrupt);
  }
  let listeners: PublicListener[] = [];
  const httpsPort = (): number | undefined => listeners.find((l) => l.scheme === 'https')?.address()?.port;
  const gate = createFreshnessGate();
  const access = createAccessLog(config.accessLog, logger);
  const handlerContext = { router, store, metrics, logger, maxObjectBytes: config.cache.maxObjectBytes, tier, clock: opts.clock, httpsPort, gate, access,
    compressBytes: Math.floor(config.cache.maxBytes / 4), sliceBytes: config.cache.slice };
  const handler = createHandler(handlerContext, config.limits);

  // SNI and Host must lead to one zone (RFC 9110 §15.5.20: 421 otherwise), so a certificate name cannot be used to
  // reach another zone's cache or origin over a shared connection.
  const misdirected = (servername: string, authority: string): boolean => router.match(servername.toLowerCase()) !== router.match(keyedHost(authority));
  const edgeServer = createEdgeListener(handler, logger, config.limits, { misdirected, access, onInternalError: () => metrics.countRequest('NONE', 500) });
  const rapidResets = new Counter({ name: 'edgecache_h2_rapid_reset_total', help: 'HTTP/2 sessions closed for resetting streams too fast (CVE-2023-44487)', registers: [metrics.registry] });
  const h2: EdgeH2Server | undefined = config.listen.some((l) => (l.tls && l.http2) || l.h2c)
    ? createH2Server(handler, { logger, limits: config.limits, misdirected, access, onRapidReset: () => rapidResets.inc(), hit: handler.h2 })
    : undefined;
  // With the fast path, plain listeners start every connection there (src/edge/fast-listener.ts). Without it, the first
  // plain listener without h2c is the HTTP/1.1 server itself; the others hand their connections to it.
  const fast = config.fastPath ? createFastConnections(edgeServer, handler.fast, config.limits) : undefined;
  if (fast) {
    totalCounter(metrics.registry, 'edgecache_fast_path_answers_total', 'Requests answered by the fast path (plain HTTP/1.1 hits)', () => fast.stats().answered);
    totalCounter(metrics.registry, 'edgecache_fast_path_handovers_total', 'Connections the fast path handed to node:http', () => fast.stats().handedOver);
  }
  const directAt = fast ? -1 : config.listen.findIndex((l) => !l.tls && !l.h2c);
  const targets = { http: edgeServer, h2: h2?.server, logger, limits: config.limits, fast };
  try {
    listeners = config.listen.map((l, i) => (i === directAt ? directListener(l, targets) : createPublicListener(l, targets)));
  } catch (err) {
    await router.close();
    await store.close();
    await access.close();
    throw err;
  }
  const figures = createFigureSource({ metrics, store, router, edgeServer });
  // Requests the listeners refuse before any zone sees them (malformed, over a limit, misdirected) are answers too.
  const countRefused = (status: number): void => metrics.countRequest('NONE', status);
  edgeServer.on(REFUSED_EVENT, countRefused);
  h2?.server.on(REFUSED_EVENT, countRefused);

  const purger = createPurger({
    zones: router, store, tier,
    onApplied: ({ zoneId, request }, n) => {
      metrics.purges.inc({ kind: request.kind });
      metrics.purgedVariants.inc(n);
      figures.purged(zoneId, n);
      logger.info({ zone: zoneId, kind: request.kind, soft: request.soft, variants: n }, 'purge applied');
    },
  });

  // The control plane first: a node that was down applies the purges it missed before it serves anything.
  let admin: AddressInfo | undefined;
  let adminServer: AdminServer | undefined;
  let control: ControlPlane | undefined;
  let dashboard: ReturnType<typeof localDashboard> | undefined;
  let edge: AddressInfo | undefined;
  const fail = async (err: unknown): Promise<never> => {
    dashboard?.close();
    figures.close();
    edgeServer.close();
    for (const l of listeners) void l.close();
    void h2?.close(0);
    adminServer?.close();
    await control?.close();
    await tier?.close();
    await router.close();
    await store.close(); // a disk store releases its directory lock
    await access.close();
    throw err;
  };
  if (opts.admin !== false) {
    try {
      control = await startControlPlane({
        config, logger,
        prepare: purger.prepare,
        applyLocal: async (purge) => purger.apply(purge),
        clearLocal: async () => { store.clear(); },
        clock: opts.clock,
        gate,
        beforePublish: purger.beforePublish,
      });
      const cp = control;
      dashboard = localDashboard(figures, {
        zones: config.zones, logger, intervalMs: opts.historyIntervalMs,
        state: () => ({ store: config.cache.store, ...cp.health(), ...(tier ? { sharedTier: tier.state() } : {}) }),
      });
      adminServer = createAdminServer({
        tokens: config.admin.tokens, hosts: config.admin.hosts, zoneIds: router.zones.map((z) => z.id), logger, maxItems: config.purge.maxItems,
        applyPurge: (zoneId, req) => cp.applyPurge(zoneId, req),
        purgeStatus: (zoneId, id) => cp.purgeStatus(zoneId, id),
        metrics: async () => ({ contentType: metrics.registry.contentType, text: `${await metrics.registry.metrics()}\n${await cp.registry.metrics()}` }),
        health: () => { const s = store.stats(); return { objects: s.objects, variants: s.variants, failingOrigins: figures.failingZones(), ...cp.health(), ...(tier ? { sharedTier: tier.state() } : {}) }; },
        degraded: () => degraded(),
        notReady: () => notReady(),
        reload: opts.reloadRequest,
        inspect: (zoneId, url, headers) => inspectVariants(store, router, zoneId, url, headers),
        dashboard,
      });
    } catch (err) {
      await fail(err);
    }
  }
  const startListening = async (): Promise<AddressInfo> => {
    try {
      if (edge === undefined) {
        for (const l of listeners) if (!l.address()) await l.listen();
        // node:http starts tracking its connections (timeouts, closeIdleConnections) on its listening event: when every listener
        // hands connections over, it is told here.
        if (directAt === -1) edgeServer.emit('listening');
        edge = listeners[0]!.address();
      }
      if (adminServer && !admin) admin = await listenOn(adminServer, config.admin.listen.host, config.admin.listen.port);
      return edge!;
    } catch (err) {
      return fail(err);
    }
  };
  if (!opts.holdListen) await startListening();

  function notReady(): string[] {
    const reasons: string[] = [];
    if (closing) reasons.push('shutting down');
    if (edge === undefined) reasons.push('not listening yet');
    if (gate.isSuspect) reasons.push('catching up with the cluster purge stream after a pause');
    return reasons;
  }
  function degraded(): string[] {
    const reasons: string[] = [];
    const cluster = control?.health().cluster as { connected?: boolean } | 'off' | undefined;
    if (typeof cluster === 'object' && cluster.connected === false) reasons.push('cluster: Redis unreachable (purges are not received; see README, Cluster)');
    if (tier && !tier.state().connected) reasons.push('shared tier: Redis unreachable (served as misses from here)');
    const failing = figures.failingZones();
    if (failing.length > 0 && failing.length === router.zones.length) reasons.push(`origins: every origin is failing (zones ${failing.join(', ')})`);
    return reasons;
  }

  return {
    get config() { return current; },
    store, metrics, router, logger, figures, purger, listeners, gate, listen: startListening,
    get edge() { return edge!; },
    async reload(next = current) {
      access.reopen(); // a rotated access log file (logrotate's postrotate sends SIGHUP)
      const plan = planReload(current, next);
      // Build every new or changed zone first: one that cannot be built refuses the reload, and nothing has changed.
      const before = new Map(router.zones.map((z) => [z.id, z]));
      const unchanged = new Set(plan.unchanged);
      const built: ZoneRuntime[] = [];
      let zones: ZoneRuntime[];
      try {
        zones = next.zones.map((z) => {
          if (unchanged.has(z.id)) return before.get(z.id)!;
          const rt = compileZone(z, before.get(z.id), metrics.zoneMeter(z.id), originHooks);
          built.push(rt);
          return rt;
        });
      } catch (err) {
        await Promise.all(built.map((z) => z.origin.close(0)));
        throw err;
      }
      router.replace(zones);
      // Requests already routed keep their zone and its origin pool until they finish (bounded), then it is closed.
      const retired = [...before.values()].filter((z) => !zones.includes(z));
      for (const z of retired) {
        const p = z.origin.close(RETIRED_ORIGIN_GRACE_MS).finally(() => retiring.delete(p));
        retiring.add(p);
      }
      const droppedZones: string[] = [];
      for (const id of plan.keyChanged) {
        const n = await store.purge({ kind: 'everything', zoneId: id }, false);
        droppedZones.push(id);
        logger.info({ zone: id, variants: n }, 'cache key rules changed: this zone\'s cached entries dropped');
      }
      // Limits: the listeners read this object; node:http's timeouts are set on the server. The head size bound is
      // fixed in node's parser when the server is made: it needs a restart.
      Object.assign(liveLimits, { ...next.limits, maxHeaderBytes: liveLimits.maxHeaderBytes });
      edgeServer.headersTimeout = liveLimits.headersTimeoutMs;
      edgeServer.requestTimeout = liveLimits.requestTimeoutMs;
      edgeServer.keepAliveTimeout = liveLimits.keepAliveTimeoutMs;
      logger.level = next.logLevel;
      adminServer?.configure({ tokens: next.admin.tokens, hosts: next.admin.hosts, zoneIds: next.zones.map((z) => z.id), maxItems: next.purge.maxItems });
      dashboard?.setZones(next.zones);
      const isSameListeners = !plan.restartRequired.includes('listen');
      const problems: ReloadReport['problems'] = [];
      let certificates = 0;
      listeners.forEach((l, i) => {
        const r = l.reloadCertificates(isSameListeners ? next.listen[i]?.tls?.certificates : undefined);
        if (!r) return;
        const at = `${l.config.host}:${l.config.port}`;
        certificates += r.loaded;
        for (const p of r.problems) {
          problems.push({ listener: at, cert: p.files.cert, key: p.files.key, message: p.message });
          logger.error({ listener: at, cert: p.files.cert, key: p.files.key, problem: p.message }, 'certificate not reloaded: the previous one stays in use');
        }
      });
      current = { ...runningConfig(current, next, plan), limits: liveLimits };
      if (plan.restartRequired.length > 0) logger.warn({ settings: plan.restartRequired }, 'these changed settings apply only after a restart; the running values stay');
      const report: ReloadReport = {
        droppedZones,
        zones: { added: plan.added.map((z) => z.id), changed: plan.changed.map((z) => z.id), removed: plan.removed },
        restartRequired: plan.restartRequired, certificates, problems,
      };
      logger.info({ zones: report.zones, droppedZones, restartRequired: plan.restartRequired, certificates, problems: problems.length }, 'reloaded');
      return report;
    },
    notReady,
    degraded,
    get admin() { return admin!; },
    close(graceMs = 10_000) {
      closing ??= (async () => {
        // The admin listener stays up while the edge drains: /readyz answers 503 "shutting down", /metrics is read.
        const stopped = Promise.all([
          new Promise<void>((r) => edgeServer.close(() => r())),
          ...listeners.map((l) => l.close()),
          h2?.close(graceMs),
        ]);
        // A kept-alive connection is closed as soon as it is idle: at once, and again as in-flight answers finish (node
        // would otherwise keep it open for keepAliveTimeoutMs after its last answer, holding the exit).
        const closeIdle = (): void => { edgeServer.closeIdleConnections(); };
        closeIdle();
        const idle = setInterval(closeIdle, IDLE_SWEEP_MS);
        const deadline = Date.now() + graceMs;
        const timer = setTimeout(() => { edgeServer.closeAllConnections(); }, graceMs);
        await stopped;
        clearTimeout(timer);
        clearInterval(idle);
        if (adminServer) {
          const admin = adminServer;
          await new Promise<void>((r) => { admin.close(() => r()); admin.closeAllConnections(); });
        }
        dashboard?.close();
        figures.close();
        // Origin fetches nobody waits for any more (a fill, a background revalidation) may finish within the grace
        // period; then the pools are destroyed, so an endless or stalled origin cannot hold shutdown.
        const origins = router.close(Math.max(0, deadline - Date.now()));
        // The cluster bus and the shared tier leave Redis side by side, each bounded (a stalled Redis cannot hold
        // the exit: past CLOSE_REDIS_MS they are dropped with the process).
        const redis = Promise.all([control?.close(), tier?.close()]);
        const late = await Promise.race([redis.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), CLOSE_REDIS_MS).unref())]);
        if (late) logger.warn({ ms: CLOSE_REDIS_MS }, 'shutdown: Redis connections did not close in time; dropped');
        await Promise.all([origins, ...retiring]);
        await store.close();
        await access.close();
      })();
      return closing;
    },
  };
}

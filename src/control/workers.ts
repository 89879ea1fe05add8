// `--workers N`: a primary process runs the admin API and purge control plane; N workers share the edge port (node:cluster).
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { createLogger } from '../observability/logger.js';
import { createAdminServer } from '../admin/server.js';
import type { InspectResult } from '../admin/inspect-route.js';
import { inspectVariants } from '../admin/inspect-route.js';
import { compileZoneKeyRules, compileZoneKeys } from '../cache/zone-keys.js';
import { planReload, runningConfig, type ReloadReport } from '../edge/reload.js';
import { sharedTierFor } from '../storage/redis-tier.js';
import { preparePurge, purgeSharedTier, type Purge } from '../purge/purger.js';
import { startControlPlane } from './control-plane.js';
import { combinedGate, PAUSE_CATCH_UP_MS, PAUSE_SUSPECT_MS, startPauseGuard, type FreshnessGate } from './pause-guard.js';
import { listen, startEdge } from '../edge/server.js';
import { workersDashboard, type WorkerFigures } from '../admin/dashboard/source.js';

export const WORKER_CONFIG_ENV = 'EDGECACHE_WORKER_CONFIG';
/** A worker's stable slot (0..N-1): a restarted worker takes its predecessor's slot and disk directory. */
export const WORKER_INDEX_ENV = 'EDGECACHE_WORKER_INDEX';
/** Set for a worker started in place of one that died: purges broadcast meanwhile never reached its disk cache. */
const WORKER_CLEAR_ENV = 'EDGECACHE_WORKER_CLEAR';

type ToWorker =
  | { type: 'purge'; id: number; purge: Purge }
  | { type: 'clear'; id: number }
  | { type: 'inspect'; id: number; zoneId: string; url: string; headers: Record<string, string> }
  | { type: 'figures'; id: number }
  /** The zones whose origins this worker sees failing (src/observability/origin-watch.ts). */
  | { type: 'failing'; id: number }
  | { type: 'listen' }
  | { type: 'reload'; id: number; config: Config }
  | { type: 'shutdown'; graceMs: number }
  /** The primary's own pause gate (its bus read may have stalled): closed, the worker answers lookups as misses. */
  | { type: 'gate'; suspect: boolean }
  /** The answer to a worker's catch-up: sent after every purge the primary had to apply, so those arrived first. */
  | { type: 'caught-up'; ask: number; ok: boolean };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type WorkerRequest = DistributiveOmit<Extract<ToWorker, { id: number }>, 'id'>;
type FromWorker =
  | { type: 'loaded' }
  | { type: 'ready'; edge: AddressInfo }
  | { type: 'reply'; id: number; result?: unknown; error?: string }
  /** A worker back from a pause: answer once every purge Redis has is applied (and sent to the workers). */
  | { type: 'catch-up'; ask: number };

export interface RunningPrimary {
  edge: AddressInfo; admin: AddressInfo; workers(): number;
  /** SIGHUP, POST /reload: applies `next` here (tokens, purge key rules) and in each worker (src/edge/server.ts reload). */
  reload(next: Config): Promise<ReloadReport>;
  /** Workers finish in-flight requests (at most `graceMs`), then the admin API and control plane stop. */
  close(graceMs?: number): Promise<void>;
}

/** Resolves `workers: "auto"` to the number of cores. */
export function workerCount(config: Config, cores: number): number {
  return config.workers === 'auto' ? Math.max(1, cores) : config.workers;
}

/** How often the primary asks the workers which zones' origins are failing (/healthz). */
const FAILING_POLL_MS = 2000;

/** A worker's config: its own disk cache directory (and lock) per worker slot. */
function workerConfig(config: Config, slot: string): Config {
  return config.cache.store === 'disk' && config.cache.path ? { ...config, cache: { ...config.cache, path: join(config.cache.path, `worker-${slot}`) } } : config;
}

export async function runPrimary(initial: Config, n: number, logger: Logger = createLogger(initial.logLevel),
  opts: { historyIntervalMs?: number; reloadRequest?: () => Promise<unknown> } = {}): Promise<RunningPrimary> {
  /** The running config (a reload replaces it; workers started later get it). */
  let config = initial;
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, { left: Set<Worker>; results: unknown[]; resolve(r: unknown[]): void; reject(e: Error): void }>();
  const live = new Set<Worker>();
  let edgeAddress: AddressInfo | undefined;

  // The primary's pause gate, mirrored in every worker: a paused primary has not sent the purges its bus delivered.
  let isPrimarySuspect = false;
  const gate: FreshnessGate = {
    get isSuspect() { return isPrimarySuspect; },
    set isSuspect(v: boolean) {
      if (v === isPrimarySuspect) return;
      isPrimarySuspect = v;
      for (const w of live) w.send({ type: 'gate', suspect: v } satisfies ToWorker);
    },
  };
  let catchUp = async (): Promise<boolean> => true; // the control plane's, once it runs (workers do not serve before)

  const aggregator = new AggregatorRegistry();
  const readyWaiters = new Map<Worker, () => void>();
  /** Starts a worker; resolves once its store is loaded (it then receives purges) but before it listens. */
  const fork = (slot: number, replacing = false): Promise<Worker> => new Promise((resolve, reject) => {
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config), [WORKER_INDEX_ENV]: String(slot), ...(replacing ? { [WORKER_CLEAR_ENV]: '1' } : {}) });
    const onExit = (code: number | null): void => reject(new Error(`worker exited before it was ready (code ${code})`));
    w.once('exit', onExit);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'loaded') {
        w.off('exit', onExit);
        live.add(w);
        if (isPrimarySuspect) w.send({ type: 'gate', suspect: true } satisfies ToWorker);
        resolve(w);
        return;
      }
      if (m.type === 'catch-up') {
        const answer = (ok: boolean): void => { if (w.isConnected()) w.send({ type: 'caught-up', ask: m.ask, ok } satisfies ToWorker); };
        catchUp().then(answer, () => answer(false));
        return;
      }
      if (m.type === 'ready') { edgeAddress ??= m.edge; readyWaiters.get(w)?.(); readyWaiters.delete(w); return; }
      if (m.type === 'reply') {
        const p = pending.get(m.id);
        if (!p) return;
        if (m.error) { pending.delete(m.id); p.reject(new Error(m.error)); return; }
        p.results.push(m.result);
        p.left.delete(w);
        if (p.left.size === 0) { pending.delete(m.id); p.resolve(p.results); }
      }
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      for (const [id, p] of pending) if (p.left.delete(w) && p.left.size === 0) { pending.delete(id); p.resolve(p.results); }
      if (!stopping) {
        logger.error({ pid: w.process.pid, code, signal }, 'worker died; starting another (its cache starts empty)');
        fork(slot, true).then(startListening).catch((err) => logger.error({ err: String(err) }, 'cannot restart worker'));
      }
    });
  });

  /** Sends a request to every live worker and waits for all of their replies (at most `ms`). */
  const broadcast = (msg: WorkerRequest, ms = 5000): Promise<unknown[]> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const targets = new Set(live);
      if (targets.size === 0) { resolve([]); return; }
      const timer = setTimeout(() => { pending.delete(id); reject(new Error(`workers did not answer within ${ms} ms`)); }, ms);
      pending.set(id, { left: targets, results: [], resolve: (r) => { clearTimeout(timer); resolve(r); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      for (const w of targets) w.send({ ...msg, id } as ToWorker);
    });
  };

  /** Lets a loaded worker serve; resolves when it listens. */
  const startListening = (w: Worker): Promise<void> => new Promise((resolve) => {
    readyWaiters.set(w, resolve);
    w.send({ type: 'listen' } satisfies ToWorker);
  });

  cluster.setupPrimary({ silent: false });
  const workers = await Promise.all(Array.from({ length: n }, (_, slot) => fork(slot)));

  // The primary normalises each purge once (the zone key rules need no origin pools) and sends the workers its targets.
  const zones = compileZoneKeyRules(config);
  let listening = false;
  const tier = sharedTierFor(config, logger);
  let control: Awaited<ReturnType<typeof startControlPlane>>;
  try {
    control = await startControlPlane({
      config, logger,
      prepare: (zoneId, req) => preparePurge(zones, zoneId, req),
      applyLocal: async (purge) => (await broadcast({ type: 'purge', purge })).reduce<number>((sum, n) => sum + (typeof n === 'number' ? n : 0), 0),
      beforePublish: tier ? (purge) => purgeSharedTier(tier, purge) : undefined,
      clearLocal: async () => { await broadcast({ type: 'clear' }); },
      gate,
    });
    catchUp = control.catchUp;
  } catch (err) {
    await tier?.close();
    throw err;
  }
  // Purges missed while down were applied by startControlPlane (to every loaded worker): now the workers may serve.
  await Promise.all(workers.map(startListening));
  listening = true;
  // The dashboard: every sample asks each worker for its figures (each worker is one source; totals are their sum).
  const dashboard = workersDashboard(async () => (await broadcast({ type: 'figures' }, 3000)) as WorkerFigures[], {
    zones: config.zones, logger, intervalMs: opts.historyIntervalMs, state: () => ({ store: config.cache.store, ...control.health() }),
  });
  // /healthz's "every origin is failing": each worker sees its own fetches, so the primary asks them every 2 s; a zone
  // counts as failing when a worker sees it failing.
  let failingZones = new Set<string>();
  const pollFailing = setInterval(() => {
    broadcast({ type: 'failing' }, 1500).then((replies) => { failingZones = new Set((replies as string[][]).flat()); }, () => { /* a worker gone: next time */ });
  }, FAILING_POLL_MS);
  pollFailing.unref();
  const adminServer = createAdminServer({
    tokens: config.admin.tokens, hosts: config.admin.hosts, zoneIds: config.zones.map((z) => z.id), logger, maxItems: config.purge.maxItems,
    applyPurge: (zoneId, req) => control.applyPurge(zoneId, req),
    purgeStatus: (zoneId, id) => control.purgeStatus(zoneId, id),
    metrics: async () => ({ contentType: aggregator.contentType, text: `${await aggregator.clusterMetrics()}\n${await control.registry.metrics()}` }),
    health: () => ({ workers: live.size, ...control.health() }),
    degraded: () => {
      const cluster = control.health().cluster as { connected?: boolean } | 'off' | undefined;
      const reasons = typeof cluster === 'object' && cluster.connected === false ? ['cluster: Redis unreachable (purges are not received; see README, Cluster)'] : [];
      if (tier && !tier.state().connected) reasons.push('shared tier: Redis unreachable (served as misses from here)');
      if (live.size < n) reasons.push(`workers: ${live.size} of ${n} running`);
      const zoneIds = config.zones.map((z) => z.id);
      const failing = zoneIds.filter((id) => failingZones.has(id));
      if (failing.length > 0 && failing.length === zoneIds.length) reasons.push(`origins: every origin is failing (zones ${failing.join(', ')})`);
      return reasons;
    },
    notReady: () => (stopping ? ['shutting down'] : listening ? [] : ['not listening yet']),
    reload: opts.reloadRequest,
    inspect: async (zoneId, url, headers) => {
      const results = (await broadcast({ type: 'inspect', zoneId, url, headers })) as (InspectResult & { worker: number })[];
      return { url, variants: results.flatMap((r) => r.variants.map((v) => ({ ...v, worker: r.worker }))) };
    },
    dashboard,
  });
  const admin = await listen(adminServer, config.admin.listen.host, config.admin.listen.port);

  return {
    edge: edgeAddress!, admin, workers: () => live.size,
    async reload(next) {
      const plan = planReload(config, next);
      const reports = (await broadcast({ type: 'reload', config: next }, 30_000)) as ReloadReport[];
      zones.replace(next.zones.map(compileZoneKeys));
      adminServer.configure({ tokens: next.admin.tokens, hosts: next.admin.hosts, zoneIds: next.zones.map((z) => z.id), maxItems: next.purge.maxItems });
      dashboard.setZones(next.zones);
      logger.level = next.logLevel;
      config = runningConfig(config, next, plan);
      const first = reports[0];
      const report: ReloadReport = {
        droppedZones: first?.droppedZones ?? plan.keyChanged,
        zones: { added: plan.added.map((z) => z.id), changed: plan.changed.map((z) => z.id), removed: plan.removed },
        restartRequired: plan.restartRequired,
        certificates: reports.reduce((sum, r) => sum + r.certificates, 0),
        problems: reports.flatMap((r) => r.problems),
      };
      if (plan.restartRequired.length > 0) logger.warn({ settings: plan.restartRequired }, 'these changed settings apply only after a restart; the running values stay');
      logger.info({ workers: reports.length, zones: report.zones, droppedZones: report.droppedZones, restartRequired: plan.restartRequired }, 'reloaded');
      return report;
    },
    async close(graceMs = 10_000) {
      stopping = true;
      clearInterval(pollFailing);
      dashboard.close();
      const exited = [...live].map((w) => new Promise<void>((r) => { w.once('exit', () => r()); w.send({ type: 'shutdown', graceMs } satisfies ToWorker); }));
      // A worker's own shutdown is bounded by graceMs; one that still has not exited a second later is killed.
      const timer = setTimeout(() => { for (const w of live) w.process.kill('SIGKILL'); }, graceMs + 1_000);
      await Promise.all(exited);
      clearTimeout(timer);
      await new Promise<void>((r) => { adminServer.close(() => r()); adminServer.closeAllConnections(); });
      await control.close();
      await tier?.close();
    },
  };
}

/** Worker entry: serves the edge port with its own cache; purges, clears and inspections arrive from the primary. */
export async function runWorker(): Promise<void> {
  // SIGTERM/SIGINT reach the whole process group: the primary coordinates the shutdown (these replace bin/edgecache.js's).
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  // A SIGHUP to the group (a terminal closing, `kill -HUP -PGID`) must not end a worker: the primary asks for reloads.
  process.on('SIGHUP', () => {});
  const slot = process.env[WORKER_INDEX_ENV] ?? '0';
  // Each worker keeps its own disk cache: one directory (and its lock) per worker slot.
  const config = workerConfig(JSON.parse(process.env[WORKER_CONFIG_ENV]!) as Config, slot);
  const edge = await startEdge(config, { admin: false, holdListen: true });
  if (process.env[WORKER_CLEAR_ENV] === '1') edge.store.clear();
  // Constructing one installs prom-client's worker-side listener that answers the primary's metric requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([edge.metrics.registry]);
  const reply = (m: FromWorker): void => { process.send?.(m); };
  // Back from a pause (this worker, or the whole node), the worker serves no cached answer until the primary says
  // every purge Redis has is applied: its answer comes after the purges it sent, so those were applied here first.
  const [ownGate, primaryGate] = combinedGate(edge.gate, 2) as [FreshnessGate, FreshnessGate];
  const asks = new Map<number, (ok: boolean) => void>();
  let nextAsk = 1;
  const askPrimary = (): Promise<boolean> => new Promise((resolve) => {
    const ask = nextAsk++;
    const timer = setTimeout(() => { asks.delete(ask); resolve(false); }, PAUSE_CATCH_UP_MS + 1000);
    asks.set(ask, (ok) => { clearTimeout(timer); resolve(ok); });
    reply({ type: 'catch-up', ask });
  });
  const guard = startPauseGuard({
    gate: ownGate, thresholdMs: PAUSE_SUSPECT_MS, log: edge.logger, catchUp: askPrimary,
    giveUp: async () => { edge.store.clear(); },
  });
  process.on('message', (m: ToWorker) => {
    try {
      switch (m.type) {
        case 'gate': primaryGate.isSuspect = m.suspect; break;
        case 'caught-up': asks.get(m.ask)?.(m.ok); asks.delete(m.ask); break;
        case 'purge': reply({ type: 'reply', id: m.id, result: edge.purger.apply(m.purge) }); break;
        case 'clear': edge.store.clear(); reply({ type: 'reply', id: m.id, result: true }); break;
        case 'inspect':
          void inspectVariants(edge.store, edge.router, m.zoneId, m.url, m.headers)
            .then((r) => reply({ type: 'reply', id: m.id, result: { ...r, worker: Number(process.env[WORKER_INDEX_ENV] ?? 0) } }),
              (err: unknown) => reply({ type: 'reply', id: m.id, error: String(err) }));
          break;
        case 'failing': reply({ type: 'reply', id: m.id, result: edge.figures.failingZones() }); break;
        case 'figures':
          void edge.figures.read().then((figures) => reply({ type: 'reply', id: m.id, result: {
            worker: Number(process.env[WORKER_INDEX_ENV] ?? 0), pid: process.pid, figures, events: edge.figures.events(),
          } satisfies WorkerFigures }), (err: unknown) => reply({ type: 'reply', id: m.id, error: String(err) }));
          break;
        case 'listen': void edge.listen().then((address) => reply({ type: 'ready', edge: address })); break;
        case 'reload':
          edge.reload(workerConfig(m.config, slot)).then((report) => reply({ type: 'reply', id: m.id, result: report }),
            (err: unknown) => reply({ type: 'reply', id: m.id, error: (err as Error).message }));
          break;
        case 'shutdown': guard.stop(); void edge.close(m.graceMs).then(() => process.exit(0), () => process.exit(1)); break;
      }
    } catch (err) {
      if ('id' in m) reply({ type: 'reply', id: m.id, error: (err as Error).message });
    }
  });
  reply({ type: 'loaded' });
}

// The purge control plane: applies purges locally, or through the Redis purge stream so every node applies them in order.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, Counter, Registry } from 'prom-client';
import { clusterTarget, type Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { PurgeRequest } from '../purge/request.js';
import type { Purge, PurgeOutcome } from '../purge/purger.js';
import { createRedisBus } from '../cluster/redis-bus.js';
import type { PurgeBus, StreamPosition } from '../cluster/bus.js';
import { compareStreamIds, isStreamId } from '../cluster/stream-format.js';
import type { FleetProgress } from '../cluster/fleet-progress.js';
import { PAUSE_CATCH_UP_MS, PAUSE_SUSPECT_MS, startPauseGuard, type FreshnessGate } from './pause-guard.js';

export interface ControlPlaneOptions {
  config: Config;
  logger: Logger;
  /** Normalises a purge request into its store targets: once per purge on this node, whichever way it arrives. */
  prepare(zoneId: string, req: PurgeRequest): Purge;
  /** Applies a purge on this node (its one store, or every worker's); resolves with how many variants it matched. */
  applyLocal(purge: Purge): Promise<number>;
  /** Runs before a purge is published (cluster mode): the shared tier is purged first, so no node refills from it. */
  beforePublish?(purge: Purge): Promise<void>;
  /** Drops this node's whole cache (missed purges). */
  clearLocal(reason: string): Promise<void>;
  /** The edge's clock (default: the real one): its offset to Redis's is measured and exposed. */
  clock?: { now(): number };
  /** Closed (lookups answered as misses) after this process was paused, until the purges delivered meanwhile are applied. */
  gate?: FreshnessGate;
}

export interface ControlPlane {
  /** Resolves once the purge is recorded (cluster: in the Redis stream) and applied on this node, with what it matched here. */
  applyPurge(zoneId: string, req: PurgeRequest): Promise<PurgeOutcome>;
  health(): Record<string, unknown>;
  /** How many live nodes applied purge `id` of `zoneId`; null when there is no such purge (of that zone). */
  purgeStatus(zoneId: string, id: string): Promise<FleetProgress | null>;
  /** Resolves true once every purge Redis has now is applied here (at once without a cluster); false if not confirmed in time. */
  catchUp(): Promise<boolean>;
  readonly registry: Registry;
  close(): Promise<void>;
}

/** How long a purge API call waits for its own stream entry to be applied here before answering anyway. */
const OWN_APPLY_WAIT_MS = 2000;
/** How long start-up waits to apply the purges it missed while down before it serves anyway (with an error log). */
const CATCH_UP_WAIT_MS = 15_000;

/** The stream position survives restarts only with a disk cache: a memory cache starts empty, so it has nothing to catch up. */
function positionStore(config: Config, logger: Logger): { load(): StreamPosition | null; save(p: StreamPosition): void; flush(): void } {
  if (config.cache.store !== 'disk' || !config.cache.path) return { load: () => null, save: () => {}, flush: () => {} };
  const file = join(config.cache.path, 'stream-position');
  let pending: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    try {
      mkdirSync(config.cache.path!, { recursive: true });
      writeFileSync(`${file}.tmp`, pending);
      renameSync(`${file}.tmp`, file);
    } catch (err) { logger.error({ err: String(err), file }, 'cannot save the purge stream position'); }
  };
  return {
    // "<id> <stream identity>" (a file with the id alone, from before identities, is judged by the id).
    load: () => {
      let text: string;
      try { text = readFileSync(file, 'utf8').trim(); } catch { return null; }
      const [id, streamId] = text.split(/\s+/);
      return id ? { id, streamId: streamId || null } : null;
    },
    save: (p) => { pending = p.streamId ? `${p.id} ${p.streamId}` : p.id; timer ??= setTimeout(flush, 100); },
    flush,
  };
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { config, logger } = opts;
  const registry = new Registry();
  const cluster = config.cluster;
  if (!cluster) {
    const applyPurge = async (zoneId: string, req: PurgeRequest): Promise<PurgeOutcome> => {
      const purge = opts.prepare(zoneId, req);
      const n = await opts.applyLocal(purge);
      return { matched: req.kind === 'everything' ? undefined : n, cluster: false };
    };
    // One node, and a purge is applied before it is answered: any id it gave out is applied here.
    const purgeStatus = async (_zoneId: string, id: string): Promise<FleetProgress | null> => (/^[0-9a-f]{32}$/.test(id)
      ? { applied: 1, live: 1, nodes: [{ node: 'this', lastAppliedId: id, ageMs: 0, live: true, applied: true }] } : null);
    return { applyPurge, purgeStatus, catchUp: async () => true, health: () => ({ cluster: 'off' }), registry, close: async () => {} };
  }
  const nodeId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const bus: PurgeBus = createRedisBus({ target: clusterTarget(cluster), stream: cluster.stream, nodeId, logger, minReplicas: cluster.minReplicas, now: opts.clock && (() => opts.clock!.now()) });
  const position = positionStore(config, logger);
  const waiters = new Map<string, () => void>();
  // This node's own purges, already prepared, from before they are published until their publish call returns: the
  // stream hands each back to apply (often before XADD's own reply arrives), as JSON that reads back the same.
  const ownInFlight = new Map<string, Purge>();
  // What each of those matched when the stream handed it back here (read by applyPurge once its entry is applied).
  const ownMatched = new WeakMap<Purge, number>();
  const contentKey = (zoneId: string, request: unknown): string => `${zoneId}\u0000${JSON.stringify(request)}`;
  // Where this node is in the stream: its saved position (a disk cache), so a restart with nothing missed is in sync.
  const from = position.load();
  let lastApplied: string | null = from?.id ?? null;
  if (from === null && config.cache.store === 'disk') {
    // A disk cache with no stream position cannot know which purges it missed: it starts empty, to be safe.
    logger.warn({ path: config.cache.path }, 'cluster: no saved purge stream position for this disk cache; starting with an empty cache');
    await opts.clearLocal('no saved purge stream position');
  }
  const appliedTotal = new Counter({ name: 'edgecache_cluster_purges_applied_total', help: 'Purges applied from the cluster stream', registers: [registry] });
  const resets = new Counter({ name: 'edgecache_cluster_cache_resets_total', help: 'Whole-cache drops after missed cluster purges', registers: [registry] });
  new Gauge({ name: 'edgecache_cluster_lag_seconds', help: 'Age of the last applied purge when it was applied', registers: [registry], collect() { this.set(bus.state().lagMs / 1000); } });
  new Counter({ name: 'edgecache_cluster_reconnects_total', help: 'Reconnections to Redis since start', registers: [registry], collect() { this.reset(); this.inc(bus.state().reconnects); } });
  new Gauge({ name: 'edgecache_cluster_clock_offset_seconds', help: 'This node\'s clock minus Redis\'s (over 1 s is logged: see README, Cluster)', registers: [registry], collect() { this.set((bus.state().clockOffsetMs ?? 0) / 1000); } });
  new Gauge({ name: 'edgecache_cluster_connected', help: '1 when connected to Redis', registers: [registry], collect() { this.set(bus.state().connected ? 1 : 0); } });

  /** Resolves true once `id` is applied here, false after `ms`. */
  const untilApplied = (id: string, ms: number): Promise<boolean> => new Promise<boolean>((resolve) => {
    if (lastApplied !== null && compareStreamIds(id, lastApplied) <= 0) { resolve(true); return; }
    const before = waiters.get(id);
    const timer = setTimeout(() => { resolve(false); }, ms);
    waiters.set(id, () => { before?.(); clearTimeout(timer); resolve(true); });
  });
  const settle = (id: string): void => {
    lastApplied = id;
    for (const [wid, resolve] of waiters) if (compareStreamIds(wid, id) <= 0) { waiters.delete(wid); resolve(); }
  };
  await bus.start({
    apply: async (msg, id) => {
      const own = msg.origin === nodeId ? ownInFlight.get(contentKey(msg.zoneId, msg.request)) : undefined;
      const n = await opts.applyLocal(own ?? opts.prepare(msg.zoneId, msg.request as PurgeRequest));
      if (own) ownMatched.set(own, n);
      appliedTotal.inc();
    },
    onReset: async (reason) => {
      resets.inc();
      logger.error({ reason }, 'missed cluster purges: dropping the whole cache rather than serve what may have been purged');
      await opts.clearLocal(reason);
    },
    onApplied: (id, streamId) => { position.save({ id, streamId }); settle(id); },
  }, from);

  // A node (a disk cache) that was down must apply what it missed before it serves: wait until the stream head at
  // start-up is applied. If Redis cannot be reached, it serves what it has and says so.
  try {
    const head = await bus.headId();
    if (lastApplied === null || compareStreamIds(head, lastApplied) > 0) {
      const caughtUp = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { waiters.delete(head); resolve(false); }, CATCH_UP_WAIT_MS);
        waiters.set(head, () => { clearTimeout(timer); resolve(true); });
        if (lastApplied !== null && compareStreamIds(head, lastApplied) <= 0) settle(lastApplied);
      });
      if (!caughtUp) logger.error({ head, lastApplied }, 'cluster: missed purges not all applied at start-up; serving anyway');
    }
  } catch (err) {
    logger.error({ err: String(err) }, 'cluster: Redis unreachable at start-up: serving the cache without the purges it may have missed');
  }

  const catchUp = async (): Promise<boolean> => untilApplied(await bus.headId(), PAUSE_CATCH_UP_MS);
  const guard = opts.gate && startPauseGuard({
    gate: opts.gate, thresholdMs: PAUSE_SUSPECT_MS, log: logger, catchUp,
    giveUp: (reason) => opts.clearLocal(reason),
  });

  return {
    registry,
    catchUp,
    async applyPurge(zoneId, req) {
      const purge = opts.prepare(zoneId, req);
      await opts.beforePublish?.(purge);
      const key = contentKey(zoneId, req);
      ownInFlight.set(key, purge);
      try {
        const id = await bus.publish({ zoneId, request: req, origin: nodeId });
        if (lastApplied === null || compareStreamIds(id, lastApplied) > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => { waiters.delete(id); resolve(); }, OWN_APPLY_WAIT_MS);
            waiters.set(id, () => { clearTimeout(timer); resolve(); });
          });
        }
        return { matched: req.kind === 'everything' ? undefined : ownMatched.get(purge), cluster: true, id };
      } finally {
        if (ownInFlight.get(key) === purge) ownInFlight.delete(key);
      }
    },
    async purgeStatus(zoneId, id) {
      if (!isStreamId(id)) return null;
      const { zone, fleet } = await bus.progress(id);
      return zone !== undefined && zone !== zoneId ? null : fleet; // another zone's purge is not this token's to see
    },
    health: () => {
      const s = bus.state();
      return { cluster: { connected: s.connected, lastAppliedId: s.lastAppliedId, streamId: s.streamId, clockOffsetMs: s.clockOffsetMs, applied: s.applied, lagMs: s.lagMs, reconnects: s.reconnects, resets: s.resets, caughtUpAt: guard ? new Date(guard.lastCaughtUpAt()).toISOString() : null, pauses: guard?.pauses() ?? 0 } };
    },
    // The position is written before the bus goes: a stop right after a purge must not replay from an older one.
    close: async () => { guard?.stop(); await bus.close(); position.flush(); },
  };
}

// What feeds the dashboard: one process's figures, or a primary's view over its workers (each worker one source).
import { hostname } from 'node:os';
import type { Zone } from '../../config/schema.js';
import { createHistory, type Figures } from '../../observability/history.js';
import { mergeEventGroups, type EventGroup } from '../../observability/recent-events.js';
import type { FigureSource } from '../../observability/figures.js';
import type { Logger } from '../../observability/logger.js';
import type { DashboardSource, DashboardZone } from './route.js';

export function dashboardZones(zones: readonly Zone[]): DashboardZone[] {
  return zones.map((z) => ({
    id: z.id, hosts: z.hosts, cors: z.cors ? 'edge' : 'origin',
    keyHeaders: z.cors ? z.cacheKey.headers.filter((h) => h !== 'origin') : z.cacheKey.headers,
  }));
}

/** A source whose zones follow reloads. */
export type RunningDashboard = DashboardSource & { setZones(zones: readonly Zone[]): void; close(): void };

export interface DashboardSourceOptions {
  zones: readonly Zone[];
  logger: Logger;
  /** Sampling interval (default 5 s). */
  intervalMs?: number;
  /** Node-wide state for the header (store kind, cluster, workers), merged into the node description. */
  state(): Record<string, unknown>;
}

/** EDGECACHE_DASHBOARD_INTERVAL_MS overrides the default sampling interval (e.g. 1000 for a finer last hour). */
function intervalOf(opts: DashboardSourceOptions): number | undefined {
  const env = Number(process.env['EDGECACHE_DASHBOARD_INTERVAL_MS']);
  return opts.intervalMs ?? (Number.isInteger(env) && env >= 100 ? env : undefined);
}

/** The source id of a single-process edge. */
export const LOCAL_SOURCE = 'local';

/** A single process: its own figures under one source id. */
export function localDashboard(figures: FigureSource, opts: DashboardSourceOptions): RunningDashboard {
  const history = createHistory({
    intervalMs: intervalOf(opts),
    read: async () => ({ [LOCAL_SOURCE]: await figures.read() }),
    onError: (err) => opts.logger.warn({ err: String(err) }, 'dashboard: cannot read figures'),
  });
  history.start();
  let zones = dashboardZones(opts.zones);
  return {
    get zones() { return zones; },
    setZones(next) { zones = dashboardZones(next); },
    history,
    events: async () => figures.events(),
    node: () => ({ host: hostname(), pid: process.pid, mode: 'single', sources: [LOCAL_SOURCE], ...opts.state() }),
    close: () => history.stop(),
  };
}

/** What a worker answers when the primary asks for its figures. */
export interface WorkerFigures { worker: number; pid: number; figures: Figures; events: EventGroup[] }

/** A primary with workers: each sample asks every worker for its figures; each worker is its own source. */
export function workersDashboard(collect: () => Promise<WorkerFigures[]>, opts: DashboardSourceOptions): RunningDashboard {
  let workers: { source: string; pid: number }[] = [];
  const history = createHistory({
    intervalMs: intervalOf(opts),
    read: async () => {
      const replies = await collect();
      workers = replies.map((r) => ({ source: `worker-${r.worker}`, pid: r.pid })).sort((a, b) => a.source.localeCompare(b.source));
      return Object.fromEntries(replies.map((r) => [`worker-${r.worker}`, r.figures]));
    },
    onError: (err) => opts.logger.warn({ err: String(err) }, 'dashboard: cannot read worker figures'),
  });
  history.start();
  let zones = dashboardZones(opts.zones);
  return {
    get zones() { return zones; },
    setZones(next) { zones = dashboardZones(next); },
    history,
    events: async () => mergeEventGroups((await collect()).map((r) => r.events)),
    node: () => ({ host: hostname(), pid: process.pid, mode: 'workers', workers, sources: workers.map((w) => w.source), ...opts.state() }),
    close: () => history.stop(),
  };
}

// `edgecache serve`: resolves config, starts the edge (and the demo origin when no origin is configured), stops on signals.
import type { Command } from 'commander';
import { ConfigError, resolveConfig, type ConfigOverrides } from '../config/load.js';
import { startEdge } from '../edge/server.js';
import { startDemoOrigin } from '../demo/origin.js';
import { availableParallelism } from 'node:os';
import { runPrimary, workerCount, type RunningPrimary } from '../control/workers.js';
import { createLogger } from '../observability/logger.js';
import { createReloader, type Reloader } from './reload-signal.js';
import type { Logger } from '../observability/logger.js';
import type { Config } from '../config/schema.js';
import type { RunningEdge } from '../edge/server.js';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

interface ServeFlags extends ConfigOverrides { config?: string }

export function addServeCommand(program: Command): void {
  program.command('serve')
    .description('run the edge cache (with no origin and no config: in front of a built-in demo origin)')
    .option('--config <file>', 'config file (YAML or JSON)')
    .option('--origin <url>', 'origin URL for a single zone "default" serving every Host')
    .option('--listen <host:port>', 'edge listener, repeatable (default 127.0.0.1:8787)', collect)
    .option('--tls-cert <file>', 'PEM certificate (chain), repeatable, paired with --tls-key: the --listen listeners use TLS (h2 and http/1.1)', collect)
    .option('--tls-key <file>', 'PEM private key of the --tls-cert at the same position', collect)
    .option('--admin-listen <host:port>', 'admin listener: healthz, metrics, purge API (default 127.0.0.1:8788)')
    .option('--admin-token <token>', 'admin API token for all zones (or EDGECACHE_ADMIN_TOKEN)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--workers <n>', 'worker processes sharing the listen port: a number or "auto" (default 1)')
    .option('--cluster <redis-url>', 'join a cluster through Redis: redis://HOST:PORT')
    .option('--no-fast-path', 'answer every request through node:http (config fastPath: false)')
    .action(async (flags: ServeFlags) => { await serve(flags); });
}

/** How long SIGTERM/SIGINT lets in-flight requests finish; the whole shutdown is bounded by it plus SHUTDOWN_MARGIN_MS. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** What the rest of a shutdown (cluster bus, shared tier, disk store) may add to the grace period before exit is forced. */
export const SHUTDOWN_MARGIN_MS = 2_000;

/**
 * SIGTERM/SIGINT/SIGHUP from the very start: during start-up a stop is logged and happens once the start is done (or
 * at once if it is not done within the bound), and a SIGHUP reloads once serving. Then `stop` and `reload` take over.
 */
function lifecycle(logger: Logger) {
  let stopper: ((signal: string) => void) | undefined;
  let reloader: Reloader | undefined;
  let pendingStop: string | undefined;
  let pendingReload = false;
  let started = false;
  const onStop = (signal: string): void => {
    if (stopper) { stopper(signal); return; }
    if (pendingStop) return;
    pendingStop = signal;
    logger.info({ signal }, 'stopping during start-up: exiting once the start is done');
    // A start stuck (e.g. waiting for Redis) does not hold the exit past the shutdown bound.
    setTimeout(() => {
      logger.warn({ signal }, 'start-up did not finish within the shutdown bound: exiting now');
      logger.flush?.();
      process.exit(1);
    }, SHUTDOWN_GRACE_MS + SHUTDOWN_MARGIN_MS).unref();
  };
  const onHup = (): void => {
    if (reloader) { reloader.run('SIGHUP').catch(() => {}); return; }
    if (!started) { pendingReload = true; logger.info({}, 'SIGHUP during start-up: reloading once serving'); }
  };
  // These replace bin/edgecache.js's handlers for a stop while the modules load.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', onHup);
  return {
    /** True when a stop arrived during start-up (the caller then stops at once). */
    serving(stop: (signal: string) => void, r: Reloader): boolean {
      started = true;
      stopper = stop;
      reloader = r;
      if (pendingStop) { stop(pendingStop); return false; }
      if (pendingReload) r.run('SIGHUP').catch(() => {});
      return true;
    },
    /** The start failed: signals end the process as usual. */
    failed(): void { started = true; stopper = () => process.exit(1); },
  };
}

/** Exits when `closing` settles, or after the bound whatever it is still waiting for (logged). */
function exitAfter(logger: Logger, closing: Promise<unknown>, boundMs: number): void {
  const started = Date.now();
  const force = setTimeout(() => {
    logger.error({ ms: Date.now() - started }, 'shutdown did not finish within its bound: exiting now');
    logger.flush?.();
    process.exit(1);
  }, boundMs);
  force.unref();
  closing.then(() => {
    logger.info({ ms: Date.now() - started }, 'stopped');
    logger.flush?.();
    process.exit(0);
  }, (err: unknown) => {
    logger.error({ err: String(err) }, 'shutdown failed');
    logger.flush?.();
    process.exit(1);
  });
}

async function serve(flags: ServeFlags): Promise<void> {
  let config: Config;
  try {
    config = resolveConfig(flags.config, flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`edgecache: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const life = lifecycle(logger);
  let demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined;
  if (config.zones.length === 0) {
    demo = await startDemoOrigin();
    config.zones = resolveConfig(undefined, { origin: demo.url }).zones;
  }
  const demoZones = config.zones;
  /** The config file and flags read again (flags still override the file); throws ConfigError when it does not validate. */
  const readConfig = (): Config => {
    const next = resolveConfig(flags.config, flags);
    if (next.zones.length === 0 && demo) next.zones = demoZones;
    return next;
  };
  const workers = workerCount(config, availableParallelism());
  if (workers > 1) return servePrimary(config, workers, demo, logger, life, readConfig);
  let edge: RunningEdge | undefined;
  const reloader = createReloader(logger, async () => edge!.reload(readConfig()));
  try {
    edge = await startEdge(config, { logger, reloadRequest: () => reloader.run('POST /reload') });
  } catch (err) {
    console.error(`edgecache: cannot start: ${(err as Error).message}`);
    logger.error({ err: (err as Error).message }, 'cannot start');
    life.failed();
    await demo?.close();
    process.exitCode = 1;
    return;
  }
  const running = edge;
  const e = `${running.edge.address}:${running.edge.port}`;
  const base = `${running.listeners[0]!.scheme}://${e}`;
  const a = `${running.admin.address}:${running.admin.port}`;
  const listening = running.listeners.map((l) => { const at = l.address()!; return `${l.scheme}://${at.family === 'IPv6' ? `[${at.address}]` : at.address}:${at.port}${l.config.h2c ? ' (h2c)' : ''}`; });
  logger.info({ edge: e, listeners: listening, admin: a, zones: config.zones.map((z) => ({ id: z.id, hosts: z.hosts, origin: z.origin })) }, 'edgecache serving');
  if (demo) {
    process.stderr.write([
      '',
      `edgecache is serving on ${listening.join(', ')} in front of its built-in demo origin (${demo.url}).`,
      'Try the same asset from two Origins, then again to see HITs, each with its own Access-Control-Allow-Origin:',
      `  curl -si -H 'Origin: https://app-one.example' ${base}/data.json | grep -iE 'cf-cache-status|access-control'`,
      `  curl -si -H 'Origin: https://app-two.example' ${base}/data.json | grep -iE 'cf-cache-status|access-control'`,
      `Health and metrics: curl http://${a}/healthz ; curl http://${a}/metrics`,
      config.admin.tokens.length === 0 ? 'Set --admin-token (16+ characters) or EDGECACHE_ADMIN_TOKEN to use the purge API.' : `Purge: npx edgecache purge --admin http://${a} --url ${base}/data.json`,
      '',
    ].join('\n'));
  }
  const stop = (signal: string): void => {
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'stopping: finishing in-flight requests');
    exitAfter(logger, running.close(SHUTDOWN_GRACE_MS).then(() => demo?.close()), SHUTDOWN_GRACE_MS + SHUTDOWN_MARGIN_MS);
  };
  let stopping = false;
  life.serving((signal) => { if (!stopping) { stopping = true; stop(signal); } }, reloader);
}

async function servePrimary(config: Config, workers: number, demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined,
  logger: Logger, life: ReturnType<typeof lifecycle>, readConfig: () => Config): Promise<void> {
  let primary: RunningPrimary | undefined;
  const reloader = createReloader(logger, async () => primary!.reload(readConfig()));
  try {
    primary = await runPrimary(config, workers, logger, { reloadRequest: () => reloader.run('POST /reload') });
  } catch (err) {
    console.error(`edgecache: cannot start workers: ${(err as Error).message}`);
    logger.error({ err: (err as Error).message }, 'cannot start workers');
    life.failed();
    await demo?.close();
    process.exitCode = 1;
    return;
  }
  const running = primary;
  logger.info({ edge: `${running.edge.address}:${running.edge.port}`, admin: `${running.admin.address}:${running.admin.port}`, workers }, 'edgecache serving with workers');
  let stopping = false;
  life.serving((signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'stopping workers: finishing in-flight requests');
    exitAfter(logger, running.close(SHUTDOWN_GRACE_MS).then(() => demo?.close()), SHUTDOWN_GRACE_MS + SHUTDOWN_MARGIN_MS);
  }, reloader);
}

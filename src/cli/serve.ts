// `edgecache serve`: resolves config, starts the edge (and the demo origin when no origin is configured), stops on signals.
import type { Command } from 'commander';
import { ConfigError, resolveConfig, type ConfigOverrides } from '../config/load.js';
import { startEdge } from '../edge/server.js';
import { startDemoOrigin } from '../demo/origin.js';
import { availableParallelism } from 'node:os';
import { runPrimary, workerCount } from '../control/workers.js';
import { createLogger } from '../observability/logger.js';
import { createReloader } from './reload-signal.js';

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
    .action(async (flags: ServeFlags) => { await serve(flags); });
}

async function serve(flags: ServeFlags): Promise<void> {
  let config;
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
  let demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined;
  if (config.zones.length === 0) {
    demo = await startDemoOrigin();
    config.zones = resolveConfig(undefined, { origin: demo.url }).zones;
  }
  const workers = workerCount(config, availableParallelism());
  if (workers > 1) return servePrimary(config, workers, demo);
  let edge;
  try {
    edge = await startEdge(config);
  } catch (err) {
    console.error(`edgecache: cannot start: ${(err as Error).message}`);
    await demo?.close();
    process.exitCode = 1;
    return;
  }
  const e = `${edge.edge.address}:${edge.edge.port}`;
  const base = `${edge.listeners[0]!.scheme}://${e}`;
  const a = `${edge.admin.address}:${edge.admin.port}`;
  const listening = edge.listeners.map((l) => { const at = l.address()!; return `${l.scheme}://${at.family === 'IPv6' ? `[${at.address}]` : at.address}:${at.port}${l.config.h2c ? ' (h2c)' : ''}`; });
  edge.logger.info({ edge: e, listeners: listening, admin: a, zones: config.zones.map((z) => ({ id: z.id, hosts: z.hosts, origin: z.origin })) }, 'edgecache serving');
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
  const reloader = createReloader(edge.logger);
  reloader.add('certificates', () => edge.reload());
  const stopReloading = reloader.onSignal();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    stopReloading();
    edge.logger.info({ signal }, 'stopping: finishing in-flight requests');
    edge.close(10_000).then(() => demo?.close()).then(() => { edge.logger.flush?.(); process.exit(0); }, () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function servePrimary(config: import('../config/schema.js').Config, workers: number, demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined): Promise<void> {
  const logger = createLogger(config.logLevel);
  let primary;
  try {
    primary = await runPrimary(config, workers, logger);
  } catch (err) {
    console.error(`edgecache: cannot start workers: ${(err as Error).message}`);
    await demo?.close();
    process.exitCode = 1;
    return;
  }
  logger.info({ edge: `${primary.edge.address}:${primary.edge.port}`, admin: `${primary.admin.address}:${primary.admin.port}`, workers }, 'edgecache serving with workers');
  const reloader = createReloader(logger);
  reloader.add('workers', () => primary.reload());
  reloader.onSignal();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping workers: finishing in-flight requests');
    primary.close().then(() => demo?.close()).then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

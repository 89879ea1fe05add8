// Test helper: runs a real, throw-away redis-server on 127.0.0.1 for one test and stops it by its pid.
//
// Usage (always register the stop before asserting anything, so a failing test still stops Redis):
//
//   if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
//   const r = await startRedis();
//   t.after(() => r.stop());
//
// `startRedis({ port: r.port })` restarts Redis on the same port (after `r.stop()`); pass `dir` (and e.g.
// `args: ['--appendonly', 'yes']`) to keep data across such a restart.
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { requireService } from './service.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCommand } from './service.js';

export const REDIS_HINT = 'apt-get install redis-server (Debian/Ubuntu), or put redis-server on PATH';

export interface StartRedisOptions {
  /** Listen on this port (e.g. to restart on the port a previous instance used); default: a free ephemeral port. */
  port?: number;
  /** Extra redis-server arguments, appended last so they override the defaults (e.g. ['--appendonly', 'yes']). */
  args?: string[];
  /** Data directory, kept after stop() (the caller owns it). Default: a fresh temp dir removed by stop(). */
  dir?: string;
  /** A config file, given first (Sentinel needs one it can rewrite: pass `args: ['--sentinel']` with it). */
  configFile?: string;
}

export interface RedisHandle {
  port: number;
  url: string;
  pid: number;
  dir: string;
  /** SIGTERM to this pid, wait for it to exit, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** The server's recent stdout/stderr (for failure messages). */
  output(): string;
}

const MAX_OUTPUT_CHARS = 64 * 1024;
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

/** /usr/bin/redis-server when present, else redis-server from PATH, else null. */
export function redisServerPath(): string | null {
  return findCommand('/usr/bin/redis-server') ?? findCommand('redis-server');
}

export function hasRedisServer(): boolean {
  return redisServerPath() !== null;
}

// Servers still running when the test process exits are killed (only these pids, never by name).
const running = new Set<ChildProcess>();
let isExitHookInstalled = false;
function installExitHook(): void {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) if (isRunning(child)) child.kill('SIGKILL');
  });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const bin = redisServerPath();
  if (bin === null) throw new Error(`redis-server not found: ${REDIS_HINT}`);
  // An ephemeral port picked by listen(0) can be taken by someone else before redis binds it: retry then.
  const attempts = opts.port === undefined ? 5 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? (await findFreePort());
    try {
      return await launch(bin, port, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error && /address already in use/i.test(err.message))) throw err;
    }
  }
  throw lastError;
}

async function launch(bin: string, port: number, opts: StartRedisOptions): Promise<RedisHandle> {
  const isOwnDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'edgecache-redis-'));
  const args = [
    ...(opts.configFile === undefined ? [] : [opts.configFile]),
    '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', '',
    ...(opts.args ?? []),
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  // A forgotten server must not keep the test process alive; the exit hook still kills it.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  if (child.pid !== undefined) {
    running.add(child);
    installExitHook();
  }
  const removeDir = (): void => {
    if (isOwnDir) rmSync(dir, { recursive: true, force: true });
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (isRunning(child)) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS, 'timeout')));
        const outcome = await Promise.race([exited.then(() => 'exited' as const), grace]);
        clearTimeout(timer);
        if (outcome === 'timeout' && isRunning(child)) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      running.delete(child);
      removeDir();
    })();
    return stopping;
  };

  try {
    const failure = await Promise.race([
      waitForPong(port, () => !isRunning(child)).then(() => null),
      spawnError,
      exited.then(() => new Error('redis-server exited during start-up')),
    ]);
    if (failure !== null) throw failure;
  } catch (err) {
    await stop();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`could not start redis-server on 127.0.0.1:${port}: ${reason}\n--- redis output ---\n${output}`);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid as number,
    dir,
    stop,
    output: () => output,
  };
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}

/** Polls with a raw RESP PING until the server answers +PONG (not -LOADING), the process dies, or 10 s pass. */
async function waitForPong(port: number, hasDied: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasDied()) throw new Error('redis-server exited during start-up');
    if (await isPonging(port)) return;
    await sleep(25);
  }
  throw new Error(`no PONG within ${READY_TIMEOUT_MS} ms`);
}

function isPonging(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** Starts redis-server for this test (skips loudly, or fails in CI, without it); stopped even on failure. */
export async function redisFor(t: TestContext, opts?: StartRedisOptions): Promise<RedisHandle | null> {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return null;
  const r = await startRedis(opts);
  t.after(() => r.stop());
  return r;
}

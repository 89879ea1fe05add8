// Bench process plumbing: spawn pinned children in their own process groups, stop them all, ports, readiness, memory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { request, type Agent } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A typed error for the bench harness (missing tool, child that would not start, …). */
export class BenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BenchError';
    this.code = code;
  }
}

export interface SpawnedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) once the direct child has exited. */
  readonly exited: Promise<string>;
  hasExited(): boolean;
}

export interface SpawnOptions {
  /** `taskset -c` list, e.g. "1" or "0,1"; ignored when taskset is unavailable. */
  cpus?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
}

const live = new Map<number, SpawnedProcess>();
let shuttingDown = false;

/** From now on spawnTracked refuses (so nothing starts after stopAll on SIGINT). */
export function beginShutdown(): void {
  shuttingDown = true;
}

/** Absolute path of an executable found on PATH (or in the sbin dirs, where nginx and varnishd live), or null. */
export function findExecutable(name: string): string | null {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      const st = lstatSync(candidate, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) return candidate;
    } catch {
      /* unreadable dir: keep looking */
    }
  }
  return null;
}

const tasksetPath = findExecutable('taskset');
const cpuCount = (() => {
  try {
    return Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout.trim()) || 1;
  } catch {
    return 1;
  }
})();

/** Whether processes can be pinned: taskset exists and there are at least two cores. */
export function canPin(): boolean {
  return tasksetPath !== null && cpuCount >= 2;
}

export function cpuCores(): number {
  return cpuCount;
}

/** Pin the current process (all its threads) to the given cores; returns whether it worked. */
export function pinSelf(cpus: string): boolean {
  if (!canPin() || tasksetPath === null) return false;
  const r = spawnSync(tasksetPath, ['-a', '-p', '-c', cpus, String(process.pid)], { encoding: 'utf8' });
  return r.status === 0;
}

/** Spawn `command args` in a new process group, pinned with taskset when possible, output appended to logFile. */
export function spawnTracked(name: string, command: string, args: string[], opts: SpawnOptions): SpawnedProcess {
  if (shuttingDown) throw new BenchError('SHUTTING_DOWN', `not starting ${name}: the bench is stopping`);
  const fd = openSync(opts.logFile, 'a');
  const pinned = opts.cpus !== undefined && canPin() && tasksetPath !== null;
  const file = pinned ? (tasksetPath as string) : command;
  const argv = pinned ? ['-c', opts.cpus as string, command, ...args] : args;
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new BenchError('SPAWN_FAILED', `${name}: could not spawn ${command}`);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ?? String(code));
    });
    child.once('error', (err) => {
      done = true;
      resolve(`error: ${err.message}`);
    });
  });
  const proc: SpawnedProcess = { name, pid: child.pid, child, logFile: opts.logFile, exited, hasExited: () => done };
  live.set(child.pid, proc);
  return proc;
}

function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return groupPids(pgid).length > 0;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}

/** Resolve after ms; an unref'd timer (unref = true) doesn't keep the process alive. */
const sleep = (ms: number, unref = false): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    if (unref) t.unref();
  });
export { sleep };

/** SIGTERM the process group, wait up to graceMs for it to go, then SIGKILL it. */
export async function stopProcess(proc: SpawnedProcess, graceMs = 4000): Promise<void> {
  if (!live.has(proc.pid)) return;
  signalGroup(proc.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && (!proc.hasExited() || isGroupAlive(proc.pid))) await sleep(25);
  if (!proc.hasExited() || isGroupAlive(proc.pid)) {
    signalGroup(proc.pid, 'SIGKILL');
    await Promise.race([proc.exited, sleep(1000, true)]);
  }
  live.delete(proc.pid);
}

/** Stop every process this harness started (in reverse start order). */
export async function stopAll(): Promise<void> {
  const procs = [...live.values()].reverse();
  await Promise.all(procs.map((p) => stopProcess(p)));
}

/** Last resort for process exit: SIGKILL every group still tracked, synchronously. */
export function killAllSync(): void {
  for (const pid of live.keys()) signalGroup(pid, 'SIGKILL');
  live.clear();
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP/1.1 request (on a fresh connection unless an agent is given), with a timeout. */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number; agent?: Agent } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new BenchError('HTTP_TIMEOUT', `timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Poll url until it answers 200 (or `accept` says yes); throws if proc exits or the timeout passes. */
export async function waitForHttp(url: string, proc: SpawnedProcess | null, timeoutMs: number, accept = (s: number) => s === 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc?.hasExited()) throw new BenchError('EXITED', `${proc.name} exited during start-up: ${logTail(proc.logFile)}`);
    try {
      const r = await httpRequest(url, { timeoutMs: 1000 });
      if (accept(r.status)) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new BenchError('NOT_READY', `${proc?.name ?? url} not ready after ${timeoutMs} ms (${last}): ${proc ? logTail(proc.logFile) : ''}`);
}

/** The last few non-empty lines of a log file, on one line. */
export function logTail(file: string, lines = 6): string {
  try {
    const text = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
    return text.slice(-lines).join(' | ').slice(0, 800) || '(empty log)';
  } catch {
    return '(no log)';
  }
}

/** Pids of every live process in a process group (from /proc; zombies, which hold no memory, are left out). */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(e));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

function kbField(text: string, field: string): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * Memory of a process group in bytes: the sum of each process's PSS (proportional set size, so pages
 * shared between nginx's master and workers count once), falling back to RSS where smaps_rollup is absent.
 */
export function groupMemoryBytes(pgid: number): number {
  let total = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const pss = kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
      if (pss !== null) {
        total += pss;
        continue;
      }
    } catch {
      /* fall through to RSS */
    }
    try {
      total += kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') ?? 0;
    } catch {
      /* gone */
    }
  }
  return total;
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (the unit of /proc/<pid>/stat CPU times). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/**
 * CPU seconds (user + system) used so far by the live processes of a process group, from /proc/<pid>/stat. The
 * difference across a load run, divided by the requests served, is the CPU a request costs: a figure far steadier
 * than req/s on a machine whose other work comes and goes.
 */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name: state is index 0, utime 11, stime 12 (proc(5) fields 14 and 15).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* raced with exit */
    }
  }
  return ticks / ticksPerSecond();
}

/** Allocated bytes (st_blocks × 512) of every file under dir, e.g. nginx's cache on tmpfs. */
export function dirAllocatedBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      try {
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else total += st.blocks * 512;
      } catch {
        /* raced */
      }
    }
  };
  walk(dir);
  return total;
}

// The edgecache CLI as a child process for end-to-end tests: a command run to completion, or `edgecache serve` with its
// JSON log lines, a wait for one and its exit; killed after the test.
import type { TestContext } from 'node:test';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './http.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = join(ROOT, 'src/cli/main.ts');

export interface ServeProcess {
  child: ChildProcess;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | string>;
  /** The JSON lines it wrote to stdout so far. */
  lines(): Record<string, unknown>[];
  /** The first line from index `after` on whose msg matches, waiting up to `ms`; throws (with stderr's tail) otherwise. */
  logLine(msg: RegExp, after?: number, ms?: number): Promise<Record<string, unknown>>;
}

/** The compiled CLI (dist/, built by `npx tsc -p tsconfig.build.json`). */
export const BIN = join(ROOT, 'bin/edgecache.js');

/**
 * Starts `edgecache serve ARGS` through tsx, or the compiled CLI with `compiled` (env: the child's environment, default
 * this process's).
 */
export function serveProcess(t: TestContext, args: string[], env: NodeJS.ProcessEnv = process.env, opts: { compiled?: boolean } = {}): ServeProcess {
  const argv = opts.compiled ? [BIN, 'serve', ...args] : ['--import', 'tsx', MAIN, 'serve', ...args];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines = (): Record<string, unknown>[] => out.split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  const logLine = async (msg: RegExp, after = 0, ms = 60_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines().slice(after).find((j) => typeof j.msg === 'string' && msg.test(j.msg));
      if (found) return found;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no log line ${msg}; stderr: ${err.slice(-800)}`);
      await sleep(50);
    }
  };
  return { child, exited, lines, logLine };
}

/** Runs `edgecache <args>` (node --import tsx src/cli/main.ts) to completion, without EDGECACHE_ADMIN_TOKEN. */
export function runCli(t: TestContext, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, out, errText) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out, err: errText });
    });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  });
}

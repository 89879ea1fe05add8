// End to end through the real command line (child processes): config errors, flags over file, env token, healthz,
// metrics, SIGTERM with a request in flight, and the no-config demo mode `npm start` runs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrigin, send, sleep } from './helpers/http.js';
import { ConfigError, resolveConfig, validateConfig } from '../src/config/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  /** Resolves with the first stdout JSON log line whose msg matches. */
  logLine(msg: RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Runs `edgecache <args>` as a child process (node --import tsx src/cli/main.ts); killed by pid if still running at the end. */
function cli(t: TestContext, args: string[], env: Record<string, string | undefined> = {}): Cli {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, EDGECACHE_ADMIN_TOKEN: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; for (const w of waiters) w(); });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return {
    child, exited, stdout: () => out, stderr: () => err,
    logLine(msg, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const find = (): boolean => {
          for (const line of out.split('\n')) {
            try {
              const j = JSON.parse(line) as Record<string, unknown>;
              if (typeof j.msg === 'string' && msg.test(j.msg)) { resolve(j); return true; }
            } catch { /* not a log line */ }
          }
          return false;
        };
        if (find()) return;
        const timer = setTimeout(() => reject(new Error(`no log line ${msg} within ${timeoutMs} ms; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`)), timeoutMs);
        waiters.push(() => { if (find()) clearTimeout(timer); });
        void exited.then(() => { if (!find()) { clearTimeout(timer); reject(new Error(`exited before ${msg}; stderr: ${err.slice(-800)}`)); } });
      });
    },
  };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const FREE = '127.0.0.1:0';

test('invalid config: serve and check-config exit non-zero before listening, naming field, value and what is allowed', async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, [
    'cache:', '  maxBytes: -5',
    'zones:', '  - id: cdn', '    hosts: [cdn.example.com]', '    origin: ftp://files.example.com',
    '    cacheKey:', '      query: random', 'logLevel: loud', 'colour: blue', '',
  ].join('\n'));
  const expectations = [
    /zones\[0\]\.origin: got "ftp:\/\/files\.example\.com": expected an origin URL/,
    /zones\[0\]\.cacheKey\.query: got "random": expected "all", "sorted", "none", \{include: .*\} or \{exclude: .*\}/,
    /cache\.maxBytes: got -5: .*>0/,
    /logLevel: got "loud": .*"info"/,
    /colour: got "blue": unknown setting \(allowed here: .*zones.*\)/,
  ];
  const serve = cli(t, ['serve', '--config', bad, '--listen', FREE, '--admin-listen', FREE]);
  const check = cli(t, ['check-config', bad]);
  const [serveCode, checkCode] = await Promise.all([serve.exited, check.exited]);
  for (const [name, run, code] of [['serve', serve, serveCode], ['check-config', check, checkCode]] as const) {
    assert.notEqual(code, 0, `${name} must fail`);
    for (const re of expectations) assert.match(run.stderr(), re, `${name} stderr`);
  }
  assert.doesNotMatch(serve.stdout(), /edgecache serving/, 'it never listened');

  // A YAML syntax error, a missing file, a duplicate host, and a valid file (same code path, in-process: cheaper).
  await writeFile(join(dir, 'syntax.yaml'), 'zones: [\n  - id: x\n');
  await writeFile(join(dir, 'dup.yaml'), 'zones:\n  - {id: a, hosts: [cdn.example.com], origin: "http://127.0.0.1:9"}\n  - {id: b, hosts: [cdn.example.com], origin: "http://127.0.0.1:9"}\n');
  await writeFile(join(dir, 'good.json'), JSON.stringify({ zones: [{ id: 'cdn', hosts: ['cdn.example.com', '*.img.example'], origin: 'http://127.0.0.1:9' }] }));
  assert.throws(() => resolveConfig(join(dir, 'syntax.yaml'), {}), (e: Error) => e instanceof ConfigError && /cannot parse .*syntax\.yaml/.test(e.message));
  assert.throws(() => resolveConfig(join(dir, 'missing.yaml'), {}), (e: Error) => e instanceof ConfigError && /cannot read config file .*missing\.yaml: ENOENT/.test(e.message));
  assert.throws(() => resolveConfig(join(dir, 'dup.yaml'), {}), (e: Error) => /zones\[1\]\.hosts\[0\]: got "cdn\.example\.com": zone "a" already serves that host/.test(e.message));
  assert.throws(() => resolveConfig(undefined, { origin: 'http://127.0.0.1:9/path' }), (e: Error) => /zones\[0\]\.origin: got "http:\/\/127\.0\.0\.1:9\/path": expected an origin URL/.test(e.message));
  assert.throws(() => validateConfig({ zones: [{ id: 'a', hosts: ['https://cdn.example.com/'], origin: 'http://127.0.0.1:9' }] }, 't'), /zones\[0\]\.hosts\[0\]: got "https:\/\/cdn\.example\.com\/": expected a host name/);
  assert.equal(resolveConfig(join(dir, 'good.json'), {}).zones[0]!.id, 'cdn');
});

test('serve --config with flags: flags override the file, EDGECACHE_ADMIN_TOKEN works, /healthz and /metrics, SIGTERM finishes in-flight', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const origin = await startOrigin(t, async (req, res) => {
    if (req.url === '/slow') await released;
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
    res.end(`body of ${req.url}`);
  });
  const dir = await tempDir(t);
  const file = join(dir, 'edge.yaml');
  // Ports 1 and 2 would fail to bind: the flags must win. logLevel warn would hide the "serving" line: the flag wins.
  await writeFile(file, [
    'listen: 127.0.0.1:1', 'admin:', '  listen: 127.0.0.1:2', 'logLevel: warn',
    'zones:', '  - id: cdn', '    hosts: ["*"]', `    origin: ${origin.url}`, '',
  ].join('\n'));
  const token = 'env-token-0123456789abcdef';
  const run = cli(t, ['serve', '--config', file, '--listen', FREE, '--admin-listen', FREE, '--log-level', 'info'], { EDGECACHE_ADMIN_TOKEN: token });
  const ready = await run.logLine(/^edgecache serving/);
  const base = `http://${String(ready.edge)}`;
  const admin = `http://${String(ready.admin)}`;
  assert.doesNotMatch(base, /:1$/);

  const health = await send(`${admin}/healthz`);
  assert.equal(health.status, 200);
  assert.match(String(health.headers['content-type']), /^application\/json/);
  const h = JSON.parse(health.body) as { status: string; zones: string[] };
  assert.equal(h.status, 'ok');
  assert.deepEqual(h.zones, ['cdn']);

  assert.equal((await send(`${base}/a.txt`)).headers['cf-cache-status'], 'MISS');
  assert.equal((await send(`${base}/a.txt`)).headers['cf-cache-status'], 'HIT');
  const metrics = (await send(`${admin}/metrics`)).body;
  assert.match(metrics, /^edgecache_requests_total\{zone="cdn",cache_status="HIT",status_class="2xx"\} 1$/m);
  assert.match(metrics, /^edgecache_requests_total\{zone="cdn",cache_status="MISS",status_class="2xx"\} 1$/m);
  assert.match(metrics, /^edgecache_origin_fetches_total\{kind="miss"\} 1$/m);
  assert.match(metrics, /^# TYPE edgecache_origin_errors_total counter$/m);
  assert.match(metrics, /^edgecache_objects 1$/m);
  assert.match(metrics, /^edgecache_variants 1$/m);
  assert.match(metrics, new RegExp(`^edgecache_store_bytes ${'body of /a.txt'.length}$`, 'm'));

  const purge = (tok: string) => send(`${admin}/client/v4/zones/cdn/purge_cache`, {
    method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ purge_everything: true }),
  });
  assert.equal((await purge('wrong-token-0123456789abcdef')).status, 401);
  assert.equal((await purge(token)).status, 200, 'the token from EDGECACHE_ADMIN_TOKEN is accepted');
  assert.equal((await send(`${base}/a.txt`)).headers['cf-cache-status'], 'MISS');

  // SIGTERM while /slow is in flight: new connections are refused, the request in flight completes, exit code 0.
  const inFlight = send(`${base}/slow`);
  while (origin.count('/slow') === 0) await sleep(10);
  run.child.kill('SIGTERM');
  const refusedBy = Date.now() + 20_000;
  for (;;) {
    const r = await send(`${base}/a.txt`).then(() => 'served', (e: NodeJS.ErrnoException) => e.code);
    if (r === 'ECONNREFUSED') break;
    assert.ok(Date.now() < refusedBy, `still accepting connections after SIGTERM (${r})`);
    await sleep(20);
  }
  assert.equal(run.child.exitCode, null, 'it waits for the request in flight');
  release();
  const slow = await inFlight;
  assert.equal(slow.status, 200);
  assert.equal(slow.body, 'body of /slow');
  assert.equal(await run.exited, 0);
});

test('no origin and no config (what `npm start` runs): a demo origin reflecting Origin with Vary: Origin, and curl hints', async (t) => {
  const run = cli(t, ['serve', '--listen', FREE, '--admin-listen', FREE]);
  const ready = await run.logLine(/^edgecache serving/);
  const base = `http://${String(ready.edge)}`;
  const a = { origin: 'https://app-one.example' };
  const b = { origin: 'https://app-two.example' };
  const r1 = await send(`${base}/data.json`, { headers: a });
  assert.equal(r1.status, 200);
  assert.match(String(r1.headers['content-type']), /^application\/json/);
  assert.ok(JSON.parse(r1.body));
  assert.equal(r1.headers['access-control-allow-origin'], a.origin);
  assert.match(String(r1.headers.vary), /\bOrigin\b/i);
  assert.equal(r1.headers['cf-cache-status'], 'MISS');
  const r2 = await send(`${base}/data.json`, { headers: b });
  assert.equal(r2.headers['access-control-allow-origin'], b.origin);
  assert.equal(r2.headers['cf-cache-status'], 'MISS');
  const r3 = await send(`${base}/data.json`, { headers: a });
  assert.equal(r3.headers['cf-cache-status'], 'HIT');
  assert.equal(r3.headers['access-control-allow-origin'], a.origin);
  assert.equal(r3.headers['cache-tag'], undefined, 'Cache-Tag never reaches clients');
  assert.match(run.stderr(), /curl .*-H 'Origin: https:\/\/app-one\.example'/);
  assert.match(run.stderr(), new RegExp(`${String(ready.edge).replace(/\./g, '\\.')}/data\\.json`));
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 0);
});

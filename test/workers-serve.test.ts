// End to end: `edgecache serve --workers 2` as a child process — both workers cache, a purge reaches each, SIGTERM leaves no process.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, startOrigin, startTestEdge, send, purge, sleep, type TestOrigin } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const HOST = 'cdn.example.com';
const A = 'https://a.example';
const START_TIMEOUT_MS = 30_000;

interface Serve {
  child: ChildProcess; base: string; adminBase: string; exited: Promise<number | string>; stderr(): string;
  /** SIGKILL to the primary and every worker it forked (by pid), if still running; resolves once the primary is gone. */
  kill(): Promise<void>;
}

/** `edgecache serve --workers 2 …` (node --import tsx src/cli/main.ts), ready once it logs its addresses; killed by pid at the end. */
async function serveWorkers(t: TestContext, extra: string[]): Promise<Serve> {
  const args = ['--import', 'tsx', MAIN, 'serve', '--workers', '2', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--admin-token', ADMIN_TOKEN, '--log-level', 'info', ...extra];
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  // Kill what is still running at the end, by pid: the primary, and the workers it forked (seen while it ran).
  const workerPids = new Set<number>();
  const kill = async (): Promise<void> => {
    if (isAlive(child.pid!)) for (const pid of childrenOf(child.pid!)) workerPids.add(pid); // replacements too
    for (const pid of [child.pid!, ...workerPids]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await exited;
  };
  t.after(kill);
  const ready = await new Promise<{ edge: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not serving within ${START_TIMEOUT_MS} ms; stderr: ${err.slice(-800)}`)), START_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        try {
          const j = JSON.parse(line) as { msg?: string; edge?: string; admin?: string };
          if (j.msg === 'edgecache serving with workers') { clearTimeout(timer); resolve({ edge: j.edge!, admin: j.admin! }); }
        } catch { /* not a (complete) log line */ }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited (${code}) before serving; stderr: ${err.slice(-800)}`)); });
  });
  for (const pid of childrenOf(child.pid!)) workerPids.add(pid);
  return { child, base: `http://${ready.edge}`, adminBase: `http://${ready.admin}`, exited, stderr: () => err, kill };
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The worker processes of the primary `ppid`: its children running our main.ts (tsx may add an esbuild child). Linux /proc; empty elsewhere. */
function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try { entries = readdirSync('/proc'); } catch { return pids; }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state, ppid, …
      if (Number(fields[1]) === ppid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(MAIN)) pids.push(Number(name));
    } catch { /* it exited meanwhile */ }
  }
  return pids;
}

/** An origin whose body says how many times it has been fetched (`#n`), so stale content is recognisable. */
async function countingOrigin(t: TestContext): Promise<TestOrigin> {
  const origin: TestOrigin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Origin', 'access-control-allow-origin': A });
    res.end(`body of ${req.url} #${origin.count(req.url)}`);
  });
  return origin;
}

const get = (base: string, path: string) => send(`${base}${path}`, { headers: { host: HOST, origin: A } });

interface Inspected { worker: number; selector: Record<string, string | null> }
async function inspect(s: Serve, path: string): Promise<Inspected[]> {
  const r = await send(`${s.adminBase}/edgecache/v1/zones/default/inspect`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `https://${HOST}${path}`, headers: { origin: A } }),
  });
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { result: { variants: Inspected[] } }).result.variants;
}

async function metricsText(s: Serve): Promise<string> {
  return (await send(`${s.adminBase}/metrics`)).body;
}

/** Requests on fresh connections until both workers hold the URL (the origin saw one fetch per worker). */
async function cacheOnBothWorkers(s: Serve, origin: TestOrigin, path: string): Promise<string[]> {
  const statuses: string[] = [];
  for (let i = 0; i < 40 && (origin.count(path) < 2 || statuses.length < 8); i++) {
    const r = await get(s.base, path);
    assert.equal(r.status, 200);
    statuses.push(String(r.headers['cf-cache-status']));
  }
  assert.equal(origin.count(path), 2, `one origin fetch per worker: ${statuses.join(' ')}`);
  assert.equal(statuses.filter((x) => x === 'MISS').length, 2, statuses.join(' '));
  const variants = await inspect(s, path);
  assert.deepEqual(variants.map((v) => v.worker).sort(), [0, 1], 'each worker holds its own copy');
  return statuses;
}

/**
 * After a purge: requests until every worker has refetched; no response may carry pre-purge content, each worker
 * misses exactly once, and everything afterwards is a HIT of the new content.
 */
async function expectEachWorkerRefetches(s: Serve, origin: TestOrigin, path: string): Promise<void> {
  const before = origin.count(path);
  const seen: string[] = [];
  for (let i = 0; i < 40 && (origin.count(path) < before + 2 || seen.length < 8); i++) {
    const r = await get(s.base, path);
    seen.push(`${String(r.headers['cf-cache-status'])}(${r.body.slice(r.body.indexOf('#'))})`);
    const n = Number(r.body.slice(r.body.indexOf('#') + 1));
    assert.ok(n > before, `a worker served pre-purge content after the purge answered: ${seen.join(' ')}`);
  }
  assert.equal(origin.count(path), before + 2, `each worker refetched once: ${seen.join(' ')}`);
  assert.equal(seen.filter((x) => x.startsWith('MISS')).length, 2, seen.join(' '));
  assert.ok(seen.slice(-4).every((x) => x.startsWith('HIT')), seen.join(' '));
}

/** SIGTERM to the primary: it exits 0 and none of its workers is left. */
async function stopAndCheck(s: Serve): Promise<void> {
  const workers = childrenOf(s.child.pid!);
  if (existsSync('/proc/self/stat')) assert.equal(workers.length, 2, `the primary's child processes: ${workers.join(', ')}`);
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr().slice(-800));
  const deadline = Date.now() + 5000;
  while (workers.some(isAlive) && Date.now() < deadline) await sleep(20);
  assert.deepEqual(workers.filter(isAlive), [], 'no worker process is left');
}

test('serve --workers 2: both workers cache, metrics are aggregated, a purge reaches every worker, SIGTERM exits 0 with no worker left', { timeout: 60_000 }, async (t) => {
  const origin = await countingOrigin(t);
  const s = await serveWorkers(t, ['--origin', origin.url]);
  const h = JSON.parse((await send(`${s.adminBase}/healthz`)).body) as { status: string; workers: number; cluster: unknown };
  assert.equal(h.status, 'ok');
  assert.equal(h.workers, 2);
  assert.equal(h.cluster, 'off');

  const statuses = await cacheOnBothWorkers(s, origin, '/app.js');
  const metrics = await metricsText(s);
  assert.match(metrics, /^edgecache_requests_total\{zone="default",cache_status="MISS",status_class="2xx"\} 2$/m, 'misses summed over both workers');
  assert.match(metrics, new RegExp(`^edgecache_requests_total\\{zone="default",cache_status="HIT",status_class="2xx"\\} ${statuses.length - 2}$`, 'm'));
  assert.match(metrics, /^edgecache_variants 2$/m, 'one variant in each worker');

  const answer = await purge(s, 'default', { files: [`https://${HOST}/app.js`] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  assert.equal(answer.json.success, true);
  assert.deepEqual(answer.json.messages, [], 'it matched: no "nothing matched" note');
  assert.deepEqual(await inspect(s, '/app.js'), [], 'gone from every worker by the time the purge answered');
  // What the workers matched is summed: a purge none of them matched says so.
  const none = await purge(s, 'default', { tags: ['no-such-tag'] });
  assert.deepEqual((none.json.messages as { code: number }[]).map((m) => m.code), [1100], JSON.stringify(none.json));
  await expectEachWorkerRefetches(s, origin, '/app.js');
  assert.match(await metricsText(s), /^edgecache_purges_total\{kind="files"\} 2$/m, 'applied once in each worker');

  // Purge everything too: the other kinds travel the same way.
  assert.equal((await purge(s, 'default', { purge_everything: true })).status, 200);
  await expectEachWorkerRefetches(s, origin, '/app.js');

  await stopAndCheck(s);
});

test('serve --workers 2 --cluster: a purge through another node\'s API reaches both workers', { timeout: 60_000 }, async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const redis = await startRedis();
  let other: Awaited<ReturnType<typeof startTestEdge>> | undefined;
  // After hooks run in the order they were added: the in-process node and the child (SIGKILL hook below) before Redis.
  t.after(async () => { await other?.close(1000); });
  const origin = await countingOrigin(t);
  const s = await serveWorkers(t, ['--origin', origin.url, '--cluster', redis.url]);
  t.after(() => redis.stop());
  other = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } });

  const h = JSON.parse((await send(`${s.adminBase}/healthz`)).body) as { workers: number; cluster: { connected: boolean; applied: number } };
  assert.equal(h.workers, 2);
  assert.equal(h.cluster.connected, true);

  await cacheOnBothWorkers(s, origin, '/lib.js');
  assert.equal((await get(other.base, '/lib.js')).headers['cf-cache-status'], 'MISS');
  assert.equal((await get(other.base, '/lib.js')).headers['cf-cache-status'], 'HIT');

  const answer = await purge(other, 'default', { files: [`https://${HOST}/lib.js`] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  // The primary applies it from the stream by telling both workers; wait for that (bounded), then look.
  const deadline = Date.now() + 5000;
  for (;;) {
    const c = (JSON.parse((await send(`${s.adminBase}/healthz`)).body) as { cluster: { applied: number } }).cluster;
    if (c.applied >= 1) break;
    assert.ok(Date.now() < deadline, `the workers' primary never applied the purge: ${JSON.stringify(c)}`);
    await sleep(10);
  }
  assert.deepEqual(await inspect(s, '/lib.js'), [], 'gone from both workers');
  await expectEachWorkerRefetches(s, origin, '/lib.js');
  assert.match(await metricsText(s), /^edgecache_cluster_purges_applied_total 1$/m);
  assert.equal((await get(other.base, '/lib.js')).headers['cf-cache-status'], 'MISS');

  // And the other way round: a purge through the workers' admin API reaches the other node.
  const back = await purge(s, 'default', { files: [`https://${HOST}/lib.js`] });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  const until = Date.now() + 5000;
  while ((JSON.parse((await send(`${other.adminBase}/healthz`)).body) as { cluster: { applied: number } }).cluster.applied < 2) {
    assert.ok(Date.now() < until, 'the other node applied the purge from the workers\' node');
    await sleep(10);
  }
  assert.equal((await get(other.base, '/lib.js')).headers['cf-cache-status'], 'MISS');
  await expectEachWorkerRefetches(s, origin, '/lib.js');

  await stopAndCheck(s);
});

test('serve --workers 2 with a disk store: a worker that dies and is restarted while a purge happens does not serve what was purged', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-workers-disk-'));
  let s: Serve | undefined;
  // After hooks run in the order they were added: stop the processes (by pid) before their directory goes.
  t.after(async () => { await s?.kill(); await rm(dir, { recursive: true, force: true }); });
  const file = join(dir, 'edge.json');
  await writeFile(file, JSON.stringify({ cache: { store: 'disk', path: join(dir, 'cache') } }));
  const origin = await countingOrigin(t);
  s = await serveWorkers(t, ['--config', file, '--origin', origin.url]);
  await cacheOnBothWorkers(s, origin, '/app.js'); // bodies #1 and #2

  const [victim] = childrenOf(s.child.pid!);
  assert.ok(victim !== undefined, 'found a worker pid');
  process.kill(victim, 'SIGKILL'); // a descendant of the child this test started
  while (isAlive(victim)) await sleep(5);
  const answer = await purge(s, 'default', { files: [`https://${HOST}/app.js`] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const h = JSON.parse((await send(`${s.adminBase}/healthz`)).body) as { workers: number };
    if (h.workers === 2 && childrenOf(s.child.pid!).length === 2) break;
    assert.ok(Date.now() < deadline, 'the primary restarts the dead worker');
    await sleep(50);
  }
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await get(s.base, '/app.js');
    seen.push(`${String(r.headers['cf-cache-status'])}(${r.body.slice(r.body.indexOf('#'))})`);
  }
  assert.ok(seen.every((x) => !/\(#[12]\)/.test(x)), `pre-purge content served after the purge answered: ${seen.join(' ')}`);
  await stopAndCheck(s);
});

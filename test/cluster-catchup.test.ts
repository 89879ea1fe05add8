// End to end: a disk-store node stopped while purges happen catches up from the stream on restart, or drops its cache when trimmed past.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from '../src/observability/logger.js';
import { startOrigin, startTestEdge, send, purge, metric, sleep, type TestOrigin } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis, type RedisHandle } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';
import { captureLogs } from './helpers/capture-logger.js';

const A = 'https://a.example';
const HOST = 'cdn.example.com';
const STREAM = 'edgecache:purges';

type Node = Awaited<ReturnType<typeof startTestEdge>>;
interface ClusterHealth { connected: boolean; applied: number; lastAppliedId: string | null; resets: number }

interface Setup { redis: RedisHandle; origin: TestOrigin; dir: string; hub: Node; nodes: Node[] }

/** Redis, an origin (tags /tagged/* "release-1"), a memory node to purge through, and a cache directory for the disk node. */
async function setup(t: TestContext): Promise<Setup | null> {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return null;
  const redis = await startRedis();
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-cluster-disk-'));
  const nodes: Node[] = [];
  // After hooks run in the order they were added: this one closes the edges (idempotent) before their directory and Redis go.
  t.after(async () => {
    for (const n of nodes) await n.close(1000);
    await rm(dir, { recursive: true, force: true });
    await redis.stop();
  });
  const origin: TestOrigin = await startOrigin(t, (req, res) => {
    const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Origin', 'access-control-allow-origin': A };
    if (req.url!.startsWith('/tagged/')) h['cache-tag'] = 'release-1';
    res.writeHead(200, h);
    res.end(`body of ${req.url} #${origin.count(req.url)}`); // #n: the origin's nth fetch of this URL
  });
  const hub = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } });
  nodes.push(hub);
  return { redis, origin, dir, hub, nodes };
}

async function diskNode(t: TestContext, s: Setup, listen?: string, logger?: Logger): Promise<Node> {
  const input = { origin: s.origin.url, cluster: { redis: s.redis.url }, cache: { store: 'disk' as const, path: s.dir }, ...(listen ? { listen } : {}) };
  const n = await startTestEdge(t, input, logger ? { logger } : {});
  s.nodes.push(n);
  return n;
}

const statusOf = async (base: string, path: string): Promise<string> =>
  String((await send(`${base}${path}`, { headers: { host: HOST, origin: A } })).headers['cf-cache-status']);

async function cacheAll(n: Node, paths: string[]): Promise<void> {
  for (const p of paths) {
    assert.equal(await statusOf(n.base, p), 'MISS', `${p} first fetch`);
    assert.equal(await statusOf(n.base, p), 'HIT', `${p} cached`);
  }
}

async function clusterHealth(n: Node): Promise<ClusterHealth> {
  return (JSON.parse((await send(`${n.adminBase}/healthz`)).body) as { cluster: ClusterHealth }).cluster;
}

/** The stream position (its id) the disk node persists next to its entries, once it equals what healthz reports (bounded wait). */
async function persistedPosition(n: Node, dir: string): Promise<string> {
  const want = (await clusterHealth(n)).lastAppliedId;
  assert.match(String(want), /^\d+-\d+$/);
  const deadline = Date.now() + 2000;
  for (;;) {
    // "<id> <stream identity>": the identity comes with the id, so a stream lost or rolled back is noticed.
    const saved = await readFile(join(dir, 'stream-position'), 'utf8').catch(() => '');
    const [id, streamId] = saved.trim().split(' ');
    if (id === want && /^[0-9a-f-]{36}$/.test(streamId ?? '')) return id;
    assert.ok(Date.now() < deadline, `stream-position holds ${JSON.stringify(saved)}, healthz says ${want}`);
    await sleep(20);
  }
}

async function untilApplied(n: Node, count: number): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const h = await clusterHealth(n);
    if (h.applied >= count) return;
    assert.ok(Date.now() < deadline, `node applied ${h.applied} purges, expected ${count}`);
    await sleep(10);
  }
}

/** A pino logger (warn and up) whose parsed JSON lines land in `lines`. */
const captureLogger = () => captureLogs<{ level: number; msg: string; reason?: string }>('warn');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test('a disk node stopped while purges happen catches them up from the stream on restart: purged entries MISS, the rest still HIT', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const paths = ['/gone.js', '/tagged/t.js', '/kept.js', '/kept-too.js'];
  const first = await diskNode(t, s);
  await cacheAll(first, paths);
  await cacheAll(s.hub, ['/gone.js']);
  // One purge while it runs, so its saved position is a real stream id (not the empty stream's 0-0).
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  const position = await persistedPosition(first, s.dir);
  await first.close(1000);

  // While it is down: a URL purge and a tag purge through the other node.
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/gone.js`] })).status, 200);
  assert.equal((await purge(s.hub, 'default', { tags: ['release-1'] })).status, 200);
  assert.equal(await statusOf(s.hub.base, '/gone.js'), 'MISS', 'applied on the node that took it');
  const fetched = s.origin.requests.length;

  const second = await diskNode(t, s);
  // startEdge resolves once the node is positioned in the stream, not once it has read the backlog (see the
  // start-up test below): wait for the two missed purges to be applied before asking.
  await untilApplied(second, 2);
  assert.equal(await statusOf(second.base, '/gone.js'), 'MISS', 'purged by URL while the node was down');
  assert.equal(await statusOf(second.base, '/tagged/t.js'), 'MISS', 'purged by tag while the node was down');
  assert.equal(await statusOf(second.base, '/kept.js'), 'HIT', 'unpurged entries survive the restart');
  assert.equal(await statusOf(second.base, '/kept-too.js'), 'HIT');
  assert.equal(s.origin.requests.length, fetched + 2, 'only the purged entries were refetched');
  const h = await clusterHealth(second);
  assert.equal(h.connected, true);
  assert.equal(h.resets, 0, 'caught up from its saved position, not by dropping its cache');
  assert.equal(h.applied, 2, 'exactly the two purges it missed were applied');
  assert.notEqual(h.lastAppliedId, position);
  assert.equal(h.lastAppliedId, (await clusterHealth(s.hub)).lastAppliedId, 'it stands where the cluster stands');
  assert.equal(await metric(second, 'edgecache_cluster_cache_resets_total'), 0);
  assert.equal(await metric(second, 'edgecache_cluster_purges_applied_total'), 2);
});

// Polls the edge port while the node starts: startEdge() must apply the missed purges before the edge listens.
test('while a restarted disk node is starting, no request is served an entry purged while it was down', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const listen = `127.0.0.1:${await freePort()}`;
  const first = await diskNode(t, s, listen);
  await cacheAll(first, ['/gone.js']);
  const staleBody = `body of /gone.js #1`;
  assert.equal((await send(`${first.base}/gone.js`, { headers: { host: HOST, origin: A } })).body, staleBody);
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  await persistedPosition(first, s.dir);
  await first.close(1000);
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/gone.js`] })).status, 200);

  // Poll the node's edge port on fresh connections while it starts, and for a moment after.
  const seen: string[] = [];
  let isPolling = true;
  const poller = (async () => {
    while (isPolling) {
      const r = await send(`http://${listen}/gone.js`, { headers: { host: HOST, origin: A } }).catch(() => undefined);
      if (r) seen.push(`${String(r.headers['cf-cache-status'])}(${r.body})`);
    }
  })();
  try {
    await diskNode(t, s, listen);
    await sleep(50);
  } finally {
    isPolling = false;
    await poller;
  }
  assert.ok(seen.length > 0, 'the poller reached the restarted node');
  const stale = seen.filter((x) => x.includes(staleBody));
  assert.deepEqual(stale, [], `purged content was served during start-up; responses in order: ${seen.slice(0, 8).join(' ')}…`);
});

test('a disk node whose position was trimmed out of the stream drops its whole cache (once, counted, logged), and the drop survives another restart', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const first = await diskNode(t, s);
  await cacheAll(first, ['/a.js', '/b.js', '/c.js']);
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  await persistedPosition(first, s.dir);
  await first.close(1000);

  // Missed purges, then trimmed away before the node comes back: it cannot know what they named.
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/a.js`] })).status, 200);
  assert.equal((await purge(s.hub, 'default', { tags: ['nothing-here'] })).status, 200);
  const admin = new Redis(s.redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  t.after(() => admin.disconnect());
  assert.equal(await admin.xtrim(STREAM, 'MAXLEN', 0), 3, 'every entry is trimmed away');

  const fetched = s.origin.requests.length;
  const log = captureLogger();
  const second = await diskNode(t, s, undefined, log.logger);
  assert.equal(await statusOf(second.base, '/a.js'), 'MISS', 'the purged entry');
  assert.equal(await statusOf(second.base, '/b.js'), 'MISS', 'an unpurged one too: the node cannot know it is safe');
  assert.equal(s.origin.requests.length, fetched + 2);
  assert.equal(await metric(second, 'edgecache_cluster_cache_resets_total'), 1);
  const h = await clusterHealth(second);
  assert.equal(h.resets, 1);
  assert.equal(h.applied, 0, 'nothing from before the reset is replayed');
  const why = log.lines.filter((l) => /dropping the whole cache/.test(l.msg));
  assert.equal(why.length, 1, `the drop is logged once: ${JSON.stringify(log.lines)}`);
  assert.match(String(why[0]!.reason), /no longer in the stream/, 'with the reason');

  // It continues from the stream head: the next purge applies here.
  assert.equal(await statusOf(second.base, '/b.js'), 'HIT');
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/b.js`] })).status, 200);
  await untilApplied(second, 1);
  assert.equal(await statusOf(second.base, '/b.js'), 'MISS');
  assert.equal(await statusOf(second.base, '/a.js'), 'HIT');
  await persistedPosition(second, s.dir);
  await second.close(1000);

  // Restarted again, after missing one more purge (caught up, no reset): /c.js, dropped by the reset and never
  // refetched, stays dropped — the reset was persisted, not just applied in memory.
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  const third = await diskNode(t, s);
  await untilApplied(third, 1);
  assert.equal(await statusOf(third.base, '/a.js'), 'HIT', 'refetched after the reset, kept on disk');
  assert.equal(await statusOf(third.base, '/b.js'), 'HIT');
  assert.equal(await statusOf(third.base, '/c.js'), 'MISS', 'dropped entries do not come back');
  assert.equal((await clusterHealth(third)).resets, 0);
});

// Guards a fixed bug: startControlPlane() (src/control/control-plane.ts) once started `lastApplied` at null, and the bus
// reports nothing through onApplied when the saved position is already the stream head, so the start-up catch-up
// wait for that head never settled: it ran to CATCH_UP_WAIT_MS (15 s) and logged a false error.
test('a disk node restarted with nothing missed serves at once, without a false "missed purges" error', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const first = await diskNode(t, s);
  await cacheAll(first, ['/kept.js']);
  assert.equal((await purge(s.hub, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  const position = await persistedPosition(first, s.dir);
  await first.close(1000);

  const log = captureLogger();
  const second = await diskNode(t, s, undefined, log.logger);
  assert.equal(await statusOf(second.base, '/kept.js'), 'HIT');
  const h = await clusterHealth(second);
  assert.equal(h.lastAppliedId, position, 'nothing to catch up');
  assert.equal(h.resets, 0);
  assert.deepEqual(log.lines.filter((l) => l.level >= 50).map((l) => l.msg), [], 'a clean restart logs no error');
});

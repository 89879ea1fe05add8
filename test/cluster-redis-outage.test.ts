// End to end: Redis stopped mid-run — purges answer 503 and apply nowhere, serving goes on; restarted — nodes reconnect and purge again.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startOrigin, startTestEdge, send, purge, metric, sleep, type TestOrigin } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis, type RedisHandle } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';

const A = 'https://a.example';
const HOST = 'cdn.example.com';

type Node = Awaited<ReturnType<typeof startTestEdge>>;
interface ClusterHealth { connected: boolean; applied: number; reconnects: number; resets: number; lastAppliedId: string | null }

async function health(n: Node): Promise<{ status: number; cluster: ClusterHealth }> {
  const r = await send(`${n.adminBase}/healthz`);
  return { status: r.status, cluster: (JSON.parse(r.body) as { cluster: ClusterHealth }).cluster };
}

/** Polls every node's /healthz until `isDone` holds for its cluster state (bounded). */
async function untilEvery(nodes: Node[], isDone: (c: ClusterHealth) => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const n of nodes) {
    for (;;) {
      const h = await health(n);
      if (isDone(h.cluster)) break;
      assert.ok(Date.now() < deadline, `${what}: node ${n.edge.port} reports ${JSON.stringify(h.cluster)}`);
      await sleep(20);
    }
  }
}

interface Outage { nodes: Node[]; origin: TestOrigin; statusOf(n: Node, path: string): Promise<string>; restart(): Promise<RedisHandle> }

/**
 * Three nodes on one Redis, each caching /a.js and /b.js, one purge applied everywhere; then Redis is stopped and the
 * checks that hold while it is down are made: 503 with a Cloudflare-shaped error, nothing applied, HITs go on.
 * `isPersistent`: Redis keeps its data across the restart (AOF in a directory of ours), else it comes back empty.
 */
async function outage(t: TestContext, isPersistent: boolean): Promise<Outage> {
  const dataDir = await mkdtemp(join(tmpdir(), 'edgecache-redis-data-'));
  const redisOpts = isPersistent ? { dir: dataDir, args: ['--appendonly', 'yes'] } : {};
  const redises: RedisHandle[] = [await startRedis(redisOpts)];
  const nodes: Node[] = [];
  // After hooks run in the order they were added: edges first, then every Redis started here, then its data.
  t.after(async () => {
    for (const n of nodes) await n.close(1000);
    for (const r of redises) await r.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const first = redises[0]!;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Origin', 'access-control-allow-origin': A });
    res.end(`body of ${req.url}`);
  });
  for (let i = 0; i < 3; i++) nodes.push(await startTestEdge(t, { origin: origin.url, cluster: { redis: first.url } }));
  const statusOf = async (n: Node, path: string): Promise<string> =>
    String((await send(`${n.base}${path}`, { headers: { host: HOST, origin: A } })).headers['cf-cache-status']);
  for (const n of nodes) {
    for (const p of ['/a.js', '/b.js']) {
      assert.equal(await statusOf(n, p), 'MISS');
      assert.equal(await statusOf(n, p), 'HIT');
    }
  }
  assert.equal((await purge(nodes[0]!, 'default', { files: [`https://${HOST}/unrelated.js`] })).status, 200);
  await untilEvery(nodes, (c) => c.applied === 1 && c.connected, 'the first purge is applied everywhere');

  await first.stop();
  await untilEvery(nodes, (c) => !c.connected, 'every node notices Redis is gone');

  for (const [via, body] of [[0, { files: [`https://${HOST}/a.js`] }], [1, { tags: ['anything'] }], [2, { purge_everything: true }]] as const) {
    const answer = await purge(nodes[via]!, 'default', body);
    assert.equal(answer.status, 503, `purge through node ${via} while Redis is down`);
    assert.equal(answer.json.success, false);
    assert.deepEqual(answer.json.result, null);
    assert.deepEqual(answer.json.messages, []);
    const errors = answer.json.errors as { code: number; message: string }[];
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 1018);
    assert.match(errors[0]!.message, /cluster unavailable/i);
    assert.match(errors[0]!.message, /retry/i, 'the error says what to do');
  }
  for (const n of nodes) {
    assert.equal(await statusOf(n, '/a.js'), 'HIT', 'nothing was applied, not even on the node that took the purge');
    assert.equal(await statusOf(n, '/b.js'), 'HIT', 'serving from cache goes on without Redis');
    const h = await health(n);
    assert.equal(h.status, 200, 'healthz stays 200: the node still serves');
    assert.equal(h.cluster.connected, false);
    assert.equal(h.cluster.applied, 1);
    assert.equal(await metric(n, 'edgecache_cluster_connected'), 0);
  }
  assert.equal(origin.requests.length, 6, 'no refetch while Redis was down');

  return {
    nodes, origin, statusOf,
    async restart() {
      const r = await startRedis({ ...redisOpts, port: first.port });
      redises.push(r);
      await untilEvery(nodes, (c) => c.connected, 'every node reconnects on its own', 10_000);
      for (const n of nodes) {
        assert.ok((await health(n)).cluster.reconnects >= 1, 'reconnects counted in healthz');
        assert.ok(await metric(n, 'edgecache_cluster_reconnects_total') >= 1, 'and in /metrics');
      }
      return r;
    },
  };
}

test('Redis stopped mid-run: purges answer 503 and apply nowhere, HITs go on, healthz says disconnected; restarted with its data: reconnect, the next purge applies everywhere', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const { nodes, statusOf, restart } = await outage(t, true);
  await restart();
  for (const n of nodes) assert.equal((await health(n)).cluster.resets, 0, 'Redis kept the stream, so nothing was missed and nothing is dropped');

  const answer = await purge(nodes[1]!, 'default', { files: [`https://${HOST}/a.js`] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  await untilEvery(nodes, (c) => c.applied === 2, 'the purge after the restart is applied everywhere');
  for (const n of nodes) {
    assert.equal(await statusOf(n, '/a.js'), 'MISS', `node ${n.edge.port}: purged after Redis came back`);
    assert.equal(await statusOf(n, '/b.js'), 'HIT');
    assert.equal(await metric(n, 'edgecache_cluster_purges_applied_total'), 2, 'the three refused purges were never applied');
  }
});

test('Redis restarted empty (no persistence): every node reconnects, drops its cache once (the purge history is gone), and purges work again', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const { nodes, origin, statusOf, restart } = await outage(t, false);
  const redis = await restart();
  await untilEvery(nodes, (c) => c.resets === 1, 'each node noticed the stream history was lost');
  const fetched = origin.requests.length;
  for (const n of nodes) {
    assert.equal(await statusOf(n, '/b.js'), 'MISS', 'dropped: a purge may have been lost with the stream');
    assert.equal(await statusOf(n, '/b.js'), 'HIT');
    assert.equal(await metric(n, 'edgecache_cluster_cache_resets_total'), 1);
  }
  assert.equal(origin.requests.length, fetched + 3);

  const answer = await purge(nodes[2]!, 'default', { files: [`https://${HOST}/b.js`] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  t.after(() => admin.disconnect());
  const info = (await admin.xinfo('STREAM', 'edgecache:purges')) as unknown[];
  const last = String(info[info.indexOf('last-generated-id') + 1]);
  assert.match(last, /^\d+-\d+$/);
  await untilEvery(nodes, (c) => c.lastAppliedId === last, 'every node reached the new stream\'s last entry');
  for (const n of nodes) {
    assert.equal(await statusOf(n, '/b.js'), 'MISS', `node ${n.edge.port}: purged through the new stream`);
    assert.equal((await health(n)).cluster.resets, 1, 'one reset only');
  }
});

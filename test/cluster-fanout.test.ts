// End to end: three in-process edges on one real redis-server; every purge kind accepted by one node's API applies on all.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, purge, metric, sleep, type TestOrigin } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';

const A = 'https://a.example';
const B = 'https://b.example';
const CDN = 'cdn.example.com';
const IMG = 'img.example.com';

type Node = Awaited<ReturnType<typeof startTestEdge>>;
interface ClusterHealth { connected: boolean; applied: number; lastAppliedId: string | null; reconnects: number; resets: number; lagMs: number }

/** An origin that reflects Origin (Vary: Origin), tags /tagged/* with "release-1", and counts every fetch. */
async function variantOrigin(t: TestContext): Promise<TestOrigin> {
  return startOrigin(t, (req, res) => {
    const o = req.headers.origin as string | undefined;
    const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Origin' };
    if (o === A || o === B) h['access-control-allow-origin'] = o;
    if (req.url!.startsWith('/tagged/')) h['cache-tag'] = 'release-1';
    res.writeHead(200, h);
    res.end(`${String(req.headers.host)}${req.url} for ${o ?? 'none'}`);
  });
}

const get = (n: Node, host: string, path: string, o: string) => send(`${n.base}${path}`, { headers: { host, origin: o } });
const status = async (n: Node, host: string, path: string, o: string): Promise<string> => String((await get(n, host, path, o)).headers['cf-cache-status']);

async function clusterHealth(n: Node): Promise<{ status: number; cluster: ClusterHealth }> {
  const r = await send(`${n.adminBase}/healthz`);
  return { status: r.status, cluster: (JSON.parse(r.body) as { cluster: ClusterHealth }).cluster };
}

/** Waits (bounded) until every node has applied `count` purges from the stream. */
async function untilApplied(nodes: Node[], count: number): Promise<void> {
  const deadline = Date.now() + 3000;
  for (const n of nodes) {
    for (;;) {
      const { cluster } = await clusterHealth(n);
      if (cluster.applied >= count) break;
      assert.ok(Date.now() < deadline, `node ${n.edge.port} applied ${cluster.applied} purges, expected ${count}`);
      await sleep(10);
    }
  }
}

test('fan-out: a purge of each kind accepted by any node\'s API applies on all 3 nodes; healthz and metrics report the cluster', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const redis = await startRedis();
  const nodes: Node[] = [];
  // After hooks run in the order they were added: close the edges (idempotent) before Redis stops.
  t.after(async () => { for (const n of nodes) await n.close(1000); await redis.stop(); });
  const origin = await variantOrigin(t);
  for (let i = 0; i < 3; i++) nodes.push(await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } }));

  for (const n of nodes) {
    const h = await clusterHealth(n);
    assert.equal(h.status, 200);
    assert.equal(h.cluster.connected, true, 'healthz reports the node connected to Redis');
    assert.equal(h.cluster.resets, 0);
  }

  const objects: [string, string][] = [
    [CDN, '/file.js'], [CDN, '/hdr.js'], [CDN, '/tagged/a.js'], [IMG, '/logo.png'], [CDN, '/pre/x.js'], [CDN, '/other.js'],
  ];
  /** Every node caches both Origin variants of every object: 3 × 2 origin fetches each. */
  const warm = async (): Promise<void> => {
    for (const n of nodes) {
      for (const [host, path] of objects) {
        for (const o of [A, B]) {
          const first = await status(n, host, path, o);
          if (first !== 'HIT') assert.equal(first, 'MISS', `${host}${path} ${o}`);
          assert.equal(await status(n, host, path, o), 'HIT', `${host}${path} ${o} cached on node ${n.edge.port}`);
        }
      }
    }
  };
  await warm();
  for (const [host, path] of objects) assert.equal(origin.count(path), 6, `${host}${path}: one fetch per node per variant`);

  /** Asserts what every node now answers for each (host, path, Origin): MISS for the purged ones, HIT for the rest. */
  const expectEverywhere = async (purged: (host: string, path: string, o: string) => boolean, what: string): Promise<void> => {
    for (const n of nodes) {
      for (const [host, path] of objects) {
        for (const o of [A, B]) {
          const want = purged(host, path, o) ? 'MISS' : 'HIT';
          const r = await get(n, host, path, o);
          assert.equal(r.headers['cf-cache-status'], want, `${what}: ${host}${path} with Origin ${o} on node ${n.edge.port}`);
          assert.equal(r.body, `${host}${path} for ${o}`);
          assert.equal(r.headers['access-control-allow-origin'], o);
        }
      }
    }
  };

  const cases: { body: unknown; via: number; purged: (host: string, path: string, o: string) => boolean; what: string }[] = [
    { what: 'files', via: 0, body: { files: [`https://${CDN}/file.js`] }, purged: (_h, p) => p === '/file.js' },
    { what: 'files with headers', via: 1, body: { files: [{ url: `https://${CDN}/hdr.js`, headers: { Origin: A } }] }, purged: (_h, p, o) => p === '/hdr.js' && o === A },
    { what: 'tags', via: 2, body: { tags: ['Release-1'] }, purged: (_h, p) => p.startsWith('/tagged/') },
    { what: 'hosts', via: 0, body: { hosts: [IMG] }, purged: (h) => h === IMG },
    { what: 'prefixes', via: 1, body: { prefixes: [`${CDN}/pre/`] }, purged: (h, p) => h === CDN && p.startsWith('/pre/') },
    { what: 'everything', via: 2, body: { purge_everything: true }, purged: () => true },
  ];
  let applied = 0;
  for (const c of cases) {
    const before = origin.requests.length;
    const purger = nodes[c.via]!;
    const answer = await purge(purger, 'default', c.body);
    assert.equal(answer.status, 200, `${c.what}: ${JSON.stringify(answer.json)}`);
    assert.equal(answer.json.success, true);
    applied++;
    // The node whose API answered has applied it already (it waits for its own stream entry).
    assert.equal((await clusterHealth(purger)).cluster.applied, applied, `${c.what}: applied on the answering node before the 200`);
    // The 200 promises the purge is in the stream and applied on the answering node; the others apply it as they
    // read it (milliseconds): wait for that, bounded, rather than race it.
    await untilApplied(nodes, applied);
    await expectEverywhere(c.purged, c.what);
    let purgedCount = 0;
    for (const [host, path] of objects) for (const o of [A, B]) if (c.purged(host, path, o)) purgedCount++;
    assert.equal(origin.requests.length - before, purgedCount * nodes.length, `${c.what}: each node refetched exactly what was purged`);
    await warm(); // the next case starts from a full cache on every node
  }

  for (const n of nodes) {
    assert.equal(await metric(n, 'edgecache_cluster_purges_applied_total'), cases.length, `node ${n.edge.port} counted every purge`);
    assert.equal(await metric(n, 'edgecache_cluster_connected'), 1);
    assert.equal(await metric(n, 'edgecache_cluster_cache_resets_total'), 0);
    const h = await clusterHealth(n);
    assert.equal(h.cluster.connected, true);
    assert.match(String(h.cluster.lastAppliedId), /^\d+-\d+$/);
  }
  const ids = await Promise.all(nodes.map(async (n) => (await clusterHealth(n)).cluster.lastAppliedId));
  assert.equal(new Set(ids).size, 1, 'every node stands at the same stream id');
});

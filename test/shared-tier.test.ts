// End to end: the Redis shared cache tier: node 2 is served what node 1 fetched, purges reach the tier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, purge, sleep } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';

/** Both nodes serve one site: the Host (not each node's own address) is in the key. */
const H = { headers: { host: 'cdn.test' } };

async function twoNodes(t: import('node:test').TestContext, originUrl: string) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const cluster = { redis: redis.url, sharedCache: true };
  const a = await startTestEdge(t, { origin: originUrl, cluster });
  const b = await startTestEdge(t, { origin: originUrl, cluster });
  return { a, b };
}

const cacheable = (body: string) => (_req: unknown, res: import('node:http').ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Origin', 'cache-tag': 'shared' });
  res.end(body);
};

test('node 2 gets a HIT from the shared tier for what node 1 fetched: one origin fetch per variant', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const origin = await startOrigin(t, cacheable('v1'));
  const { a, b } = await twoNodes(t, origin.url);
  const headers = { host: 'cdn.test', origin: 'https://app.example' };
  const r1 = await send(`${a.base}/asset`, { headers });
  assert.equal(r1.headers['cf-cache-status'], 'MISS');
  await sleep(100); // the write-through to Redis is not on the response path
  const r2 = await send(`${b.base}/asset`, { headers });
  assert.equal(r2.headers['cf-cache-status'], 'HIT', 'node 2 served from the tier');
  assert.match(String(r2.headers['cache-status']), /detail=shared-tier/);
  assert.equal(r2.body, 'v1');
  assert.equal(origin.count('/asset'), 1, 'one origin fetch for two nodes');
  // Another Origin is another variant: the tier does not hand it app.example's answer.
  const r3 = await send(`${b.base}/asset`, { headers: { host: 'cdn.test', origin: 'https://other.example' } });
  assert.equal(r3.headers['cf-cache-status'], 'MISS');
  assert.equal(origin.count('/asset'), 2);
});

test('a purge through one node removes the tier entry too: no node refills from it', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  let version = 'v1';
  const origin = await startOrigin(t, (req, res) => cacheable(version)(req, res));
  const { a, b } = await twoNodes(t, origin.url);
  await send(`${a.base}/asset`, H);
  await sleep(100);
  assert.equal((await send(`${b.base}/asset`, H)).headers['cf-cache-status'], 'HIT');
  version = 'v2';
  const p = await purge(a, 'default', { tags: ['shared'] });
  assert.equal(p.status, 200);
  await sleep(100);
  const after = await send(`${b.base}/asset`, H);
  assert.equal(after.body, 'v2', 'node 2 neither kept its copy nor refilled it from the tier');
  assert.notEqual(after.headers['cf-cache-status'], 'HIT');
});

test('a cold object requested on both nodes at once is fetched from the origin once (cross-node collapsing)', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const origin = await startOrigin(t, async (_req, res) => { await sleep(300); cacheable('slow')(_req, res); });
  const { a, b } = await twoNodes(t, origin.url);
  const all = await Promise.all([...Array(5)].flatMap(() => [send(`${a.base}/cold`, H), send(`${b.base}/cold`, H)]));
  for (const r of all) assert.equal(r.body, 'slow');
  assert.equal(origin.count('/cold'), 1, 'one origin request for ten clients on two nodes');
});

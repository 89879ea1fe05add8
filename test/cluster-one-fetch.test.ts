// End to end: one origin fetch per variant across the cluster — the cross-node fill lock is held until the write-through
// has landed, and a node that wins the lock just after another node let go looks in the tier once more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const URLS = 20;
const LINK_DELAY_MS = 10;

test('20 URLs requested at once on each of 3 nodes: exactly 20 origin fetches, every answer right', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const origin = await startOrigin(t, async (req, res) => {
    await sleep(30 + Math.floor(Math.random() * 40)); // fills overlap and end at different times
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(`body of ${req.url}`);
  });
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    // A few ms between each node and Redis, as between machines: a lock let go before the write landed shows. A
    // generous bound: on a loaded machine a tier operation timing out would be a miss, and so an origin fetch.
    const link = await startTcpProxy(redis.port);
    t.after(() => link.close());
    link.setDelay(LINK_DELAY_MS);
    nodes.push(await startTestEdge(t, { origin: origin.url, cluster: { redis: link.url, sharedCache: { timeoutMs: 2000 } } }));
  }
  const paths = Array.from({ length: URLS }, (_, i) => `/asset-${i}.js`);
  const answers = await Promise.all(nodes.flatMap((n) => paths.map(async (p) => ({ p, r: await send(`${n.base}${p}`, { headers: { host: 'cdn.test' } }) }))));
  for (const { p, r } of answers) {
    assert.equal(r.status, 200);
    assert.equal(r.body, `body of ${p}`);
  }
  const perPath = paths.map((p) => origin.count(p));
  const tiers = await Promise.all(nodes.map(async (n) => (JSON.parse((await send(`${n.adminBase}/healthz`)).body) as { sharedTier: unknown }).sharedTier));
  assert.deepEqual(perPath, paths.map(() => 1), `origin fetches per URL: ${perPath.join(',')}; tiers ${JSON.stringify(tiers)}`);
  assert.equal(origin.count(), URLS);
});

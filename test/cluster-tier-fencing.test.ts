// End to end: a node with latency to Redis finishes a fetch that started before a purge; its write-through lands in the
// shared tier after the purge and is refused there (fenced), so no node is served the purged answer from the tier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, purge, sleep } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const H = { headers: { host: 'cdn.test' } };
/** One-way latency on node B's link to Redis: each tier operation (two round trips at most) stays within its 200 ms bound. */
const LINK_DELAY_MS = 40;

async function tierState(n: { adminBase: string }): Promise<{ fenced: number; errors: number }> {
  return (JSON.parse((await send(`${n.adminBase}/healthz`)).body) as { sharedTier: { fenced: number; errors: number } }).sharedTier;
}

test('a write-through that lands after a purge is refused by the tier: the purged answer is served nowhere', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const proxy = await startTcpProxy(redis.port);
  t.after(() => proxy.close());

  let version = 'v1';
  let openGate: () => void = () => {};
  let gate: Promise<void> | undefined;
  const origin = await startOrigin(t, async (_req, res) => {
    const answer = version; // what the origin had when the fetch reached it
    if (gate) await gate;
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(answer);
  });
  const direct = { redis: redis.url, sharedCache: true };
  const a = await startTestEdge(t, { origin: origin.url, cluster: direct });
  const b = await startTestEdge(t, { origin: origin.url, cluster: { redis: proxy.url, sharedCache: true } });
  const c = await startTestEdge(t, { origin: origin.url, cluster: direct });

  proxy.setDelay(LINK_DELAY_MS);
  gate = new Promise((resolve) => (openGate = resolve));
  const slow = send(`${b.base}/x`, H); // B's fetch starts under the current purge generation…
  for (let i = 0; i < 200 && origin.count('/x') === 0; i++) await sleep(10);
  assert.equal(origin.count('/x'), 1, 'B reached the origin');
  version = 'v2';
  assert.equal((await purge(a, 'default', { files: ['http://cdn.test/x'] })).status, 200, 'the purge is acknowledged');
  openGate(); // …and ends right after the purge: B stores it before the purge reaches B over its slow link
  assert.equal((await slow).body, 'v1');
  await sleep(1000); // B's write-through and B's copy of the purge have both landed by now

  const fromC = await send(`${c.base}/x`, H);
  assert.equal(fromC.body, 'v2', 'node C is not served the purged answer from the tier');
  assert.equal(fromC.headers['cf-cache-status'], 'MISS');
  assert.equal((await send(`${b.base}/x`, H)).body, 'v2', 'node B applied the purge too');
  const bTier = await tierState(b);
  assert.equal(bTier.fenced, 1, `B's late write was refused by the fence (${JSON.stringify(bTier)})`);
});

// Clocks and Redis settings in a cluster: a node's clock offset to Redis is measured, logged past a second and exposed;
// ages of shared-tier entries do not depend on the storing node's clock; a tier in an allkeys-* Redis is not used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, metric, sleep } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';
import { captureLogs } from './helpers/capture-logger.js';

const H = { headers: { host: 'cdn.test' } };
const SKEW_MS = 30_000;

const captureLogger = () => captureLogs<{ level: number; msg: string; offsetMs?: number; policy?: string }>('warn');

async function until(isDone: () => boolean | Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await isDone())) {
    assert.ok(Date.now() < deadline, `timed out: ${what}`);
    await sleep(20);
  }
}

test('a node whose clock is 30 s behind: offset measured, logged, exposed; ages of what it stores in the tier are right elsewhere', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end('body');
  });
  const cluster = { redis: redis.url, sharedCache: true };
  const behind = captureLogger();
  const slow = await startTestEdge(t, { origin: origin.url, cluster }, { clock: { now: () => Date.now() - SKEW_MS }, logger: behind.logger });
  const right = captureLogger();
  const exact = await startTestEdge(t, { origin: origin.url, cluster }, { logger: right.logger });

  await until(async () => (await metric(slow, 'edgecache_cluster_clock_offset_seconds')) !== 0, 'the offset is measured');
  const offset = (await metric(slow, 'edgecache_cluster_clock_offset_seconds')) * 1000;
  assert.ok(Math.abs(offset + SKEW_MS) < 500, `offset ${offset} ms ≈ -${SKEW_MS}`);
  assert.ok(behind.lines.some((l) => /clock is off/.test(l.msg) && Math.abs((l.offsetMs ?? 0) + SKEW_MS) < 500), 'logged');
  assert.ok(Math.abs(await metric(exact, 'edgecache_cluster_clock_offset_seconds')) < 0.5, 'the exact node measures about 0');
  assert.ok(!right.lines.some((l) => /clock is off/.test(l.msg)), 'and logs nothing');

  assert.equal((await send(`${slow.base}/a`, H)).headers['cf-cache-status'], 'MISS');
  await sleep(200); // the write-through is not on the response path
  const fromTier = await send(`${exact.base}/a`, H);
  assert.equal(fromTier.headers['cf-cache-status'], 'HIT');
  assert.match(String(fromTier.headers['cache-status']), /shared-tier/);
  assert.ok(Number(fromTier.headers.age) <= 1, `Age ${String(fromTier.headers.age)}: not the storing node's 30 s clock error`);
  assert.equal(origin.count('/a'), 1);
});

test('a shared tier in a Redis that evicts any key (allkeys-lru) is not used, and says why', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t, { args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
  if (!redis) return;
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end('body');
  });
  const cluster = { redis: redis.url, sharedCache: true };
  const log = captureLogger();
  const a = await startTestEdge(t, { origin: origin.url, cluster }, { logger: log.logger });
  const b = await startTestEdge(t, { origin: origin.url, cluster });
  await until(() => log.lines.some((l) => /evict any key/.test(l.msg)), 'the tier logs the policy');
  assert.ok(log.lines.some((l) => /purge bus: Redis may evict the purge stream/.test(l.msg) && l.policy === 'allkeys-lru'), 'so does the bus');
  await send(`${a.base}/a`, H);
  await sleep(200);
  assert.equal((await send(`${b.base}/a`, H)).headers['cf-cache-status'], 'MISS', 'nothing was stored in, or read from, the tier');
  assert.equal(origin.count('/a'), 2);
});

// A full Redis: the shared tier stops storing at cluster.sharedCache.maxBytes, an out-of-memory Redis refuses writes (counted, logged, never the client's failure), and purges still go through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { metric, purge, send, startOrigin, startTestEdge } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis, type RedisHandle } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import type { Logger } from '../src/observability/logger.js';
import { createRedisBus } from '../src/cluster/redis-bus.js';

const HOST = 'cdn.example.com';
const BODY_BYTES = 64 * 1024;
const MAXMEMORY = 16 * 1024 * 1024;

async function usedMemory(admin: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
}

/** Writes big strings from the test's own connection until Redis answers OOM: Redis is then full. */
async function fillUntilOom(admin: Redis): Promise<number> {
  const chunk = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 4000; i++) {
    try { await admin.set(`filler:${Date.now()}:${i}`, chunk); } catch (err) {
      if (err instanceof Error && /^OOM/.test(err.message)) return i;
      throw err;
    }
  }
  throw new Error('Redis never refused a write: is maxmemory set?');
}

function warnings(): { logger: Logger; lines: { msg: string }[] } {
  const lines: { msg: string }[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString('utf8')) as { msg: string }); done(); } });
  return { logger: pino<never>({ level: 'warn' }, stream) as unknown as Logger, lines };
}

async function smallRedis(t: import('node:test').TestContext): Promise<RedisHandle | null> {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return null;
  const redis = await startRedis({ args: ['--maxmemory', String(MAXMEMORY), '--maxmemory-policy', 'noeviction'] });
  t.after(() => redis.stop());
  return redis;
}

test('the tier stops storing at sharedCache.maxBytes; Redis out of memory refuses writes (counted, logged); clients get every answer and purges still land', { timeout: 60_000 }, async (t) => {
  const redis = await smallRedis(t);
  if (!redis) return;
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.after(() => admin.disconnect());
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', 'cache-tag': 'big' });
    res.end(Buffer.alloc(BODY_BYTES, `${req.url}#${origin.count(req.url)}`.charCodeAt(1)));
  });
  const maxBytes = (await usedMemory(admin)) + 2 * 1024 * 1024;
  const { logger, lines } = warnings();
  const node = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url, sharedCache: { maxBytes, timeoutMs: 2000 } } }, { logger });

  // 60 bodies of 64 KiB (3.75 MiB) against a 2 MiB allowance: the first ones are stored, then writes are refused.
  for (let i = 0; i < 60; i++) {
    const r = await send(`${node.base}/a/${i}`, { headers: { host: HOST } });
    assert.equal(r.status, 200, `request ${i} answered`);
    assert.equal(r.raw.length, BODY_BYTES);
  }
  const full = await metric(node, 'edgecache_shared_tier_write_refusals_total', 'reason="full"');
  assert.ok(full > 0, 'writes past maxBytes were refused and counted');
  assert.ok(full < 60, `some writes were stored first (refused ${full})`);
  const used = await usedMemory(admin);
  assert.ok(used <= maxBytes + 2 * BODY_BYTES, `Redis stayed near the bound: used ${used}, maxBytes ${maxBytes}`);
  assert.equal(await metric(node, 'edgecache_shared_tier_errors'), 0, `a refusal is not a tier error: ${JSON.stringify(lines)}`);

  // Now Redis itself is full (something else filled it), and a node whose bound is above maxmemory (misconfigured:
  // it says so) writes: Redis answers OOM.
  await fillUntilOom(admin);
  const over = warnings();
  const careless = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url, sharedCache: { maxBytes: 1 << 30, timeoutMs: 2000 } } }, { logger: over.logger });
  for (let i = 0; i < 5; i++) {
    const r = await send(`${careless.base}/b/${i}`, { headers: { host: HOST } });
    assert.equal(r.status, 200, `request ${i} answered while Redis is out of memory`);
  }
  assert.ok(await metric(careless, 'edgecache_shared_tier_write_refusals_total', 'reason="oom"') >= 1, 'OOM refusals counted');
  assert.equal(await metric(careless, 'edgecache_shared_tier_errors'), 0, 'a refusal is not a tier error');
  assert.ok(over.lines.some((l) => /out of memory, write refused/.test(l.msg)), 'and logged at warn');
  assert.ok(over.lines.some((l) => /maxBytes is not below the Redis maxmemory/.test(l.msg)), 'the bound above maxmemory is logged');
  assert.equal(await metric(node, 'edgecache_shared_tier_write_refusals_total', 'reason="oom"'), 0, 'the node with a bound below maxmemory never reached OOM');
  assert.equal(lines.filter((l) => /out of memory/.test(l.msg)).length, 0);

  // A purge is not blocked by the full Redis: the tier's purge script and the stream's append run under OOM.
  await fillUntilOom(admin); // topped up: replies sent meanwhile may have freed buffers
  assert.equal((await admin.set('probe', 'x').catch((e: Error) => e.message)).slice(0, 3), 'OOM', 'Redis is still full');
  const answer = await purge(node, 'default', { tags: ['big'] });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  const before = origin.count('/a/0');
  const again = await send(`${node.base}/a/0`, { headers: { host: HOST } });
  assert.equal(again.status, 200);
  assert.equal(origin.count('/a/0'), before + 1, 'the purged URL comes from the origin again (gone locally and from the tier)');
});

test('without maxBytes the tier keeps 90% of its Redis maxmemory; a bus on a full Redis still publishes and delivers purges', { timeout: 30_000 }, async (t) => {
  const redis = await smallRedis(t);
  if (!redis) return;
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.after(() => admin.disconnect());
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('x'); });
  const node = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url, sharedCache: true } });
  const deadline = Date.now() + 5000;
  let maxBytes = 0;
  while (Date.now() < deadline) {
    const h = JSON.parse((await send(`${node.adminBase}/healthz`)).body) as { sharedTier?: { maxBytes: number } };
    maxBytes = h.sharedTier?.maxBytes ?? 0;
    if (maxBytes > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(maxBytes, Math.floor(MAXMEMORY * 0.9));

  await fillUntilOom(admin);
  const got: string[] = [];
  const consumer = createRedisBus({ url: redis.url, nodeId: 'consumer' });
  t.after(() => consumer.close());
  await consumer.start({ apply: async (m) => { got.push(JSON.stringify(m.request)); }, onReset: async () => {} }, null);
  const publisher = createRedisBus({ url: redis.url, nodeId: 'publisher' });
  t.after(() => publisher.close());
  const id = await publisher.publish({ zoneId: 'default', request: { kind: 'tags', tags: ['t1'] } as never, origin: 'publisher' });
  assert.match(id, /^\d+-\d+$/, 'the purge was recorded in a full Redis');
  const until = Date.now() + 5000;
  while (got.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(got.length, 1, 'and delivered');
});

// createPurger: one normalisation per purge, the local store purged from it, the shared tier strictly before publishing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '../storage/memory.js';
import type { VariantInput } from '../storage/store.js';
import { primaryKey, selectorOf } from '../cache/key.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { Freshness } from '../cache/policy/types.js';
import { compileZoneKeyRules } from '../cache/zone-keys.js';
import { configSchema } from '../config/schema.js';
import { createRedisTier } from '../storage/redis-tier.js';
import { redisFor } from '../../test/helpers/redis-server.js';
import { createPurger, preparePurge, purgeSharedTier, type Purge } from './purger.js';
import { parsePurgeBody, PurgeError, type PurgeRequest } from './request.js';

const FRESH: Freshness = {
  lifetime: 3600, correctedInitialAge: 0, responseTime: Date.now(), staleWhileRevalidate: 0, staleIfError: 0,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
};

/** One zone that keys sorted queries and Origin; its hosts do not matter to a purge (zones are named by id). */
const zones = compileZoneKeyRules(configSchema.parse({
  zones: [{ id: 'shop', origin: 'http://127.0.0.1:9', hosts: ['cdn.example'], cacheKey: { query: 'sorted', headers: ['origin'] } }],
}));

function input(path: string, query: string, origin: string, tags: string[] = []): VariantInput {
  const keyNames = ['origin'];
  return {
    zoneId: 'shop', host: 'cdn.example', path, query, objectKey: primaryKey('shop', 'cdn.example', path, query), keyNames,
    selector: selectorOf(keyNames, { origin }, normalizeVaryValue), status: 200, headers: [['content-type', 'text/plain']],
    body: Buffer.from(`${path}?${query} for ${origin}`), freshness: FRESH, tags,
  };
}

function request(body: unknown): PurgeRequest {
  const r = parsePurgeBody(Buffer.from(JSON.stringify(body)), { maxItems: 100 });
  if (r instanceof PurgeError) assert.fail(r.message);
  return r;
}

test('prepare normalises once into store targets: the zone query rule, host case and default port, lowercased header names', () => {
  const p = preparePurge(zones, 'shop', request({ files: ['https://CDN.example:443/a.js?b=2&a=1', { url: 'http://cdn.example/v', headers: { Origin: 'https://x.example' } }] }));
  assert.deepEqual(p.targets, [
    { kind: 'object', zoneId: 'shop', host: 'cdn.example', path: '/a.js', query: 'a=1&b=2' },
    { kind: 'variant', zoneId: 'shop', host: 'cdn.example', path: '/v', query: '', headers: { origin: 'https://x.example' } },
  ]);
  assert.deepEqual(preparePurge(zones, 'nope', request({ purge_everything: true })).targets, [], 'an unknown zone names nothing');
  assert.deepEqual(JSON.parse(JSON.stringify(p)), p, 'a prepared purge is plain data (it crosses to worker processes)');
});

test('apply purges the targets from the store and reports the count once', () => {
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  for (const o of ['https://a.example', 'https://b.example']) store.insert(input('/a.js', 'a=1&b=2', o));
  store.insert(input('/keep.js', '', 'https://a.example'));
  const told: [Purge, number][] = [];
  const purger = createPurger({ zones, store, onApplied: (p, n) => told.push([p, n]) });
  const p = purger.prepare('shop', request({ files: ['https://cdn.example/a.js?b=2&a=1'] }));
  assert.equal(purger.apply(p), 2, 'both Origin variants of the sorted-query URL');
  assert.deepEqual(told, [[p, 2]]);
  assert.equal(store.variantsOf(primaryKey('shop', 'cdn.example', '/a.js', 'a=1&b=2')).length, 0);
  assert.equal(store.variantsOf(primaryKey('shop', 'cdn.example', '/keep.js', '')).length, 1);
});

test('beforePublish with no shared tier has nothing to do', async () => {
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const purger = createPurger({ zones, store });
  await purger.beforePublish(purger.prepare('shop', request({ tags: ['t'] })));
});

test('the strict tier purge rejects with a coded error when Redis is unreachable (the purge must not be reported done)', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port: p } = s.address() as AddressInfo; s.close(() => resolve(p)); });
  });
  const tier = createRedisTier({ url: `redis://127.0.0.1:${port}`, normalize: normalizeVaryValue, opTimeoutMs: 300 });
  try {
    await assert.rejects(purgeSharedTier(tier, preparePurge(zones, 'shop', request({ tags: ['t'] }))),
      (err: { code?: string }) => err.code === 'TIER_UNAVAILABLE' || err.code === 'TIER_TIMEOUT');
  } finally {
    await tier.close();
  }
});

test('beforePublish removes the tier copy and fences out late writes; apply purges only this node', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const tier = createRedisTier({ url: redis.url, prefix: `purger:${process.pid}:`, normalize: normalizeVaryValue, opTimeoutMs: 5000 });
  t.after(() => tier.close());
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const purger = createPurger({ zones, store, tier });
  const origin = { origin: 'https://a.example' };
  const key = primaryKey('shop', 'cdn.example', '/t.js', '');

  assert.equal(await tier.put(input('/t.js', '', 'https://a.example', ['red'])), true);
  const startedBefore = await tier.fence('shop'); // a fetch starts before the purge…
  await purger.beforePublish(purger.prepare('shop', request({ tags: ['RED'] })));
  assert.equal(await tier.get(key, origin), undefined, 'gone from the tier before anything is published');
  assert.equal(await tier.put(input('/t.js', '', 'https://a.example', ['red']), startedBefore), false, '…and its write-through, landing after it, is refused');
  assert.equal(await tier.get(key, origin), undefined);
  assert.equal(tier.state().fenced, 1);

  assert.equal(await tier.put(input('/t.js', '', 'https://a.example', ['red']), await tier.fence('shop')), true, 'a fetch started after the purge is stored');
  store.insert(input('/t.js', '', 'https://a.example', ['red']));
  assert.equal(purger.apply(purger.prepare('shop', request({ tags: ['red'] }))), 1);
  assert.notEqual(await tier.get(key, origin), undefined, 'applying a purge leaves the tier to the purge that preceded publishing');
  assert.equal(tier.state().errors, 0);
});

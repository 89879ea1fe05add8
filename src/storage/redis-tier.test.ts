// Tests for the Redis shared tier as a cluster sees it: two nodes, TTLs, fetch locks, and Redis down, stalled, back.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { hasRedisServer, redisFor, REDIS_HINT, startRedis } from '../../test/helpers/redis-server.js';
import { requireService } from '../../test/helpers/service.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { Freshness } from '../cache/policy/types.js';
import { contractInput, CONTRACT_FRESHNESS, objectTarget, type ContractEntry } from './store.contract.js';
import { createRedisTier, tierTtlMs, type RedisTier, type RedisTierOptions } from './redis-tier.js';

const PREFIX = 'test:tier:';
const OP_MS = 200;
/** Slack for a loaded machine on top of an operation's bound: "quickly" means the bound, not a wait for TCP. */
const MARGIN_MS = 1000;
const A = 'https://a.example';

/** A tier client ("node"), closed after the test; waits for its first connection so assertions do not race it. */
async function nodeFor(t: TestContext, url: string, extra: Partial<RedisTierOptions> = {}, isConnectWaited = true): Promise<RedisTier> {
  const tier = createRedisTier({ url, prefix: PREFIX, normalize: normalizeVaryValue, opTimeoutMs: OP_MS, ...extra });
  t.after(() => tier.close());
  if (isConnectWaited) await waitUntil(() => tier.state().connected, 'tier connected');
  return tier;
}

function adminFor(t: TestContext, url: string): Redis {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  t.after(() => admin.disconnect());
  return admin;
}

async function waitUntil(isDone: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isDone())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const key = (e: ContractEntry): string => contractInput(e).objectKey;
const bodyOf = async (tier: RedisTier, e: ContractEntry): Promise<string | undefined> => (await tier.get(key(e), e.req ?? {}))?.body.toString();
const freshFor = (lifetime: number, extra: Partial<Freshness> = {}): Freshness =>
  ({ ...CONTRACT_FRESHNESS, lifetime, correctedInitialAge: 0, responseTime: Date.now(), ...extra });

/** The tier's keys by kind (the letters before the first ':' after the prefix and the zone's hash tag). */
async function keysByKind(admin: Redis): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const k of await admin.keys(`${PREFIX}*`)) {
    const kind = k.slice(PREFIX.length).replace(/^\{[^}]*\}:/, '').split(':')[0]!;
    out.set(kind, [...(out.get(kind) ?? []), k]);
  }
  return out;
}

test('node 2 gets every variant node 1 stored; purges on either node are seen by the other', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const [n1, n2] = [await nodeFor(t, r.url), await nodeFor(t, r.url)];
  const entries: ContractEntry[] = [
    { path: '/app.js', req: { origin: A }, tags: ['js'] }, { path: '/app.js', tags: ['js'] },
    { path: '/v', keyNames: ['origin', 'accept-language'], req: { origin: A, 'accept-language': 'fr' }, tags: ['v'] },
    { path: '/other', host: 'img.example:8443' },
  ];
  for (const e of entries) assert.equal(await n1.put({ ...contractInput(e), freshness: freshFor(600) }), true);
  for (const e of entries) assert.equal(await bodyOf(n2, e), contractInput(e).body.toString(), `node 2 sees ${e.path}`);
  const got = await n2.get(key(entries[0]!), { origin: A });
  assert.deepEqual(got?.tags, ['js']);
  assert.equal(await n2.get(key(entries[0]!), { origin: 'https://b.example' }), undefined, 'an unseen Origin stays a miss');

  assert.equal(await n2.purge({ kind: 'tag', zoneId: 'z', tag: 'v' }, true), 1, 'soft purge on node 2');
  assert.equal((await n1.get(key(entries[2]!), entries[2]!.req!))?.forcedStale, true, 'node 1 sees it stale');
  assert.equal(await n1.purge(objectTarget(entries[0]!), false), 2, 'node 1 purges both variants of /app.js');
  assert.equal(await n2.get(key(entries[1]!), {}), undefined);
  assert.equal(await n2.purge({ kind: 'host', zoneId: 'z', host: 'img.example' }, false), 1, 'a port-less host names every port');
  assert.equal(await n1.get(key(entries[3]!), {}), undefined);
  await n1.purge({ kind: 'everything', zoneId: 'z' }, false);
  assert.equal(await n2.get(key(entries[2]!), entries[2]!.req!), undefined, 'purge everything is seen at once');
  assert.equal(await n2.put({ ...contractInput(entries[2]!), freshness: freshFor(600) }), true);
  assert.equal((await n1.get(key(entries[2]!), entries[2]!.req!))?.forcedStale, false, 'stored after it: fresh and found');
  assert.deepEqual([n1.state().errors, n2.state().errors], [0, 0]);
});

test('a hard purge leaves no index behind; only the generation counters and purge fences stay', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const admin = adminFor(t, r.url);
  const entries: ContractEntry[] = [
    { path: '/static/a.css', tags: ['css'] }, { path: '/static/b.css', req: { origin: A }, tags: ['css', 'b'] }, { path: '/x', host: 'cdn.example:81' },
  ];
  for (const e of entries) assert.equal(await tier.put(contractInput(e)), true);
  assert.deepEqual([...(await keysByKind(admin)).keys()].sort(), ['hn', 'o', 'p', 't', 'v']);
  assert.equal(await tier.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/static/' }, false), 2);
  assert.equal(await tier.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example:81' }, false), 1);
  assert.deepEqual([...(await keysByKind(admin)).keys()].sort(), ['f', 'fx', 'gc'], 'nothing left but the purge fences: no variants, objects, paths, hosts, tags');
  await tier.purge({ kind: 'everything', zoneId: 'z' }, false);
  assert.deepEqual([...(await keysByKind(admin)).keys()].sort(), ['f', 'fx', 'g', 'gc'], 'generations and the purge fences stay');
});

test('TTLs follow freshness: remaining lifetime + stale window + margin, a floor for stale entries, indexes outlive variants', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const admin = adminFor(t, r.url);
  const cases: { e: ContractEntry; f: Freshness; expectS: number }[] = [
    // 600 s fresh, then up to max(60, 300) s stale-if-error, + 5 s margin (RFC 5861 windows start at staleness).
    { e: { path: '/fresh', tags: ['t'] }, f: freshFor(600, { staleWhileRevalidate: 60, staleIfError: 300 }), expectS: 905 },
    // must-revalidate / s-maxage: never served stale, so no stale window (RFC 9111 §4.2.4).
    { e: { path: '/strict' }, f: freshFor(600, { staleIfError: 300, noStaleServing: true }), expectS: 605 },
    // Already 100 s old out of 120: 20 s left + 30 s stale-while-revalidate + 5.
    { e: { path: '/aged' }, f: freshFor(120, { correctedInitialAge: 100, staleWhileRevalidate: 30, staleIfError: 0 }), expectS: 55 },
    // Long stale (the contract's 2023 response): the 10 s floor keeps it for a revalidation.
    { e: { path: '/stale' }, f: CONTRACT_FRESHNESS, expectS: 10 },
  ];
  for (const c of cases) {
    const now = Date.now();
    assert.ok(Math.abs(tierTtlMs(c.f, now) - c.expectS * 1000) <= 1000, `tierTtlMs ${c.e.path}`);
    assert.equal(await tier.put({ ...contractInput(c.e), freshness: c.f }), true);
  }
  const kinds = await keysByKind(admin);
  const variantTtls = new Map<string, number>();
  for (const k of kinds.get('v') ?? []) {
    const meta = JSON.parse((await admin.hget(k, 'meta'))!) as { objectKey: string };
    variantTtls.set(meta.objectKey.split('\u0000')[2]!, await admin.pttl(k));
  }
  for (const c of cases) {
    const ttl = variantTtls.get(`${c.e.path}?`);
    assert.ok(ttl !== undefined && ttl <= c.expectS * 1000 + 1000 && ttl > c.expectS * 1000 - 3000, `${c.e.path}: PTTL ${ttl} ≈ ${c.expectS} s`);
  }
  const longest = Math.max(...variantTtls.values());
  for (const kind of ['o', 'p', 'hn', 't']) {
    for (const k of kinds.get(kind) ?? []) assert.ok((await admin.pttl(k)) >= 0, `${kind} key has a TTL`);
  }
  assert.ok((await admin.pttl(kinds.get('p')![0]!)) > longest - 3000, 'the path index lives as long as its longest variant');
});

test('a response under new Vary names replaces the same request\'s variant in the old group (RFC 9111 §4.1)', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const old: ContractEntry = { path: '/v', req: { origin: A, 'accept-language': 'en' } };
  const other: ContractEntry = { path: '/v', req: { origin: 'https://b.example' } };
  const now: ContractEntry = { path: '/v', keyNames: ['origin', 'accept-language'], req: { origin: A, 'accept-language': 'en' } };
  for (const e of [old, other, now]) assert.equal(await tier.put(contractInput(e)), true);
  assert.equal(await bodyOf(tier, now), contractInput(now).body.toString());
  assert.equal(await tier.get(key(now), { origin: A, 'accept-language': 'fr' }), undefined, 'the Origin-only variant of A is gone');
  assert.equal(await bodyOf(tier, other), contractInput(other).body.toString(), 'another request\'s variant stays');
});

test('acquire/release: one of two concurrent nodes wins; the other\'s waitFor gets the entry once it is put', { timeout: 20_000 }, async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const [n1, n2] = [await nodeFor(t, r.url), await nodeFor(t, r.url)];
  const e: ContractEntry = { path: '/cold.js', req: { origin: A } };
  const lock = `${key(e)}\u0000lock`;
  const wins = await Promise.all([n1.acquire(lock, 5000), n2.acquire(lock, 5000)]);
  assert.equal(wins.filter(Boolean).length, 1, `exactly one winner: ${JSON.stringify(wins)}`);
  const [winner, loser] = wins[0] ? [n1, n2] : [n2, n1];
  const waited = loser.waitFor(key(e), e.req!, 10_000, lock);
  await new Promise((resolve) => setTimeout(resolve, 150)); // the waiter polls a few times first
  assert.equal(await winner.put(contractInput(e)), true);
  assert.equal((await waited)?.body.toString(), contractInput(e).body.toString());

  await loser.release(lock);
  assert.equal(await loser.acquire(lock, 5000), false, 'release by a node that does not hold it frees nothing');
  await winner.release(lock);
  assert.equal(await loser.acquire(lock, 5000), true, 'free after its holder released it');
  await loser.release(lock);

  // The holder gives up without storing: a waiter with the lock key stops waiting as soon as the lock is free.
  const miss: ContractEntry = { path: '/uncacheable' };
  assert.equal(await n1.acquire('u', 30_000), true);
  const gaveUp = n2.waitFor(key(miss), {}, 60_000, 'u'); // the test's 20 s timeout fails it if it waited for this
  await new Promise((resolve) => setTimeout(resolve, 100));
  await n1.release('u');
  assert.equal(await gaveUp, undefined);
  // Without a lock key, waitFor ends after its time with nothing; a lock also expires on its own (PX).
  assert.equal(await n2.waitFor(key(miss), {}, 100), undefined);
  assert.equal(await n1.acquire('short', 100), true);
  await waitUntil(() => n2.acquire('short', 5000), 'the 100 ms lock expired');
  assert.deepEqual([n1.state().errors, n2.state().errors], [0, 0]);
});

test('Redis stopped: misses, false and 0 within the bound, no throw; restarted: the tier works again', { timeout: 60_000 }, async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const e: ContractEntry = { path: '/a' };
  assert.equal(await tier.put(contractInput(e)), true);
  await r.stop();
  await waitUntil(() => !tier.state().connected, 'the tier noticed');
  const started = Date.now();
  assert.equal(await tier.get(key(e), {}), undefined);
  assert.ok(Date.now() - started < OP_MS + MARGIN_MS, `get answered in ${Date.now() - started} ms`);
  assert.equal(await tier.put(contractInput(e)), false);
  assert.equal(await tier.purge(objectTarget(e), false), 0);
  await assert.rejects(tier.purgeStrict(objectTarget(e), false), { name: 'RedisTierError', code: 'TIER_UNAVAILABLE' }, 'a lost purge is reported');
  assert.equal(await tier.acquire('k', 1000), false);
  assert.equal(await tier.waitFor(key(e), {}, 30_000), undefined, 'waitFor gives up at once on an error');
  await tier.release('k');
  await tier.clear();
  assert.ok(tier.state().errors >= 6, `errors counted: ${tier.state().errors}`);

  const again = await startRedis({ port: r.port });
  t.after(() => again.stop());
  await waitUntil(() => tier.put(contractInput(e)), 'put works after the restart');
  assert.equal(await bodyOf(tier, e), contractInput(e).body.toString());
  assert.equal(await tier.purgeStrict(objectTarget(e), false), 1);
  assert.equal(tier.state().connected, true);
});

test('a stalled Redis (SIGSTOP): every operation resolves within its bound; after SIGCONT it works again', { timeout: 60_000 }, async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const e: ContractEntry = { path: '/s' };
  assert.equal(await tier.put(contractInput(e)), true);
  process.kill(r.pid, 'SIGSTOP');
  try {
    const ops = [['get', () => tier.get(key(e), {})], ['put', () => tier.put(contractInput(e))], ['purge', () => tier.purge(objectTarget(e), true)]] as const;
    for (const [name, op] of ops) {
      const started = Date.now();
      const out = await op();
      assert.ok(out === undefined || out === false || out === 0, `${name} → ${String(out)}`);
      assert.ok(Date.now() - started < OP_MS + MARGIN_MS, `${name} answered in ${Date.now() - started} ms`);
    }
  } finally {
    process.kill(r.pid, 'SIGCONT'); // here, not in t.after: hooks run in order, and r.stop() was registered first
  }
  await waitUntil(async () => (await tier.get(key(e), {})) !== undefined, 'get works again');
});

test('Redis unreachable from the start: operations miss at once and count errors', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve())); // nothing listens there now
  const tier = await nodeFor(t, `redis://127.0.0.1:${port}`, {}, false);
  const e: ContractEntry = { path: '/a' };
  assert.equal(await tier.get(key(e), {}), undefined);
  assert.equal(await tier.put(contractInput(e)), false);
  assert.equal(tier.state().connected, false);
  assert.equal(tier.state().errors, 2);
});

test('bodies over maxBodyBytes are not put; an unreadable entry is a miss, counted, and dropped', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url, { maxBodyBytes: 1024 });
  const admin = adminFor(t, r.url);
  const big: ContractEntry = { path: '/big', body: Buffer.alloc(1025, 1) };
  assert.equal(await tier.put(contractInput(big)), false);
  assert.deepEqual(await admin.keys(`${PREFIX}*`), [], 'nothing written');
  assert.equal(tier.state().errors, 0, 'a refused body is policy, not a tier error');
  assert.equal(await tier.put(contractInput({ ...big, body: Buffer.alloc(1024, 1) })), true, 'at the limit it is stored');

  const e: ContractEntry = { path: '/torn' };
  assert.equal(await tier.put(contractInput(e)), true);
  let torn = 0;
  for (const k of (await keysByKind(admin)).get('v')!) {
    if ((await admin.hget(k, 'meta'))!.includes('/torn')) torn += await admin.hset(k, 'meta', '{"status":') + 1;
  }
  assert.equal(torn, 1, 'one variant made unreadable');
  const errors = tier.state().errors;
  assert.equal(await tier.get(key(e), {}), undefined);
  assert.equal(tier.state().errors, errors + 1);
  await waitUntil(async () => (await admin.keys(`${PREFIX}{z}:v:*`)).length === 1, 'the unreadable variant was dropped');
});

test('fences: a put whose fetch started before a purge naming it is refused, for every purge kind; one started after is stored', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const e: ContractEntry = { path: '/static/f.js', req: { origin: A }, tags: ['red'], host: 'cdn.example:8443' };
  const other: ContractEntry = { path: '/other.js', req: { origin: A }, tags: ['blue'], host: 'other.example', zoneId: 'y' };
  const kinds: [string, Parameters<RedisTier['purge']>[0], boolean][] = [
    ['object', objectTarget(e), false], ['variant', { kind: 'variant', zoneId: 'z', host: 'cdn.example:8443', path: '/static/f.js', query: '', headers: { origin: A } }, false],
    ['tag', { kind: 'tag', zoneId: 'z', tag: 'red' }, false], ['soft tag', { kind: 'tag', zoneId: 'z', tag: 'red' }, true],
    ['host', { kind: 'host', zoneId: 'z', host: 'cdn.example:8443' }, false], ['host name', { kind: 'host', zoneId: 'z', host: 'cdn.example' }, false],
    ['prefix', { kind: 'prefix', zoneId: 'z', host: 'cdn.example:8443', pathPrefix: '/static/' }, false],
    ['everything', { kind: 'everything', zoneId: 'z' }, true],
  ];
  for (const [name, target, soft] of kinds) {
    const before = await tier.fence('z');
    assert.equal(typeof before, 'number');
    await tier.purgeStrict(target, soft);
    assert.equal(await tier.put(contractInput(e), before), false, `${name}: the late write is refused`);
    assert.equal(await tier.get(key(e), e.req!), undefined, `${name}: nothing stored`);
    assert.equal(await tier.put(contractInput(other), before), true, `${name}: a write the purge does not name is stored`);
    const after = await tier.fence('z');
    assert.equal(await tier.put(contractInput(e), after), true, `${name}: a fetch started after the purge is stored`);
    assert.equal((await tier.get(key(e), e.req!))?.forcedStale, false, `${name}: and served fresh`);
    await tier.purgeStrict(objectTarget(e), false);
  }
  assert.equal(tier.state().fenced, kinds.length);
});

test('reads check the fences: an entry whose tag set was evicted is still purged by its tag (soft and hard)', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const tier = await nodeFor(t, r.url);
  const admin = adminFor(t, r.url);
  const e: ContractEntry = { path: '/t.js', req: { origin: A }, tags: ['red'] };
  assert.equal(await tier.put(contractInput(e)), true);
  const evict = async (): Promise<void> => { for (const k of (await keysByKind(admin)).get('t') ?? []) await admin.del(k); };
  await evict();
  assert.equal(await tier.purge({ kind: 'tag', zoneId: 'z', tag: 'red' }, true), 0, 'the tag set is gone: the purge finds nothing to touch');
  assert.equal((await tier.get(key(e), e.req!))?.forcedStale, true, 'yet the entry reads stale');
  await evict();
  await tier.purge({ kind: 'tag', zoneId: 'z', tag: 'red' }, false);
  assert.equal(await tier.get(key(e), e.req!), undefined, 'and a hard purge removes it');
  assert.equal((await keysByKind(admin)).get('v'), undefined, 'dropped on that read');
});

test('ages do not depend on the storing node\'s clock: an entry is moved onto the reader\'s clock by its time in Redis', async (t) => {
  const r = await redisFor(t);
  if (!r) return;
  const skew = 30_000;
  const ahead = await nodeFor(t, r.url, { clock: { now: () => Date.now() + skew } });
  const exact = await nodeFor(t, r.url);
  const e: ContractEntry = { path: '/clock.js' };
  const responseTime = Date.now() + skew; // the node 30 s ahead received it "now" by its clock
  assert.equal(await ahead.put({ ...contractInput(e), freshness: freshFor(60, { responseTime }) }), true);
  const got = await exact.get(key(e), {});
  assert.ok(got, 'stored');
  const shift = responseTime - got.freshness.responseTime;
  assert.ok(Math.abs(shift - skew) < 1000, `responseTime moved by ${shift} ms onto the reader's clock`);
  const back = await ahead.get(key(e), {});
  assert.equal(back?.freshness.responseTime, responseTime, 'the storing node reads its own times unchanged');
});

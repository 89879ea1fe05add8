// MemoryStore at the store level: purge work follows matches (200k entries), every purge kind, races, LRU by bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './memory.js';
import type { VariantInput } from './store.js';
import { primaryKey, selectorOf, type HeaderValues } from '../cache/key.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { Freshness } from '../cache/policy/types.js';

const FRESH: Freshness = {
  lifetime: 3600, correctedInitialAge: 0, responseTime: Date.now(), staleWhileRevalidate: 0, staleIfError: 0,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
};
const BODY = Buffer.from('x');

function newStore(maxBytes = 1024 ** 3): MemoryStore {
  return new MemoryStore({ maxBytes, normalize: normalizeVaryValue });
}

interface Entry { zoneId?: string; host?: string; path: string; query?: string; req?: HeaderValues; keyNames?: readonly string[]; tags?: string[]; body?: Buffer }

function input(e: Entry): VariantInput {
  const zoneId = e.zoneId ?? 'z';
  const host = e.host ?? 'cdn.example';
  const query = e.query ?? '';
  const keyNames = e.keyNames ?? ['origin'];
  return {
    zoneId, host, path: e.path, query, objectKey: primaryKey(zoneId, host, e.path, query), keyNames,
    selector: selectorOf(keyNames, e.req ?? {}, normalizeVaryValue), status: 200,
    headers: [['content-type', 'text/plain']], body: e.body ?? BODY, freshness: FRESH, tags: e.tags ?? [],
  };
}

function has(store: MemoryStore, e: Entry): boolean {
  const i = input(e);
  return store.lookup(i.objectKey, e.req ?? {}) !== undefined;
}

test('a purge of 10,000 entries among 200,000 visits about 10,000 (tags), 20,000 to 40,000 (hosts, prefixes) — never the rest', () => {
  const store = newStore();
  const N = 200_000;
  // Three disjoint groups of 10,000: tag "hot", host hot.example, path /hot/...; 170,000 others.
  const entry = (i: number): Entry => {
    const g = i % 20;
    if (g === 0) return { path: `/t/${i}.js`, tags: ['hot', `t${i % 7}`] };
    if (g === 1) return { host: 'hot.example', path: `/h/${i}.js`, tags: [`t${i % 7}`] };
    if (g === 2) return { path: `/hot/${i}.js`, tags: [`t${i % 7}`] };
    return { path: `/cold/${i}.js`, tags: ['cold', `t${i % 7}`] };
  };
  for (let i = 0; i < N; i++) assert.ok(store.insert(input(entry(i))));
  assert.equal(store.stats().variants, N);

  const measure = (f: () => number): { n: number; work: number } => {
    const before = store.workCount();
    const n = f();
    return { n, work: store.workCount() - before };
  };

  const tag = measure(() => store.purge({ kind: 'tag', zoneId: 'z', tag: 'hot' }, false));
  assert.equal(tag.n, 10_000);
  assert.ok(tag.work <= 10_000 + 10, `tag purge visited ${tag.work}`);
  assert.equal(store.stats().variants, N - 10_000);

  const host = measure(() => store.purge({ kind: 'host', zoneId: 'z', host: 'hot.example' }, false));
  assert.equal(host.n, 10_000);
  // objects + variants + the radix nodes of the host's path index (its whole index: fewer than two nodes per path)
  assert.ok(host.work <= 4 * 10_000 + 50, `host purge visited ${host.work}`);

  const prefix = measure(() => store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/hot/' }, false));
  assert.equal(prefix.n, 10_000);
  // objects + variants + radix nodes (fewer than two per path below the prefix)
  assert.ok(prefix.work <= 4 * 10_000 + 50, `prefix purge visited ${prefix.work}`);

  const none = measure(() => store.purge({ kind: 'tag', zoneId: 'z', tag: 'no-such-tag' }, false)
    + store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/nothing/' }, false)
    + store.purge({ kind: 'host', zoneId: 'z', host: 'nothing.example' }, false));
  assert.deepEqual(none, { n: 0, work: 1 }); // the prefix walk looks at the root only

  assert.equal(store.stats().variants, N - 30_000);
  assert.ok(has(store, entry(3)) && has(store, entry(N - 1)), 'the others are still there');
  assert.ok(!has(store, entry(0)) && !has(store, entry(1)) && !has(store, entry(2)));
});

test('purge everything is a generation: lookups miss at once, the sweep walks that zone only', async () => {
  const store = newStore();
  for (let i = 0; i < 20_000; i++) store.insert(input({ zoneId: i < 2_000 ? 'a' : 'b', path: `/${i}` }));
  const before = store.workCount();
  store.purge({ kind: 'everything', zoneId: 'a' }, false);
  assert.equal(has(store, { zoneId: 'a', path: '/1999' }), false);
  assert.equal(has(store, { zoneId: 'b', path: '/2000' }), true);
  // Stored after the purge: kept.
  store.insert(input({ zoneId: 'a', path: '/new' }));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.ok(store.workCount() - before <= 2_001 + 5, `sweep visited ${store.workCount() - before}`);
  assert.equal(store.stats().variants, 18_000 + 1);
  assert.equal(has(store, { zoneId: 'a', path: '/new' }), true);
});

test('soft purge everything marks stale; soft tag purge marks only the tagged', () => {
  const store = newStore();
  store.insert(input({ path: '/a', tags: ['x'] }));
  store.insert(input({ path: '/b' }));
  assert.equal(store.purge({ kind: 'tag', zoneId: 'z', tag: 'x' }, true), 1);
  assert.equal(store.lookup(input({ path: '/a' }).objectKey, {})?.forcedStale, true);
  assert.equal(store.lookup(input({ path: '/b' }).objectKey, {})?.forcedStale, false);
  store.purge({ kind: 'everything', zoneId: 'z' }, true);
  const b = store.lookup(input({ path: '/b' }).objectKey, {});
  assert.equal(b?.forcedStale, true);
  assert.equal(store.stats().variants, 2);
  // A 304 refreshes it: fresh from then on, not marked stale again by the same soft generation.
  store.refresh(b!, b!.headers, FRESH);
  assert.equal(store.lookup(input({ path: '/b' }).objectKey, {})?.forcedStale, false);
  assert.equal(store.lookup(input({ path: '/b' }).objectKey, {})?.forcedStale, false);
});

test('purge by URL removes every variant; with headers exactly the one a lookup with them selects', () => {
  const store = newStore();
  const a = { origin: 'https://a.example' };
  const b = { origin: 'https://b.example' };
  const vary = ['origin', 'accept-language'];
  store.insert(input({ path: '/x', req: a }));
  store.insert(input({ path: '/x', req: b }));
  store.insert(input({ path: '/x', req: {} }));
  store.insert(input({ path: '/v', req: { ...a, 'accept-language': 'fr' }, keyNames: vary }));
  store.insert(input({ path: '/v', req: { ...a, 'accept-language': 'en' }, keyNames: vary }));
  const t = { zoneId: 'z', host: 'cdn.example', query: '' };

  // Header names arrive lowercased (purger); an unkeyed header is ignored; Origin absent selects the no-Origin variant.
  assert.equal(store.purge({ kind: 'variant', ...t, path: '/x', headers: { ...b, 'x-unrelated': '1' } }, false), 1);
  assert.deepEqual([has(store, { path: '/x', req: a }), has(store, { path: '/x', req: b }), has(store, { path: '/x', req: {} })], [true, false, true]);
  assert.equal(store.purge({ kind: 'variant', ...t, path: '/x', headers: { accept: 'text/css' } }, false), 1);
  assert.deepEqual([has(store, { path: '/x', req: a }), has(store, { path: '/x', req: {} })], [true, false]);

  assert.equal(store.purge({ kind: 'variant', ...t, path: '/v', headers: { ...a, 'accept-language': 'fr' } }, false), 1);
  assert.equal(has(store, { path: '/v', req: { ...a, 'accept-language': 'fr' }, keyNames: vary }), false);
  assert.equal(has(store, { path: '/v', req: { ...a, 'accept-language': 'en' }, keyNames: vary }), true);

  assert.equal(store.purge({ kind: 'object', ...t, path: '/v' }, false), 1);
  assert.equal(store.purge({ kind: 'object', ...t, path: '/x' }, false), 1);
  assert.deepEqual(store.stats(), { objects: 0, variants: 0, bodyBytes: 0, bodies: 0, evictions: 0, variantEvictions: 0 });
});

test('host purge: with a port only that port, without one every port of the host', () => {
  const store = newStore();
  for (const host of ['cdn.example', 'cdn.example:8080', 'cdn.example:8443', 'other.example', '[::1]:8080']) store.insert(input({ host, path: '/a' }));
  assert.equal(store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example:8080' }, false), 1);
  assert.equal(has(store, { host: 'cdn.example', path: '/a' }), true);
  assert.equal(store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example' }, false), 2);
  assert.equal(has(store, { host: 'cdn.example:8443', path: '/a' }), false);
  assert.equal(store.purge({ kind: 'host', zoneId: 'z', host: '[::1]' }, false), 1);
  assert.equal(store.purge({ kind: 'host', zoneId: 'other-zone', host: 'other.example' }, false), 0);
  assert.equal(has(store, { host: 'other.example', path: '/a' }), true);
});

test('a fetch that started before a purge covering it is not stored (soft: stored stale); others are', () => {
  const store = newStore();
  const since = store.epoch();
  store.purge({ kind: 'object', zoneId: 'z', host: 'cdn.example', path: '/a', query: '' }, false);
  store.purge({ kind: 'tag', zoneId: 'z', tag: 'late' }, false);
  store.purge({ kind: 'host', zoneId: 'z', host: 'h.example' }, false);
  store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/p/' }, true);
  assert.equal(store.insert(input({ path: '/a' }), since), undefined);
  assert.equal(store.insert(input({ path: '/b', tags: ['late'] }), since), undefined);
  assert.equal(store.insert(input({ host: 'h.example:8080', path: '/b' }), since), undefined);
  assert.equal(store.insert(input({ path: '/p/1' }), since)?.forcedStale, true);
  assert.equal(store.insert(input({ path: '/b' }), since)?.forcedStale, false);
  // A fetch that started after those purges is stored normally.
  assert.equal(store.insert(input({ path: '/a' }), store.epoch())?.forcedStale, false);
});

test('LRU by bytes: the least recently used goes first, a shared body is charged once', () => {
  const body = (c: string): Buffer => Buffer.alloc(1000, c);
  const probe = newStore();
  probe.insert(input({ path: '/probe', body: body('p') }));
  const perEntry = probe.chargedBytes();
  const store = newStore(3 * perEntry + 10);
  store.insert(input({ path: '/a', body: body('a') }));
  store.insert(input({ path: '/b', body: body('b') }));
  store.insert(input({ path: '/c', body: body('c') }));
  assert.equal(has(store, { path: '/a' }), true); // /a is now the most recently used
  store.insert(input({ path: '/d', body: body('d') }));
  assert.deepEqual(['/a', '/b', '/c', '/d'].map((path) => has(store, { path })), [true, false, true, true]);
  assert.equal(store.stats().evictions, 1);
  assert.equal(store.stats().bodyBytes, 3000);
  // Two Origin variants with one body: one body held.
  const shared = newStore();
  shared.insert(input({ path: '/s', req: { origin: 'https://a.example' }, body: body('s') }));
  shared.insert(input({ path: '/s', req: { origin: 'https://b.example' }, body: body('s') }));
  assert.deepEqual({ v: shared.stats().variants, bodies: shared.stats().bodies, bytes: shared.stats().bodyBytes }, { v: 2, bodies: 1, bytes: 1000 });
  // Larger than the whole cache: not stored at all.
  assert.equal(newStore(500).insert(input({ path: '/big', body: body('x') })), undefined);
});

test('replacing an object\'s only variant (a 200 to a revalidation) keeps the new one reachable through every index', () => {
  const store = newStore();
  store.insert(input({ path: '/a', tags: ['t1'], body: Buffer.from('one') }));
  const second = store.insert(input({ path: '/a', tags: ['t2'], body: Buffer.from('two') }));
  assert.ok(second);
  assert.equal(store.lookup(input({ path: '/a' }).objectKey, {}), second);
  assert.deepEqual(store.stats(), { objects: 1, variants: 1, bodyBytes: 3, bodies: 1, evictions: 0, variantEvictions: 0 });
  assert.equal(store.purge({ kind: 'tag', zoneId: 'z', tag: 't1' }, false), 0, 'the old tag left with the old variant');
  assert.equal(store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/a' }, true), 1);
  assert.equal(store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example' }, true), 1);
  assert.equal(store.purge({ kind: 'tag', zoneId: 'z', tag: 't2' }, false), 1);
  assert.deepEqual(store.stats(), { objects: 0, variants: 0, bodyBytes: 0, bodies: 0, evictions: 0, variantEvictions: 0 });

  // The response's Vary changed: the same request's variant in the old Vary group is superseded too.
  const vary = ['origin', 'accept-language'];
  store.insert(input({ path: '/v', req: { origin: 'https://a.example' } }));
  store.insert(input({ path: '/v', req: { origin: 'https://b.example' } }));
  const v2 = store.insert(input({ path: '/v', req: { origin: 'https://a.example' }, keyNames: vary }));
  assert.ok(v2);
  assert.equal(store.lookup(input({ path: '/v' }).objectKey, { origin: 'https://a.example' }), v2);
  assert.equal(store.stats().variants, 2);
  assert.equal(store.stats().objects, 1);
});

test('purge with {Origin}: that Origin\'s cached preflights go for every method and header list, other Origins\' stay', () => {
  const store = newStore();
  const names = ['origin', 'access-control-request-method', 'access-control-request-headers'];
  const pre = (origin: string, method: string, headers?: string): VariantInput => {
    const req: HeaderValues = { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) };
    const i = input({ path: '/api', req, keyNames: names });
    return { ...i, objectKey: `${i.objectKey}\u0000OPTIONS` };
  };
  for (const p of [pre('https://a.example', 'PUT'), pre('https://a.example', 'DELETE', 'x-key'), pre('https://b.example', 'PUT')]) assert.ok(store.insert(p));
  store.insert(input({ path: '/api', req: { origin: 'https://a.example' } }));
  const t = { zoneId: 'z', host: 'cdn.example', path: '/api', query: '' };
  assert.equal(store.purge({ kind: 'variant', ...t, headers: { origin: 'https://a.example', 'access-control-request-method': 'DELETE' } }, false), 2, 'the GET variant and the one DELETE preflight');
  assert.equal(store.purge({ kind: 'variant', ...t, headers: { origin: 'https://a.example' } }, false), 1);
  assert.equal(store.purge({ kind: 'variant', ...t, headers: { accept: '*/*' } }, false), 0, 'no Origin: no preflight');
  assert.equal(store.stats().variants, 1);
  // A preflight fetched while such a purge arrived is not stored.
  const since = store.epoch();
  store.purge({ kind: 'variant', ...t, headers: { origin: 'https://b.example' } }, false);
  assert.equal(store.insert(pre('https://b.example', 'PATCH'), since), undefined);
  assert.ok(store.insert(pre('https://a.example', 'PATCH'), since));
});

test('bodies are shared among one URL\'s variants only, compared by length and bytes (no hash); released with the last variant', () => {
  const store = newStore();
  const a = Buffer.from('same'), b = Buffer.from('diff');
  const va = store.insert(input({ path: '/a', req: { origin: 'https://a.example' }, body: a }))!;
  const va2 = store.insert(input({ path: '/a', req: { origin: 'https://b.example' }, body: Buffer.from(a) }))!;
  const vb = store.insert(input({ path: '/a', req: { origin: 'https://c.example' }, body: b }))!;
  store.insert(input({ path: '/other', body: Buffer.from(a) }));
  assert.equal(va2.body, va.body, 'equal bytes under one URL: one body');
  assert.notEqual(vb.body, va.body, 'same length, other bytes: told apart');
  assert.deepEqual({ bodies: store.stats().bodies, bytes: store.stats().bodyBytes }, { bodies: 3, bytes: 12 }, 'another URL keeps its own copy');
  store.purge({ kind: 'variant', zoneId: 'z', host: 'cdn.example', path: '/a', query: '', headers: { origin: 'https://a.example' } }, false);
  assert.deepEqual(store.lookup(va2.objectKey, { origin: 'https://b.example' })?.body, a, 'the shared body stays with its other variant');
  store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example' }, false);
  assert.deepEqual(store.stats(), { objects: 0, variants: 0, bodyBytes: 0, bodies: 0, evictions: 0, variantEvictions: 0 });
});

test('a Vary group grows from one variant to many and back; each stays reachable, in insertion order', () => {
  const store = newStore();
  const origins = ['https://a.example', 'https://b.example', 'https://c.example'];
  const key = input({ path: '/v' }).objectKey;
  const stored = origins.map((origin) => store.insert(input({ path: '/v', req: { origin }, body: Buffer.from(origin) })));
  assert.deepEqual(store.variantsOf(key), stored);
  for (const [i, origin] of origins.entries()) assert.equal(store.lookup(key, { origin }), stored[i]);
  assert.equal(store.lookup(key, { origin: 'https://d.example' }), undefined);
  const t = { zoneId: 'z', host: 'cdn.example', path: '/v', query: '' };
  assert.equal(store.purge({ kind: 'variant', ...t, headers: { origin: origins[0]! } }, false), 1);
  assert.equal(store.purge({ kind: 'variant', ...t, headers: { origin: origins[2]! } }, false), 1);
  assert.deepEqual(store.variantsOf(key), [stored[1]]);
  assert.equal(store.lookup(key, { origin: origins[1]! }), stored[1]);
  assert.equal(store.lookup(key, { origin: origins[0]! }), undefined);
  // Grows again; replacing one variant keeps the others.
  const again = store.insert(input({ path: '/v', req: { origin: origins[0]! } }));
  const replaced = store.insert(input({ path: '/v', req: { origin: origins[1]! } }));
  assert.deepEqual(store.variantsOf(key), [again, replaced]);
  assert.deepEqual(store.stats(), { objects: 1, variants: 2, bodyBytes: 1, bodies: 1, evictions: 0, variantEvictions: 0 });
});

test('LRU: a hit moves its variant to the newest end; a hit on the newest changes nothing; eviction from the oldest', () => {
  const body = (c: string): Buffer => Buffer.alloc(1000, c);
  const probe = newStore();
  probe.insert(input({ path: '/probe', body: body('p') }));
  const perEntry = probe.chargedBytes();
  const removed: string[] = [];
  const store = new MemoryStore({ maxBytes: 4 * perEntry + 10, normalize: normalizeVaryValue, onRemove: (v, why) => removed.push(`${v.path} ${why}`) });
  for (const p of ['/a', '/b', '/c', '/d']) store.insert(input({ path: p, body: body(p[1]!) }));
  for (const p of ['/b', '/b', '/a', '/d', '/d']) assert.ok(has(store, { path: p })); // order now: c, b, a, d
  store.insert(input({ path: '/e', body: body('e') }));
  store.insert(input({ path: '/f', body: body('f') }));
  assert.deepEqual(removed, ['/c evicted', '/b evicted']);
  assert.deepEqual(['/a', '/d', '/e', '/f'].map((path) => has(store, { path })), [true, true, true, true]);
  // remove(): a variant already gone, or another store's, changes nothing.
  const other = newStore();
  const foreign = other.insert(input({ path: '/a', body: body('a') }))!;
  store.remove(foreign);
  assert.equal(has(store, { path: '/a' }), true);
  const a = store.lookup(input({ path: '/a' }).objectKey, {})!;
  store.remove(a);
  store.remove(a);
  assert.deepEqual(removed.slice(2), ['/a purged']);
  assert.equal(store.stats().variants, 3);
  assert.equal(other.stats().variants, 1);
});

test('purge everything: the sweep goes on past variants that leave the zone while it is under way', async () => {
  const store = newStore();
  for (let i = 0; i < 12_000; i++) store.insert(input({ zoneId: 'a', path: `/${i}` }));
  for (let i = 0; i < 100; i++) store.insert(input({ zoneId: 'b', path: `/${i}` }));
  store.purge({ kind: 'everything', zoneId: 'a' }, false);
  // The sweep did its first slice (the 5,000 newest); these are next in its walk, and leave before it gets to them.
  for (let i = 6_999; i > 6_900; i--) assert.equal(has(store, { zoneId: 'a', path: `/${i}` }), false);
  store.insert(input({ zoneId: 'a', path: '/after' }));
  for (let n = 0; n < 5; n++) await new Promise((r) => setImmediate(r));
  assert.equal(store.stats().variants, 100 + 1);
  assert.equal(has(store, { zoneId: 'a', path: '/after' }), true);
  assert.equal(has(store, { zoneId: 'b', path: '/99' }), true);
});

test('variants per object are bounded (maxVariants): the object\'s least recently used goes, other objects stay', () => {
  const store = newStore();
  const removed: string[] = [];
  const bounded = new MemoryStore({ maxBytes: 1024 ** 3, normalize: normalizeVaryValue, maxVariants: 8, onRemove: (v, why) => removed.push(why) });
  for (const s of [store, bounded]) assert.ok(s.insert(input({ path: '/unrelated.js' })));
  const origin = (i: number): HeaderValues => ({ origin: `https://o${i}.example` });
  // The default bound (64) and a zone's own (8): 3,000 Origins on one URL.
  for (let i = 0; i < 3_000; i++) {
    assert.ok(store.insert(input({ path: '/flood.js', req: origin(i) })));
    assert.ok(bounded.insert({ ...input({ path: '/flood.js', req: origin(i) }), maxVariants: i < 1_000 ? undefined : 4 }));
    if (i === 5) assert.ok(has(bounded, { path: '/flood.js', req: origin(0) }), 'the first Origin is used again');
  }
  const key = primaryKey('z', 'cdn.example', '/flood.js', '');
  assert.equal(store.variantsOf(key).length, 64);
  assert.equal(store.stats().variantEvictions, 3_000 - 64);
  assert.equal(bounded.variantsOf(key).length, 4, 'an input\'s own bound wins over the store\'s');
  assert.equal(bounded.stats().variantEvictions, 3_000 - 4);
  assert.ok(removed.length === 3_000 - 4 && removed.every((why) => why === 'evicted'));
  for (const s of [store, bounded]) {
    assert.ok(has(s, { path: '/unrelated.js' }), 'unrelated content stays');
    assert.equal(s.stats().evictions, 0, 'nothing was evicted by bytes');
    assert.ok(has(s, { path: '/flood.js', req: origin(2_999) }), 'the newest variant is kept');
    assert.ok(!has(s, { path: '/flood.js', req: origin(1) }));
  }
});

test('within an object the least recently used variant goes first: a variant in use survives a flood', () => {
  const store = new MemoryStore({ maxBytes: 1024 ** 3, normalize: normalizeVaryValue, maxVariants: 3 });
  const req = (o: string): HeaderValues => ({ origin: o });
  for (const o of ['a', 'b', 'c']) store.insert(input({ path: '/p', req: req(o) }));
  for (let i = 0; i < 100; i++) {
    assert.ok(has(store, { path: '/p', req: req('a') }), `a is used (round ${i})`);
    store.insert(input({ path: '/p', req: req(`flood-${i}`) }));
  }
  assert.ok(has(store, { path: '/p', req: req('a') }));
  assert.ok(!has(store, { path: '/p', req: req('b') }));
  assert.equal(store.variantsOf(primaryKey('z', 'cdn.example', '/p', '')).length, 3);
});

test('hasVariants answers without walking the variants, and forgets an object purged with its zone', () => {
  const store = newStore();
  const key = primaryKey('z', 'cdn.example', '/h', '');
  assert.equal(store.hasVariants(key), false);
  store.insert(input({ path: '/h', req: { origin: 'https://a.example' } }));
  assert.equal(store.hasVariants(key), true);
  // Enough newer variants that the purge's sweep (5,000 a slice, newest first) has not reached /h when asked.
  for (let i = 0; i < 6_000; i++) store.insert(input({ path: `/other/${i}` }));
  store.purge({ kind: 'everything', zoneId: 'z' }, false);
  assert.ok(store.stats().variants > 0, 'the sweep is still under way');
  assert.equal(store.hasVariants(key), false, 'purged everything: nothing live, before the sweep too');
  store.insert(input({ path: '/h', req: { origin: 'https://b.example' } }));
  assert.equal(store.hasVariants(key), true);
});

test('per-zone stats: objects, variants and body bytes follow inserts, purges and evictions, zone by zone', () => {
  const store = newStore();
  const put = (zoneId: string, path: string, origin: string, body: string): void => {
    store.insert(input({ zoneId, path, req: { origin }, body: Buffer.from(body) }), store.epoch());
  };
  put('a', '/x', 'https://o1.example', 'aaaa');
  put('a', '/x', 'https://o2.example', 'aaaa');
  put('a', '/y', 'https://o1.example', 'bb');
  put('b', '/x', 'https://o1.example', 'c');
  assert.deepEqual(store.zoneStats()['a'], { objects: 2, variants: 3, bodyBytes: 10, evictions: 0 });
  assert.deepEqual(store.zoneStats()['b'], { objects: 1, variants: 1, bodyBytes: 1, evictions: 0 });
  store.purge({ kind: 'object', zoneId: 'b', host: 'cdn.example', path: '/x', query: '' }, false);
  assert.deepEqual(store.zoneStats()['b'], { objects: 0, variants: 0, bodyBytes: 0, evictions: 0 });
  assert.equal(store.zoneStats()['a']?.variants, 3, 'another zone is untouched');
  // The byte bound evicts the oldest variants: counted for their zone.
  const small = newStore(40_000);
  for (let i = 0; i < 50; i++) small.insert(input({ zoneId: i < 25 ? 'old' : 'new', path: `/p${i}`, body: Buffer.alloc(2000, 1 + (i % 200)) }), small.epoch());
  const z = small.zoneStats();
  assert.ok(z['old']!.evictions > 0, 'the old zone lost variants to the bound');
  assert.equal(z['old']!.variants + z['new']!.variants, small.stats().variants);
  assert.equal(z['old']!.evictions + z['new']!.evictions, small.stats().evictions);
});

test('key fields are read from the key, or kept apart when it does not spell them out; every index finds both kinds', () => {
  const store = newStore();
  const odd: VariantInput = { ...input({ path: '/odd/a', query: 'q=1' }), objectKey: 'custom\u0000key' };
  const v = store.insert(odd)!;
  assert.deepEqual([v.zoneId, v.host, v.path, v.query, v.objectKey], ['z', 'cdn.example', '/odd/a', 'q=1', 'custom\u0000key']);
  // A preflight's key is the URL's with a suffix: still read from the key.
  const pre: VariantInput = { ...input({ path: '/odd/b', query: 'x=2' }), objectKey: `${primaryKey('z', 'cdn.example', '/odd/b', 'x=2')}\u0000OPTIONS` };
  const p = store.insert(pre)!;
  assert.deepEqual([p.host, p.path, p.query], ['cdn.example', '/odd/b', 'x=2']);
  store.insert(input({ path: '/odd/b', query: 'x=2' }));
  store.insert(input({ path: '/odd/b', query: 'x=2', req: { origin: 'https://a.example' } })); // a second variant: the object's record
  store.insert(input({ path: '/other' }));
  assert.ok(store.lookup('custom\u0000key', {}) !== undefined);
  assert.equal(store.stats().objects, 4);
  assert.equal(store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/odd/' }, false), 4);
  assert.equal(store.lookup('custom\u0000key', {}), undefined);
  assert.equal(store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example' }, false), 1);
  assert.deepEqual([store.stats().objects, store.stats().variants], [0, 0]);
  assert.equal(store.chargedBytes(), 0, 'every charge is given back');
});

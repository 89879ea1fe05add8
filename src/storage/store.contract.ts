// The contract suites every store passes: the async interface (memory, disk, Redis tier: round trips, variants, every
// purge kind, reopen) and the synchronous CacheStore the edge calls (memory, disk: lookup, insert with epochs, refresh,
// remove, soft purge; streaming fills, failing writes and ranges in store-stream.contract.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { primaryKey, selectorOf, type HeaderValues } from '../cache/key.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { Freshness } from '../cache/policy/types.js';
import { bodyOf, type AsyncStore, type CacheStore, type PurgeTarget, type VariantInput } from './store.js';
import { runStreamContract, type StreamCapability } from './store-stream.contract.js';

export interface OpenedStore {
  store: AsyncStore;
  /** For a store that persists: closes `store` and opens the same data again, returning the new instance. */
  reopen?: () => Promise<AsyncStore>;
  /** Closes the latest instance and removes what the store left behind (files, keys). */
  cleanup(): Promise<void>;
}

const A = 'https://a.example';
const B = 'https://b.example';

/** The freshness a store must hand back unchanged (odd values, so a default cannot pass for it). */
export const CONTRACT_FRESHNESS: Freshness = {
  lifetime: 3600, correctedInitialAge: 7, responseTime: 1_700_000_000_123, staleWhileRevalidate: 30, staleIfError: 600,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 's-maxage', directivesSource: 'cdn-cache-control',
};

export interface ContractEntry {
  zoneId?: string; host?: string; path: string; query?: string; req?: HeaderValues; keyNames?: readonly string[];
  tags?: string[]; body?: Buffer; status?: number; headers?: [string, string][];
}

/** A VariantInput as the edge builds one: key, selector from the request headers, response and freshness. */
export function contractInput(e: ContractEntry): VariantInput {
  const zoneId = e.zoneId ?? 'z';
  const host = e.host ?? 'cdn.example';
  const query = e.query ?? '';
  const keyNames = e.keyNames ?? ['origin'];
  const body = e.body ?? Buffer.from(`${host}${e.path}?${query} ${JSON.stringify(e.req ?? {})}`);
  return {
    zoneId, host, path: e.path, query, objectKey: primaryKey(zoneId, host, e.path, query), keyNames,
    selector: selectorOf(keyNames, e.req ?? {}, normalizeVaryValue), status: e.status ?? 200,
    headers: e.headers ?? [['content-type', 'text/plain'], ['content-length', String(body.length)]],
    body, freshness: CONTRACT_FRESHNESS, tags: e.tags ?? [],
  };
}

export function runStoreContract(name: string, open: () => Promise<OpenedStore>, opts: { persistent?: boolean } = { persistent: true }): void {
  /** Runs `body` with a freshly opened store; always cleans up. */
  const withStore = (title: string, body: (s: OpenedStore & { current(): AsyncStore; t: TestContext }) => Promise<void>): void => {
    test(`${name}: ${title}`, async (t) => {
      const opened = await open();
      let current = opened.store;
      const reopen = opened.reopen && (async () => (current = await opened.reopen!()));
      try {
        await body({ ...opened, reopen, current: () => current, t });
      } finally {
        await opened.cleanup();
      }
    });
  };
  const get = (s: AsyncStore, e: ContractEntry) => s.get(contractInput(e).objectKey, e.req ?? {});
  const bodyOf = async (s: AsyncStore, e: ContractEntry): Promise<string | undefined> => (await get(s, e))?.body.toString('utf8');
  const putAll = async (s: AsyncStore, entries: ContractEntry[]): Promise<void> => {
    for (const e of entries) assert.equal(await s.put(contractInput(e)), true, `stored ${e.host ?? ''}${e.path} ${JSON.stringify(e.req ?? {})}`);
  };
  /** Which of the entries a lookup still finds. */
  const present = async (s: AsyncStore, entries: ContractEntry[]): Promise<boolean[]> => {
    const out: boolean[] = [];
    for (const e of entries) out.push((await get(s, e)) !== undefined);
    return out;
  };

  withStore('a stored variant comes back with its status, headers, body bytes, freshness, tags and key', async ({ store }) => {
    const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0d, 0x0a, 0x7b]);
    const e: ContractEntry = {
      path: '/app.js', query: 'v=1', req: { origin: A }, status: 203, tags: ['product-1', 'common'], body,
      headers: [['content-type', 'application/javascript'], ['access-control-allow-origin', A], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']],
    };
    const before = Date.now();
    assert.equal(await store.put(contractInput(e)), true);
    const got = await get(store, e);
    assert.ok(got, 'found');
    assert.equal(got.status, 203);
    assert.deepEqual(got.headers, e.headers);
    assert.ok(got.body.equals(body), 'body bytes');
    assert.deepEqual(got.freshness, CONTRACT_FRESHNESS);
    assert.deepEqual([...got.tags].sort(), ['common', 'product-1']);
    assert.deepEqual([...got.keyNames], ['origin']);
    assert.equal(got.selector, contractInput(e).selector);
    assert.equal(got.forcedStale, false);
    assert.ok(got.storedAt >= before - 1000 && got.storedAt <= Date.now() + 1000, `storedAt ${got.storedAt}`);
    assert.equal(await get(store, { ...e, query: 'v=2' }), undefined, 'another query is another object');
    assert.equal(await get(store, { ...e, host: 'other.example' }), undefined, 'another host is another object');
  });

  withStore('variants: each Origin, no Origin and each value of another Vary header get their own response', async ({ store }) => {
    const cors: ContractEntry[] = [{ path: '/c.json', req: { origin: A } }, { path: '/c.json', req: { origin: B } }, { path: '/c.json' }];
    const langs: ContractEntry[] = ['en', 'fr'].map((l) => ({ path: '/v.json', keyNames: ['origin', 'accept-language'], req: { origin: A, 'accept-language': l } }));
    await putAll(store, [...cors, ...langs]);
    for (const e of [...cors, ...langs]) assert.equal(await bodyOf(store, e), contractInput(e).body.toString(), JSON.stringify(e.req ?? {}));
    assert.equal(await get(store, { path: '/c.json', req: { origin: 'https://c.example' } }), undefined, 'an unseen Origin is a miss');
    assert.equal(await get(store, { path: '/v.json', keyNames: ['origin', 'accept-language'], req: { origin: A, 'accept-language': 'de' } }), undefined);
    // Storing the same selector again replaces that variant only.
    await store.put(contractInput({ path: '/c.json', req: { origin: A }, body: Buffer.from('new A') }));
    assert.equal(await bodyOf(store, cors[0]!), 'new A');
    assert.equal(await bodyOf(store, cors[1]!), contractInput(cors[1]!).body.toString());
  });

  withStore('purge object removes every variant of that URL only; purge variant removes the one its headers select', async ({ store }) => {
    const app: ContractEntry[] = [{ path: '/app.js', req: { origin: A } }, { path: '/app.js', req: { origin: B } }, { path: '/app.js' }];
    const others: ContractEntry[] = [{ path: '/app.js', query: 'v=2' }, { path: '/other.js', req: { origin: A } }, { path: '/app.js', zoneId: 'y' }];
    await putAll(store, [...app, ...others]);
    const url = { zoneId: 'z', host: 'cdn.example', path: '/app.js', query: '' };
    assert.equal(await store.purge({ kind: 'variant', ...url, headers: { origin: B } }, false), 1);
    assert.deepEqual(await present(store, app), [true, false, true]);
    assert.equal(await store.purge({ kind: 'object', ...url }, false), 2);
    assert.deepEqual(await present(store, [...app, ...others]), [false, false, false, true, true, true]);
  });

  withStore('purge by tag removes the tagged variants of that zone only', async ({ store }) => {
    const entries: ContractEntry[] = [
      { path: '/a.js', tags: ['product-1', 'common'] }, { path: '/b.js', req: { origin: A }, tags: ['common'] },
      { path: '/c.js', tags: ['product-2'] }, { path: '/d.js' }, { path: '/a.js', zoneId: 'y', tags: ['common'] },
    ];
    await putAll(store, entries);
    assert.equal(await store.purge({ kind: 'tag', zoneId: 'z', tag: 'common' }, false), 2);
    assert.deepEqual(await present(store, entries), [false, false, true, true, true]);
  });

  withStore('purge by host: with a port names that port only, without one names the host on every port', async ({ store }) => {
    const entries: ContractEntry[] = [
      { host: 'cdn.example', path: '/a' }, { host: 'cdn.example:8080', path: '/a' }, { host: 'cdn.example:9090', path: '/b', req: { origin: A } },
      { host: 'img.example', path: '/a' },
    ];
    await putAll(store, entries);
    assert.equal(await store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example:8080' }, false), 1);
    assert.deepEqual(await present(store, entries), [true, false, true, true]);
    assert.equal(await store.purge({ kind: 'host', zoneId: 'z', host: 'cdn.example' }, false), 2);
    assert.deepEqual(await present(store, entries), [false, false, false, true]);
  });

  withStore('purge by prefix removes the paths under it on that host', async ({ store }) => {
    const entries: ContractEntry[] = [
      { path: '/static/a.css' }, { path: '/static/img/b.png', req: { origin: A } }, { path: '/staticx' }, { path: '/other/static/c' },
      { host: 'img.example', path: '/static/a.css' },
    ];
    await putAll(store, entries);
    assert.equal(await store.purge({ kind: 'prefix', zoneId: 'z', host: 'cdn.example', pathPrefix: '/static/' }, false), 2);
    assert.deepEqual(await present(store, entries), [false, false, true, true, true]);
  });

  withStore('purge everything empties one zone; what is stored after it stays', async ({ store }) => {
    const entries: ContractEntry[] = [{ path: '/a' }, { path: '/b', req: { origin: A }, tags: ['t'] }, { path: '/a', zoneId: 'y' }];
    await putAll(store, entries);
    await store.purge({ kind: 'everything', zoneId: 'z' }, false);
    assert.deepEqual(await present(store, entries), [false, false, true]);
    await putAll(store, [entries[0]!]);
    assert.deepEqual(await present(store, entries), [true, false, true]);
  });

  withStore('soft purges mark stale and keep the body (object, tag, everything); a new store of the variant is fresh', async ({ store }) => {
    const entries: ContractEntry[] = [
      { path: '/a', req: { origin: A } }, { path: '/a' }, { path: '/t', tags: ['soft'] }, { path: '/other' }, { path: '/y', zoneId: 'y' },
    ];
    await putAll(store, entries);
    const stale = async (): Promise<(boolean | undefined)[]> => Promise.all(entries.map(async (e) => (await get(store, e))?.forcedStale));
    assert.equal(await store.purge({ kind: 'object', zoneId: 'z', host: 'cdn.example', path: '/a', query: '' }, true), 2);
    assert.equal(await store.purge({ kind: 'tag', zoneId: 'z', tag: 'soft' }, true), 1);
    assert.deepEqual(await stale(), [true, true, true, false, false]);
    for (const e of entries) assert.equal(await bodyOf(store, e), contractInput(e).body.toString(), 'body kept');
    await store.purge({ kind: 'everything', zoneId: 'z' }, true);
    assert.deepEqual(await stale(), [true, true, true, true, false]);
    await putAll(store, [entries[0]!]);
    assert.equal((await get(store, entries[0]!))?.forcedStale, false);
  });

  withStore('clear drops everything in every zone', async ({ store }) => {
    const entries: ContractEntry[] = [{ path: '/a' }, { path: '/a', zoneId: 'y', req: { origin: A } }];
    await putAll(store, entries);
    await store.clear();
    assert.deepEqual(await present(store, entries), [false, false]);
    await putAll(store, entries);
    assert.deepEqual(await present(store, entries), [true, true]);
  });

  // Streaming fills and ranges are the synchronous CacheStore's (beginFill, BodyFile.stream): this interface moves whole
  // bodies, which the Redis tier stores as one value. Said here so that no store skips them silently.
  withStore('streaming fills and byte ranges: not part of this interface (whole bodies; see the CacheStore suite)', async ({ store }) => {
    assert.equal('beginFill' in store, false, 'the async interface offers no fill');
    assert.equal('stream' in store, false, 'nor ranges');
  });

  withStore('a large body (5 MB of random bytes) round-trips intact', async ({ store }) => {
    const body = randomBytes(5 * 1024 * 1024);
    const e: ContractEntry = { path: '/big.bin', body };
    assert.equal(await store.put(contractInput(e)), true);
    const got = await get(store, e);
    assert.ok(got && got.body.equals(body));
  });

  // A store that does not persist (memory) starts empty by design: the reopen test is not registered for it.
  if (opts.persistent !== false) withStore('reopen (stores that persist): entries, variants, tags, freshness and purges are all kept', async ({ reopen, current }) => {
    assert.ok(reopen, 'a persistent store must provide reopen()');
    const kept: ContractEntry[] = [
      { path: '/a', req: { origin: A }, tags: ['t1'] }, { path: '/a', req: { origin: B }, tags: ['t1'] }, { path: '/a' },
      { path: '/v', keyNames: ['origin', 'accept-language'], req: { origin: A, 'accept-language': 'fr' } },
    ];
    const softOne: ContractEntry = { path: '/soft', tags: ['s'] };
    const purged: ContractEntry[] = [{ path: '/gone' }, { path: '/tagged', tags: ['drop'] }, { path: '/z', zoneId: 'y' }, { path: '/a', req: { origin: 'https://c.example' } }];
    await putAll(current(), [...kept, softOne, ...purged]);
    const s1 = current();
    await s1.purge({ kind: 'object', zoneId: 'z', host: 'cdn.example', path: '/gone', query: '' }, false);
    await s1.purge({ kind: 'tag', zoneId: 'z', tag: 'drop' }, false);
    await s1.purge({ kind: 'everything', zoneId: 'y' }, false);
    await s1.purge({ kind: 'variant', zoneId: 'z', host: 'cdn.example', path: '/a', query: '', headers: { origin: 'https://c.example' } }, false);
    await s1.purge({ kind: 'tag', zoneId: 'z', tag: 's' }, true);
    const storedAt = await Promise.all(kept.map(async (e) => (await s1.get(contractInput(e).objectKey, e.req ?? {}))?.storedAt));
    const s2 = await reopen();
    for (const [i, e] of kept.entries()) {
      const got = await s2.get(contractInput(e).objectKey, e.req ?? {});
      assert.ok(got, `kept ${e.path} ${JSON.stringify(e.req ?? {})}`);
      assert.equal(got.storedAt, storedAt[i], 'storedAt kept');
      assert.equal(got.body.toString(), contractInput(e).body.toString());
      assert.deepEqual(got.freshness, CONTRACT_FRESHNESS);
      assert.deepEqual([...got.tags], e.tags ?? []);
      assert.equal(got.forcedStale, false);
    }
    assert.equal((await s2.get(contractInput(softOne).objectKey, {}))?.forcedStale, true, 'a soft purge stays soft');
    assert.deepEqual(await present(s2, purged), [false, false, false, false], 'purged stays purged');
    // The indexes came back too: a tag purge after the reopen finds the reloaded variants.
    assert.equal(await s2.purge({ kind: 'tag', zoneId: 'z', tag: 't1' }, false), 2);
    assert.deepEqual(await present(s2, kept), [false, false, true, true]);
  });
}

/** For stores' own tests: a purge target for one entry's URL. */
export function objectTarget(e: ContractEntry): PurgeTarget {
  return { kind: 'object', zoneId: e.zoneId ?? 'z', host: e.host ?? 'cdn.example', path: e.path, query: e.query ?? '' };
}

export interface OpenedCacheStore {
  store: CacheStore;
  /** For a store that persists: closes `store` and opens the same data again. */
  reopen?: () => Promise<CacheStore>;
  /** Closes the latest instance and removes what the store left behind. */
  cleanup(): Promise<void>;
  /** Waits for the writes the store finishes in the background (a disk store's files). */
  settle?(): Promise<void>;
  /** A store that streams: makes every body write fail until the returned function restores them. */
  breakWrites?(): Promise<() => Promise<void>>;
}

/** How a CacheStore case runs: a fresh store per test (reopenable when it persists), cleaned up also on failure. */
export function cacheStoreCases(name: string, open: () => Promise<OpenedCacheStore>) {
  const withStore = (title: string, body: (s: OpenedCacheStore & { current(): CacheStore }) => Promise<void> | void): void => {
    test(`${name} (CacheStore): ${title}`, async () => {
      const opened = await open();
      let current = opened.store;
      const reopen = opened.reopen && (async () => (current = await opened.reopen!()));
      try {
        await body({ ...opened, reopen, current: () => current });
      } finally {
        await opened.cleanup();
      }
    });
  };
  const find = (s: CacheStore, e: ContractEntry) => s.lookup(contractInput(e).objectKey, e.req ?? {});
  return { withStore, find };
}

/**
 * The synchronous interface the edge calls on every request (lookups never wait on I/O): every local store passes it,
 * with the cases on streaming fills, failing body writes and ranges (store-stream.contract.ts) for what it declares.
 */
export function runCacheStoreContract(name: string, open: () => Promise<OpenedCacheStore>, stream: StreamCapability): void {
  runStreamContract(name, open, stream);
  const { withStore, find } = cacheStoreCases(name, open);

  withStore('lookup finds the variant insert returned, by the request\'s selector; variantsOf lists every variant, hasVariants says so', async ({ store }) => {
    const a: ContractEntry = { path: '/l', req: { origin: A } };
    const b: ContractEntry = { path: '/l', req: { origin: B } };
    assert.equal(find(store, a), undefined);
    assert.deepEqual(store.variantsOf(contractInput(a).objectKey), []);
    assert.equal(store.hasVariants(contractInput(a).objectKey), false);
    const va = store.insert(contractInput(a));
    const vb = store.insert(contractInput(b));
    assert.ok(va && vb);
    assert.equal(store.hasVariants(contractInput(a).objectKey), true);
    assert.equal(store.hasVariants(contractInput({ path: '/other' }).objectKey), false);
    assert.equal(find(store, a)?.id, va.id);
    assert.equal(find(store, b)?.id, vb.id);
    assert.equal(find(store, { path: '/l' }), undefined, 'no Origin selects neither');
    assert.deepEqual(store.variantsOf(contractInput(a).objectKey).map((v) => v.id).sort(), [va.id, vb.id].sort());
    const got = find(store, a)!;
    assert.equal(got.objectKey, contractInput(a).objectKey);
    assert.equal(got.selector, contractInput(a).selector);
    assert.deepEqual(got.fieldMap['content-type'], 'text/plain');
    assert.deepEqual(got.flatHeaders, contractInput(a).headers.flat());
    assert.equal((await bodyOf(got)).toString(), contractInput(a).body.toString());
  });

  withStore('insert with the epoch its fetch started at: a hard purge since then covering it keeps it out; a soft one stores it stale', ({ store }) => {
    const e: ContractEntry = { path: '/epoch', req: { origin: A } };
    const other: ContractEntry = { path: '/unrelated' };
    const started = store.epoch();
    assert.equal(store.purge(objectTarget(e), false), 0);
    assert.ok(store.epoch() > started, 'every purge moves the epoch on');
    assert.equal(store.insert(contractInput(e), started), undefined, 'purged while it was fetched: not stored');
    assert.equal(find(store, e), undefined);
    assert.equal(store.insert(contractInput(other), started)?.forcedStale, false, 'a purge of another URL does not cover it');
    const before = store.epoch();
    store.purge(objectTarget(e), true);
    const soft = store.insert(contractInput(e), before);
    assert.ok(soft, 'stored despite a soft purge');
    assert.equal(soft.forcedStale, true, 'but stale');
    assert.equal(store.insert(contractInput(e), store.epoch())?.forcedStale, false, 'a fetch after the purge stores fresh');
    const mark = store.epoch();
    store.purge({ kind: 'everything', zoneId: 'z' }, false);
    assert.equal(store.insert(contractInput(e), mark), undefined, 'purge everything covers every fetch of its zone');
    assert.ok(store.insert(contractInput({ ...e, zoneId: 'y' }), mark), 'but not another zone\'s');
  });

  withStore('purgedSince: only purges since the epoch that name the variant count (soft ones too, other URLs do not)', ({ store }) => {
    const e: ContractEntry = { path: '/since', req: { origin: A } };
    const v = store.insert(contractInput(e))!;
    const started = store.epoch();
    assert.equal(store.purgedSince(v, started), false, 'nothing since');
    store.purge(objectTarget({ path: '/elsewhere' }), false);
    store.purge({ kind: 'tag', zoneId: 'z', tag: 'not-its-tag' }, false);
    assert.equal(store.purgedSince(v, started), false, 'purges of other URLs and tags do not name it');
    const mark = store.epoch();
    store.purge(objectTarget(e), true);
    assert.equal(store.purgedSince(v, started), true, 'a soft purge of its URL names it');
    assert.equal(store.purgedSince(v, mark - 1), true);
    assert.equal(store.purgedSince(v, store.epoch()), false, 'but not once the epoch is past it');
    const after = store.epoch();
    store.purge({ kind: 'everything', zoneId: 'y' }, false);
    assert.equal(store.purgedSince(v, after), false, 'purge everything of another zone');
    store.purge({ kind: 'everything', zoneId: 'z' }, true);
    assert.equal(store.purgedSince(v, after), true, 'purge everything of its zone');
  });

  withStore('refresh replaces headers and freshness in place (RFC 9111 §4.3.4) and ends a soft purge', async ({ store, reopen, current }) => {
    const e: ContractEntry = { path: '/r', req: { origin: A } };
    const v = store.insert(contractInput(e))!;
    store.purge(objectTarget(e), true);
    assert.equal(find(store, e)?.forcedStale, true);
    const headers: [string, string][] = [['content-type', 'text/plain'], ['etag', '"v2"'], ['content-length', String(v.bodyLength)]];
    const freshness = { ...CONTRACT_FRESHNESS, lifetime: 60, responseTime: CONTRACT_FRESHNESS.responseTime + 5000 };
    store.refresh(v, headers, freshness);
    const got = find(store, e)!;
    assert.equal(got.id, v.id, 'the same variant');
    assert.deepEqual(got.headers, headers);
    assert.equal(got.fieldMap.etag, '"v2"');
    assert.deepEqual(got.flatHeaders, headers.flat());
    assert.deepEqual(got.freshness, freshness);
    assert.equal(got.forcedStale, false);
    if (reopen) {
      await reopen();
      const again = find(current(), e);
      assert.ok(again, 'kept across a reopen');
      assert.notEqual(await current().loadFields?.(again), false, 'its fields load (a disk tier keeps them in its entry file)');
      assert.deepEqual(again.headers, headers);
      assert.deepEqual(again.freshness, freshness);
    }
  });

  withStore('remove drops one variant; the object\'s others stay', ({ store }) => {
    const a: ContractEntry = { path: '/rm', req: { origin: A } };
    const b: ContractEntry = { path: '/rm', req: { origin: B } };
    const va = store.insert(contractInput(a))!;
    store.insert(contractInput(b));
    store.remove(va);
    assert.equal(find(store, a), undefined);
    assert.ok(find(store, b));
    assert.deepEqual(store.variantsOf(contractInput(a).objectKey).length, 1);
    store.remove(va);
    assert.ok(find(store, b), 'removing twice is harmless');
  });

  withStore('soft purges mark stale and keep serving the body; hard purges remove; counts say how many variants', async ({ store }) => {
    const entries: ContractEntry[] = [{ path: '/s', req: { origin: A }, tags: ['t'] }, { path: '/s' }, { path: '/u', tags: ['t'] }, { path: '/w' }];
    for (const e of entries) assert.ok(store.insert(contractInput(e)));
    assert.equal(store.purge(objectTarget(entries[0]!), true), 2);
    assert.deepEqual(entries.map((e) => find(store, e)?.forcedStale), [true, true, false, false]);
    assert.equal((await bodyOf(find(store, entries[0]!)!)).toString(), contractInput(entries[0]!).body.toString(), 'the body is kept to revalidate');
    assert.equal(store.purge({ kind: 'tag', zoneId: 'z', tag: 't' }, true), 2);
    assert.equal(find(store, entries[2]!)?.forcedStale, true);
    store.purge({ kind: 'everything', zoneId: 'z' }, true);
    assert.equal(find(store, entries[3]!)?.forcedStale, true, 'a soft purge everything marks on the next lookup');
    assert.equal(store.purge({ kind: 'tag', zoneId: 'z', tag: 't' }, false), 2);
    assert.deepEqual(entries.map((e) => find(store, e) !== undefined), [false, true, false, true]);
    store.purge({ kind: 'everything', zoneId: 'z' }, false);
    assert.deepEqual(entries.map((e) => find(store, e)), [undefined, undefined, undefined, undefined]);
    assert.deepEqual(store.variantsOf(contractInput(entries[1]!).objectKey), []);
  });
}

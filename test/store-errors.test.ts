// End to end: a cache store that throws is a miss (or a response not stored), counted in edgecache_store_errors_total and
// logged; never a 500, never silence. The faults are real stores whose methods throw (the fault itself, not a mock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, type MemoryStoreOptions } from '../src/storage/memory.js';
import type { HeaderValues } from '../src/cache/key.js';
import type { PurgeTarget, StoredVariant, VariantInput } from '../src/storage/store.js';
import type { Freshness } from '../src/cache/policy/types.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import { metric, send, startOrigin, startTestEdge } from './helpers/http.js';
import { captureLogs } from './helpers/capture-logger.js';

/** A memory store whose named operations throw, as a broken disk or a bug in a store would. */
class FailingStore extends MemoryStore {
  constructor(readonly failing: Set<'lookup' | 'insert' | 'refresh' | 'purge'>, opts?: Partial<MemoryStoreOptions>) {
    super({ maxBytes: 1 << 24, normalize: normalizeVaryValue, ...opts });
  }
  override lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    if (this.failing.has('lookup')) throw new Error('store lookup failed: the index is broken');
    return super.lookup(objectKey, headers);
  }
  override insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    if (this.failing.has('insert')) throw new Error('store insert failed: no space left');
    return super.insert(input, sinceEpoch);
  }
  override refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void {
    if (this.failing.has('refresh')) throw new Error('store refresh failed');
    super.refresh(v, headers, freshness);
  }
  override purge(target: PurgeTarget, soft: boolean): number {
    if (this.failing.has('purge')) throw new Error('store purge failed');
    return super.purge(target, soft);
  }
}

const captureLogger = () => captureLogs<Record<string, unknown>>('warn');

async function setup(t: import('node:test').TestContext, store: FailingStore) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    if (req.headers['if-none-match'] === '"e"') { res.writeHead(304, { etag: '"e"', 'cache-control': 'max-age=600' }); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': req.url === '/short' ? 'max-age=0' : 'max-age=600', etag: '"e"' });
    res.end(`body ${n}`);
  });
  const { logger, lines } = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url }, { logger, store });
  return { origin, edge, lines };
}

test('a lookup that throws is a miss: the origin answers, the failure is counted and logged', async (t) => {
  const store = new FailingStore(new Set(['lookup']));
  const { origin, edge, lines } = await setup(t, store);
  const a = await send(`${edge.base}/doc`);
  const b = await send(`${edge.base}/doc`);
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.deepEqual([a.body, b.body], ['body 1', 'body 2'], 'every request went to the origin');
  assert.equal(b.headers['cf-cache-status'], 'MISS');
  assert.equal(origin.count('/doc'), 2);
  assert.ok(await metric(edge, 'edgecache_store_errors_total') >= 2, 'each failed lookup counted');
  const logged = lines.filter((l) => l.msg === 'cache store failed; answered as a miss');
  assert.ok(logged.length >= 1, 'logged');
  assert.equal(logged[0]!.op, 'lookup');
  assert.match(String(logged[0]!.err), /the index is broken/);
});

test('an insert that throws stores nothing: the answer still goes out whole, counted', async (t) => {
  const store = new FailingStore(new Set(['insert']));
  const { origin, edge, lines } = await setup(t, store);
  for (const expected of ['body 1', 'body 2']) {
    const r = await send(`${edge.base}/doc`);
    assert.equal(r.status, 200);
    assert.equal(r.body, expected);
    assert.equal(r.headers['cf-cache-status'], 'MISS');
  }
  assert.equal(origin.count('/doc'), 2, 'nothing was stored');
  assert.equal(await metric(edge, 'edgecache_store_errors_total'), 2);
  assert.equal(lines.filter((l) => l.op === 'insert').length, 1, 'logged once, then counted (no log flood)');
});

test('a refresh that throws after a 304 still answers from the stored response', async (t) => {
  const store = new FailingStore(new Set());
  const { edge } = await setup(t, store);
  assert.equal((await send(`${edge.base}/short`)).body, 'body 1');
  store.failing.add('refresh');
  const r = await send(`${edge.base}/short`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'body 1');
  assert.equal(r.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(await metric(edge, 'edgecache_store_errors_total'), 1);
});

test('an invalidation purge that throws does not fail the unsafe request', async (t) => {
  const store = new FailingStore(new Set(['purge']));
  const { edge } = await setup(t, store);
  const r = await send(`${edge.base}/doc`, { method: 'POST', body: 'x' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['cf-cache-status'], 'DYNAMIC');
  assert.equal(await metric(edge, 'edgecache_store_errors_total'), 1);
});

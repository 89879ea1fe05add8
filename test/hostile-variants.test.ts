// Variants an attacker (or a hostile origin) controls: Vary names that are Object.prototype keys, Accept-Encoding
// junk, and floods of Origins on one URL. Each test sends the hostile input itself and asserts the answer or the bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, purge, metric } from './helpers/http.js';
import { MemoryStore } from '../src/storage/memory.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import { primaryKey } from '../src/cache/key.js';
import type { StoredVariant } from '../src/storage/store.js';

/** A real memory store that counts walks of a URL's variants (the request path must never make one). */
class WalkCountingStore extends MemoryStore {
  walks = 0;
  override variantsOf(objectKey: string): readonly StoredVariant[] { this.walks++; return super.variantsOf(objectKey); }
}

/** Every own property name of Object.prototype, plus the names that reach it through other routes. */
export const PROTOTYPE_KEYS: readonly string[] = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'];

test('Vary and key headers naming Object.prototype keys are ordinary (absent) fields: no 5xx, hits, purges', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const name = decodeURIComponent(req.url!.slice('/vary/'.length));
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', vary: `${name}, Accept-Language` });
    res.end(`body for ${name} (${String(req.headers['accept-language'])})`);
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { headers: ['origin', 'constructor', '__proto__', 'tostring'] } }] });
  for (const name of PROTOTYPE_KEYS) {
    const path = `/vary/${encodeURIComponent(name)}`;
    const first = await send(`${edge.base}${path}`, { headers: { 'accept-language': 'en', 'hasOwnProperty': 'x' } });
    assert.equal(first.status, 200, `Vary: ${name} → ${first.status} ${first.body}`);
    assert.equal(first.headers['cf-cache-status'], 'MISS');
    const again = await send(`${edge.base}${path}`, { headers: { 'accept-language': 'en', 'hasOwnProperty': 'x' } });
    assert.equal(again.status, 200);
    assert.equal(again.headers['cf-cache-status'], 'HIT', `Vary: ${name}: the second request is a hit`);
    const other = await send(`${edge.base}${path}`, { headers: { 'accept-language': 'fr' } });
    assert.equal(other.headers['cf-cache-status'], 'MISS', `Vary: ${name}: another Accept-Language is another variant`);
    // A purge naming the variant by headers, including the prototype key itself.
    const p = await purge(edge, 'z', { files: [{ url: `http://127.0.0.1${path}`, headers: { 'Accept-Language': 'en', [name]: 'x' } }] });
    assert.equal(p.status, 200);
  }
  assert.equal(origin.count(), PROTOTYPE_KEYS.length * 2);
  const h = await send(`${edge.adminBase}/healthz`);
  assert.equal(h.status, 200);
});

test('forty junk Accept-Encoding values on a URL that varies on it make one variant and one origin fetch', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', vary: 'Accept-Encoding' });
    res.end(`coding asked: ${String(req.headers['accept-encoding'])}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const statuses: string[] = [];
  for (let i = 0; i < 40; i++) {
    const r = await send(`${edge.base}/ae`, { headers: { 'accept-encoding': `gzip, x-junk-${i};q=0.${i % 10}, deflate${i % 2 ? ', GZIP' : ''}` } });
    assert.equal(r.body, 'coding asked: gzip', 'the origin was asked for what the key holds');
    statuses.push(String(r.headers['cf-cache-status']));
  }
  assert.deepEqual(statuses, ['MISS', ...Array(39).fill('HIT')]);
  assert.equal(origin.count('/ae'), 1);
  assert.equal(edge.store.stats().variants, 1);
});

test('a flood of 1,000 Origins on one URL keeps at most maxVariants of them, evicts nothing else, and never walks them', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', vary: 'Origin', 'access-control-allow-origin': String(req.headers.origin ?? '*') });
    res.end(`for ${String(req.headers.origin)} ${'.'.repeat(200)}`);
  });
  const store = new WalkCountingStore({ maxBytes: 4 * 1024 * 1024, normalize: normalizeVaryValue });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { maxVariants: 16 } }] }, { store });
  const unrelated = Array.from({ length: 50 }, (_, i) => `/keep/${i}`);
  for (const path of unrelated) assert.equal((await send(`${edge.base}${path}`, { headers: { origin: 'https://app.example' } })).headers['cf-cache-status'], 'MISS');
  const N = 1_000;
  for (let i = 0; i < N; i += 25) {
    await Promise.all(Array.from({ length: 25 }, async (_, j) => {
      const r = await send(`${edge.base}/flooded`, { headers: { origin: `https://attacker-${i + j}.example` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], `https://attacker-${i + j}.example`);
    }));
  }
  const key = primaryKey('z', '127.0.0.1:' + edge.edge.port, '/flooded', '');
  assert.equal(store.variantsOf(key).length, 16, 'the URL keeps maxVariants variants');
  store.walks = 0;
  for (const path of unrelated) {
    const r = await send(`${edge.base}${path}`, { headers: { origin: 'https://app.example' } });
    assert.equal(r.headers['cf-cache-status'], 'HIT', `${path} survived the flood`);
  }
  // A miss on the flooded URL (another Origin) is labelled without walking its variants.
  const miss = await send(`${edge.base}/flooded`, { headers: { origin: 'https://late.example' } });
  assert.match(String(miss.headers['cache-status']), /fwd=vary-miss/);
  assert.equal(store.walks, 0, 'the request path walked no variant list');
  assert.equal(store.stats().evictions, 0, 'nothing evicted by bytes');
  assert.equal(await metric(edge, 'edgecache_variant_evictions_total'), N + 1 - 16);
  assert.equal(origin.count('/flooded'), N + 1);
});

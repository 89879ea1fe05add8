// Tests for the handler's routing and lookup steps, on real compiled zones and a real memory store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../config/load.js';
import { objectKeyOf, RequestKey } from '../cache/key.js';
import { DEFAULT_POLICY_OPTIONS, normalizeVaryValue, computeFreshness } from '../cache/policy/index.js';
import { MemoryStore } from '../storage/memory.js';
import { compileZones } from './zones.js';
import { lookupStep, routeStep } from './handler.js';
import { resolveTarget } from './target.js';
import type { EdgeKey } from './context.js';

const router = compileZones(validateConfig({
  zones: [
    { id: 'plain', hosts: ['plain.example'], origin: 'http://127.0.0.1:1', cacheKey: { cachePreflight: true } },
    { id: 'cors', hosts: ['cors.example'], origin: 'http://127.0.0.1:1', cors: { allowOrigins: ['https://app.example'] } },
  ],
}, 'test'));
test.after(() => router.close());

const T0 = Date.UTC(2025, 0, 1);
const keyOf = (url: string, host: string): EdgeKey => {
  const k = resolveTarget(url, host, router);
  assert.ok(k instanceof RequestKey);
  return k;
};
const preflightHeaders = { origin: 'https://app.example', 'access-control-request-method': 'PUT' };

test('routeStep: request content (a non-zero Content-Length or any Transfer-Encoding) passes; Content-Length: 0 is none', () => {
  const k = keyOf('/x', 'plain.example');
  assert.equal(routeStep('GET', {}, k).kind, 'cache');
  assert.equal(routeStep('GET', { 'content-length': '0' }, k).kind, 'cache');
  assert.deepEqual(routeStep('GET', { 'content-length': '3' }, k), { kind: 'pass', fwd: 'request', detail: 'request-content' });
  assert.deepEqual(routeStep('HEAD', { 'transfer-encoding': 'chunked' }, k), { kind: 'pass', fwd: 'request', detail: 'request-content' });
  assert.deepEqual(routeStep('DELETE', {}, k), { kind: 'pass', fwd: 'method' });
});

test('routeStep: preflights by zone, edge-owned CORS answers them, cachePreflight looks them up, a plain OPTIONS passes', () => {
  assert.deepEqual(routeStep('OPTIONS', preflightHeaders, keyOf('/x', 'cors.example')), { kind: 'preflight' });
  assert.deepEqual(routeStep('OPTIONS', preflightHeaders, keyOf('/x', 'plain.example')), { kind: 'cache', preflight: true });
  assert.deepEqual(routeStep('OPTIONS', { origin: 'https://app.example' }, keyOf('/x', 'plain.example')), { kind: 'pass', fwd: 'method' });
});

test('lookupStep: uri-miss, then a hit for the stored variant, vary-miss for another Origin, and the preflight cache apart', () => {
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const k = keyOf('/doc', 'plain.example');
  const a = { origin: 'https://a.example' };
  assert.deepEqual(lookupStep(a, k, store, T0), { kind: 'miss', fwd: 'uri-miss' });
  const freshness = computeFreshness({ headers: {} }, { status: 200, headers: { 'cache-control': 'max-age=60' } }, T0, T0, DEFAULT_POLICY_OPTIONS);
  const v = store.insert({ ...objectKeyOf(k), keyNames: k.keyNames, selector: k.selector(a, normalizeVaryValue), status: 200, headers: [], body: Buffer.from('x'), freshness, tags: [] });
  assert.ok(v);
  assert.deepEqual(lookupStep(a, k, store, T0 + 5_000), { kind: 'hit', variant: v, age: 5, ttl: 55 });
  assert.deepEqual(lookupStep({ origin: 'https://b.example' }, keyOf('/doc', 'plain.example'), store, T0), { kind: 'miss', fwd: 'vary-miss' });
  assert.equal(lookupStep(a, k, store, T0 + 61_000).kind, 'revalidate');
  assert.deepEqual(lookupStep({ ...a, ...preflightHeaders }, k.preflight(), store, T0), { kind: 'miss', fwd: 'uri-miss' }, 'a GET\'s variant never answers a preflight');
  store.purge({ kind: 'object', zoneId: k.zoneId, host: k.host, path: k.path, query: k.query }, true);
  assert.deepEqual(lookupStep(a, k, store, T0 + 5_000), { kind: 'revalidate', variant: v, fwd: 'stale', staleIfError: false }, 'soft-purged');
});

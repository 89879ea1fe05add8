// Tests for the origin-owned preflight cache rule (decidePreflight) and the preflight object key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePreflight } from './preflight.js';
import { preflightObjectKey, PREFLIGHT_KEY_NAMES, primaryKey } from '../key.js';

const T = 1_700_000_000_000;
const decide = (status: number, headers: Record<string, string>, delayMs = 0) => decidePreflight(status, headers, T - delayMs, T);

function lifetimeOf(d: ReturnType<typeof decidePreflight>): number {
  assert.ok(d.storable, `expected storable, got ${d.storable ? '' : d.reason}`);
  return d.freshness.lifetime;
}

test('a 200/204 preflight answer is kept for its Access-Control-Max-Age (https://fetch.spec.whatwg.org/#http-access-control-max-age)', () => {
  assert.equal(lifetimeOf(decide(204, { 'access-control-max-age': '600' })), 600);
  assert.equal(lifetimeOf(decide(200, { 'access-control-max-age': ' 30 ' })), 30);
  const d = decide(204, { 'access-control-max-age': '600' });
  assert.ok(d.storable && d.freshness.noStaleServing, 'never served stale');
  assert.deepEqual(decide(403, { 'access-control-max-age': '600' }), { storable: false, reason: 'status' });
  assert.deepEqual(decide(301, { 'access-control-max-age': '600' }), { storable: false, reason: 'status' });
});

test('without a positive, valid Access-Control-Max-Age nothing is stored', () => {
  for (const v of [undefined, '0', '-5', 'abc', '1.5', '']) {
    const h: Record<string, string> = v === undefined ? {} : { 'access-control-max-age': v };
    assert.deepEqual(decide(204, h), { storable: false, reason: 'no-freshness' }, String(v));
  }
});

test('no-store, private, no-cache and Set-Cookie keep it out (https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2)', () => {
  const base = { 'access-control-max-age': '600' };
  assert.deepEqual(decide(204, { ...base, 'cache-control': 'no-store' }), { storable: false, reason: 'no-store' });
  assert.deepEqual(decide(204, { ...base, 'cache-control': 'public, private' }), { storable: false, reason: 'private' });
  // A preflight answer has no validators: "validate before each use" (RFC 9111 §5.2.2.4) means "never reuse".
  assert.deepEqual(decide(204, { ...base, 'cache-control': 'no-cache' }), { storable: false, reason: 'no-cache' });
  assert.deepEqual(decide(204, { ...base, 'set-cookie': 'a=b' }), { storable: false, reason: 'set-cookie' });
});

test('s-maxage, else max-age, caps the lifetime; an invalid one makes it stale at once', () => {
  const base = { 'access-control-max-age': '600' };
  assert.equal(lifetimeOf(decide(204, { ...base, 'cache-control': 'max-age=60' })), 60);
  assert.equal(lifetimeOf(decide(204, { ...base, 'cache-control': 's-maxage=20, max-age=60' })), 20);
  assert.equal(lifetimeOf(decide(204, { ...base, 'cache-control': 'max-age=6000' })), 600, 'never longer than ACMA');
  assert.deepEqual(decide(204, { ...base, 'cache-control': 'max-age=0' }), { storable: false, reason: 'no-freshness' });
  assert.deepEqual(decide(204, { ...base, 'cache-control': 'max-age=soon' }), { storable: false, reason: 'no-freshness' });
});

test('targeted fields govern this cache over Cache-Control (https://www.rfc-editor.org/rfc/rfc9213#section-2.2)', () => {
  const base = { 'access-control-max-age': '600', 'cache-control': 'no-store' };
  assert.equal(lifetimeOf(decide(204, { ...base, 'cdn-cache-control': 'max-age=120' })), 120);
  const d = decide(204, { 'access-control-max-age': '600', 'cdn-cache-control': 'no-store' });
  assert.deepEqual(d, { storable: false, reason: 'no-store' });
});

test('an answer that aged upstream (Age) or on the way keeps only the rest of its lifetime (https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3)', () => {
  const d = decide(204, { 'access-control-max-age': '600', age: '100' }, 2_000);
  assert.ok(d.storable);
  assert.equal(d.freshness.correctedInitialAge, 102);
  assert.deepEqual(decide(204, { 'access-control-max-age': '60', age: '60' }), { storable: false, reason: 'no-freshness' });
  // Date is not used: its one-second granularity would cut an ACMA of 1 s to nothing.
  const short = decide(204, { 'access-control-max-age': '1', date: new Date(T - 999).toUTCString() });
  assert.ok(short.storable && short.freshness.correctedInitialAge === 0);
});

test('preflight entries live under their own object key, selected by Origin, method and headers', () => {
  const key = primaryKey('z', 'cdn.example', '/a', 'q=1');
  assert.notEqual(preflightObjectKey(key), key);
  assert.ok(preflightObjectKey(key).startsWith(key));
  assert.deepEqual([...PREFLIGHT_KEY_NAMES], ['origin', 'access-control-request-method', 'access-control-request-headers']);
});

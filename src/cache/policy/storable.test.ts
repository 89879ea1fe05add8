// Tests for shared-cache storability (RFC 9111 §3) and the header fields left out of storage (§3.1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideStore, fieldsToStrip, refusalConcernsResource, REQUEST_ERROR_HEAD_BYTES, UNDERSTOOD_STATUSES } from './storable.js';
import { DEFAULT_POLICY_OPTIONS, type Headers, type PolicyOptions } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toUTCString();

function decide(headers: Headers, o: { status?: number; method?: string; req?: Headers; opts?: PolicyOptions } = {}) {
  return decideStore({ method: o.method ?? 'GET', headers: o.req ?? {} }, { status: o.status ?? 200, headers },
    T0, T0, o.opts ?? DEFAULT_POLICY_OPTIONS);
}
const reason = (headers: Headers, o: Parameters<typeof decide>[1] = {}) => {
  const d = decide(headers, o);
  return d.storable ? 'storable' : d.reason;
};
const FRESH = { 'cache-control': 'max-age=3600', date: at(0) };

test('RFC 9111 §3: only GET responses are stored here (HEAD and unsafe methods are not)', () => {
  assert.equal(reason(FRESH), 'storable');
  assert.equal(reason(FRESH, { method: 'HEAD' }), 'method');
  assert.equal(reason(FRESH, { method: 'POST' }), 'method');
});

test('RFC 9111 §5.2.1.5: request no-store prevents storing, even with ignoreRequestCacheControl', () => {
  assert.equal(reason(FRESH, { req: { 'cache-control': 'no-store' } }), 'request-no-store');
  const opts = { ...DEFAULT_POLICY_OPTIONS, ignoreRequestCacheControl: true };
  assert.equal(reason(FRESH, { req: { 'cache-control': 'no-store' }, opts }), 'request-no-store');
});

test('RFC 9111 §3: non-final, 304 and 206 responses are not stored; invalid statuses neither', () => {
  assert.equal(reason(FRESH, { status: 103 }), 'status-not-final');
  assert.equal(reason(FRESH, { status: 304 }), 'not-modified');
  assert.equal(reason(FRESH, { status: 206 }), 'partial');
  assert.equal(reason(FRESH, { status: 99 }), 'status-invalid');
  assert.equal(reason(FRESH, { status: 600 }), 'status-invalid');
  assert.equal(reason(FRESH, { status: 200.5 }), 'status-invalid');
});

test('RFC 9111 §3 / RFC 9110 §15.1: heuristically cacheable statuses are stored with Last-Modified (suite heuristic-*)', () => {
  const lm = { date: at(0), 'last-modified': at(-86_400) };
  for (const status of [200, 203, 204, 404, 405, 410, 414, 501]) assert.equal(reason(lm, { status }), 'storable', String(status));
  for (const status of [201, 202, 403, 502, 503, 504, 599]) assert.equal(reason(lm, { status }), 'no-freshness', String(status));
  // §5.2.2.9: public makes a response with no explicit freshness heuristically cacheable
  assert.equal(reason({ ...lm, 'cache-control': 'public' }, { status: 599 }), 'storable');
});

test('RFC 9111 §3: any final status is stored with explicit freshness (suite status-*-fresh)', () => {
  for (const status of [200, 203, 204, 299, 301, 302, 303, 307, 308, 401, 404, 410, 499, 500, 502, 503, 504, 599]) {
    assert.equal(reason(FRESH, { status }), 'storable', String(status));
  }
  assert.equal(reason({ expires: at(60), date: at(0) }, { status: 302 }), 'storable');
  assert.equal(reason({ 'cache-control': 's-maxage=60' }, { status: 500 }), 'storable');
});

test('errors that describe the request (408, 411, 413, 417, 431) are never stored unless the zone opts in (CPDoS)', () => {
  const forever = { 'cache-control': 'public, max-age=31536000', date: at(0), 'last-modified': at(-86_400) };
  for (const status of [408, 411, 413, 417, 431]) {
    assert.equal(reason(forever, { status }), 'request-error', String(status));
    assert.equal(reason({ 'cache-control': 's-maxage=600, must-understand' }, { status }), 'request-error', String(status));
    assert.equal(reason(forever, { status, opts: { ...DEFAULT_POLICY_OPTIONS, storeRequestErrors: true } }), 'storable', `${status} opted in`);
  }
  // What describes the resource stays storable: 414 (the URI is keyed), 404, 410, 401, 403.
  for (const status of [401, 403, 404, 410, 414]) assert.equal(reason(forever, { status }), 'storable', String(status));
});

test('a 400 is stored like any answer, unless the request head was larger than a typical origin accepts (CPDoS)', () => {
  const fresh = { 'cache-control': 'max-age=600', date: at(0) };
  const decide = (headers: Record<string, string>, opts = DEFAULT_POLICY_OPTIONS) =>
    decideStore({ method: 'GET', headers }, { status: 400, headers: fresh }, T0, T0, opts);
  assert.equal(decide({ host: 'a.example', 'user-agent': 'ua' }).storable, true, 'an ordinary request: RFC 9111 §4.2.2 applies');
  const big = { host: 'a.example', 'x-big': 'x'.repeat(REQUEST_ERROR_HEAD_BYTES) };
  assert.deepEqual(decide(big), { storable: false, reason: 'request-error' });
  assert.equal(decide({ host: 'a.example', cookie: ['a='.padEnd(2100, 'x'), 'b='.padEnd(2100, 'y')] } as unknown as Record<string, string>).storable, false, 'repeated lines count');
  assert.equal(decide(big, { ...DEFAULT_POLICY_OPTIONS, storeRequestErrors: true }).storable, true, 'opted in');
});

test('RFC 9111 §5.2.2.5: no-store (any case) prevents storing, even when fresh (suite cc-resp-no-store*)', () => {
  assert.equal(reason({ 'cache-control': 'no-store' }), 'no-store');
  assert.equal(reason({ 'cache-control': 'No-StOrE' }), 'no-store');
  assert.equal(reason({ 'cache-control': 'max-age=10000, no-store', expires: at(10_000), date: at(0) }), 'no-store');
});

test('RFC 9111 §5.2.2.3: must-understand stores understood statuses despite no-store (suite status-*-must-understand)', () => {
  const cc = { 'cache-control': 'max-age=3600, no-store, must-understand' };
  assert.equal(reason(cc, { status: 200 }), 'storable');
  assert.equal(reason(cc, { status: 599 }), 'must-understand');
  assert.equal(reason({ 'cache-control': 'max-age=3600, must-understand' }, { status: 299 }), 'must-understand');
  assert.ok(UNDERSTOOD_STATUSES.has(404) && !UNDERSTOOD_STATUSES.has(299));
});

test('RFC 9111 §5.2.2.7: unqualified private is not stored by a shared cache; qualified private is', () => {
  assert.equal(reason({ 'cache-control': 'private, max-age=3600' }), 'private');
  assert.equal(reason({ 'cache-control': 'max-age=3600, private="set-cookie"' }), 'storable');
  assert.equal(reason({ 'cache-control': 'private="x", private, max-age=3600' }), 'private');
});

test('RFC 9111 §3.5: Authorization requires public, s-maxage or must-revalidate (suite other-authorization*)', () => {
  const req = { authorization: 'FOO' };
  assert.equal(reason(FRESH, { req }), 'authorization');
  assert.equal(reason({ 'cache-control': 'max-age=3600, public' }, { req }), 'storable');
  assert.equal(reason({ 'cache-control': 'max-age=3600, must-revalidate' }, { req }), 'storable');
  assert.equal(reason({ 'cache-control': 's-maxage=3600' }, { req }), 'storable');
});

test('RFC 9111 §7.3 (product decision): responses with Set-Cookie are not stored', () => {
  assert.equal(reason({ ...FRESH, 'set-cookie': ['a=b'] }), 'set-cookie');
  assert.equal(reason({ ...FRESH, 'set-cookie': 'a=b', 'cache-control': 'public, max-age=60' }), 'set-cookie');
  assert.equal(reason(FRESH, { req: { cookie: 'a=b' } }), 'storable'); // suite other-cookie
});

test('RFC 9111 §4.1: Vary containing "*" is never stored (suite vary-syntax-*)', () => {
  for (const vary of ['*', '*, *', ', *', 'Foo, *', '*, Foo', ['', '*'], ['*', '*']]) {
    assert.equal(reason({ ...FRESH, vary }), 'vary-star', JSON.stringify(vary));
  }
  assert.equal(reason({ ...FRESH, vary: 'Foo, Bar' }), 'storable');
});

test('RFC 9111 §3: nothing to go on (no explicit freshness, no Last-Modified, no defaultTtl) is not stored', () => {
  assert.equal(reason({}), 'no-freshness'); // suite freshness-none
  assert.equal(reason({ date: at(0) }), 'no-freshness');
  assert.equal(reason({ etag: '"abc"' }), 'no-freshness');
  assert.equal(reason({ 'cache-control': 'public' }), 'no-freshness');
  const opts = { ...DEFAULT_POLICY_OPTIONS, defaultTtl: 60 };
  const d = decide({}, { opts });
  assert.ok(d.storable && d.freshness.lifetime === 60);
  assert.equal(reason({}, { opts, req: { cookie: 'a=b' } }), 'no-freshness');
  assert.equal(reason({}, { opts, status: 500 }), 'no-freshness');
});

test('RFC 9111 §4.2.4: a response stale on arrival is stored only if it can be revalidated or served stale', () => {
  // suite status-*-stale template: past Expires plus Last-Modified
  assert.equal(reason({ expires: at(-5000), 'last-modified': at(-100_000), date: at(0) }), 'storable');
  assert.equal(reason({ expires: at(-5000), date: at(0) }), 'stale-no-validator');
  assert.equal(reason({ expires: '0', date: at(0) }), 'stale-no-validator'); // §5.3 invalid Expires
  assert.equal(reason({ 'cache-control': 'max-age=0' }), 'stale-no-validator');
  assert.equal(reason({ 'cache-control': 'max-age=0', etag: '"v1"' }), 'storable');
  assert.equal(reason({ 'cache-control': 'max-age=1500', age: '2000' }), 'stale-no-validator');
  assert.equal(reason({ 'cache-control': 'max-age=0, stale-while-revalidate=60' }), 'storable'); // RFC 5861 §3
  assert.equal(reason({ 'cache-control': 'max-age=0, stale-if-error=600' }), 'storable'); // RFC 5861 §4
  assert.equal(reason({ 'cache-control': 'max-age=10, stale-if-error=60', age: '100' }), 'stale-no-validator');
});

test('RFC 9111 §5.2.2.4: no-cache responses are stored when they have a validator (suite cc-resp-no-cache-revalidate)', () => {
  const d = decide({ 'cache-control': 'no-cache', etag: '"abcd"' });
  assert.ok(d.storable && d.freshness.alwaysRevalidate);
  assert.equal(reason({ 'cache-control': 'max-age=10000, no-cache', expires: at(10_000), date: at(0) }), 'no-cache-no-validator');
  assert.equal(reason({ 'cache-control': 'No-CaChE', 'last-modified': at(-100) }), 'storable');
  // no-cache does not make a non-heuristic status storable without explicit freshness (§3)
  assert.equal(reason({ 'cache-control': 'no-cache', etag: '"x"' }, { status: 500 }), 'no-freshness');
});

test('RFC 9111 §3.1: fields named by private= / no-cache=, Connection and hop-by-hop fields are not stored', () => {
  const strip = fieldsToStrip({
    status: 200,
    headers: {
      'cache-control': ['no-cache="A"', 'max-age=3600, private="x-User, x-other"'],
      connection: 'a, B',
    },
  });
  for (const name of ['a', 'b', 'x-user', 'x-other', 'connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade',
    'proxy-connection', 'proxy-authenticate', 'proxy-authentication-info', 'proxy-authorization']) {
    assert.ok(strip.includes(name), name);
  }
  assert.equal(new Set(strip).size, strip.length);
  assert.equal(strip.includes('c'), false);
  // targeted fields govern here too (RFC 9213 §2.2)
  assert.ok(fieldsToStrip({ headers: { 'cdn-cache-control': 'private="x-cdn"', 'cache-control': 'private="x-cc"' } })
    .includes('x-cdn'));
});

test('RFC 9111 §3.1: a response naming no field of its own strips the hop-by-hop fields, and one naming some strips those too', () => {
  const plain = fieldsToStrip({ headers: { 'cache-control': 'public, max-age=60', connection: 'keep-alive' } });
  assert.ok(plain.includes('connection') && plain.includes('keep-alive') && plain.includes('transfer-encoding'));
  // The same value again (parsed once) and a Connection listing a field of its own: that field is stripped, only here.
  const listed = fieldsToStrip({ headers: { 'cache-control': 'public, max-age=60', connection: 'keep-alive, x-hop' } });
  assert.ok(listed.includes('x-hop'));
  assert.equal(plain.includes('x-hop'), false);
  assert.equal(fieldsToStrip({ headers: { 'cache-control': 'public, max-age=60' } }).includes('x-hop'), false);
  assert.ok(fieldsToStrip({ headers: { 'cache-control': 'public, max-age=60, no-cache="x-n"' } }).includes('x-n'));
});

test('a refusal caused by the request (its no-store, its credentials, a request error) never concerns the shared copy', () => {
  const anon = { method: 'GET', headers: {} };
  assert.equal(refusalConcernsResource('no-store', 200, anon), true, 'the resource itself became unstorable');
  assert.equal(refusalConcernsResource('private', 404, anon), true);
  assert.equal(refusalConcernsResource('too-large', 200, anon), true);
  for (const reason of ['request-no-store', 'authorization', 'request-error', 'method']) assert.equal(refusalConcernsResource(reason, 200, anon), false, reason);
  assert.equal(refusalConcernsResource('private', 200, { method: 'GET', headers: { authorization: 'Bearer x' } }), false);
  assert.equal(refusalConcernsResource('set-cookie', 200, { method: 'GET', headers: { cookie: 's=1' } }), false);
  for (const status of [400, 403, 429, 500, 503]) assert.equal(refusalConcernsResource('no-store', status, anon), false, String(status));
});

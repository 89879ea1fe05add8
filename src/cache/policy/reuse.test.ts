// Tests for reuse decisions: fresh, stale, request directives, RFC 5861 windows (RFC 9111 §4, §4.2.4, §5.2.1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeFreshness } from './freshness.js';
import { evaluateReuse, parseRequestDirectives } from './reuse.js';
import { DEFAULT_POLICY_OPTIONS, type Freshness, type Headers } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toUTCString();
const OPTS = DEFAULT_POLICY_OPTIONS;
const IGNORE = { ...DEFAULT_POLICY_OPTIONS, ignoreRequestCacheControl: true };
const stored = (headers: Headers): Freshness =>
  computeFreshness({ headers: {} }, { status: 200, headers: { date: at(0), ...headers } }, T0, T0, OPTS);
const after = (seconds: number): number => T0 + seconds * 1000;

test('RFC 9111 §4.2: a fresh response is served with its integer age and remaining ttl', () => {
  const f = stored({ 'cache-control': 'max-age=100', age: '10' });
  assert.deepEqual(evaluateReuse(f, {}, after(3.5), OPTS), { action: 'serve', age: 13, ttl: 87, stale: false });
});

test('RFC 9111 §4.2: once current_age reaches the lifetime the response is stale and revalidated (suite freshness-max-age-stale)', () => {
  const f = stored({ 'cache-control': 'max-age=2' });
  assert.deepEqual(evaluateReuse(f, {}, after(3), OPTS), { action: 'revalidate', age: 3, ttl: -1, staleIfError: false });
  assert.equal(evaluateReuse(stored({ 'cache-control': 'max-age=0', etag: '"a"' }), {}, T0, OPTS).action, 'revalidate');
});

test('RFC 9111 §5.2.2.4: a stored no-cache response is always revalidated and never served on error', () => {
  const f = stored({ 'cache-control': 'max-age=10000, no-cache', etag: '"abcd"' });
  assert.deepEqual(evaluateReuse(f, {}, T0, OPTS), { action: 'revalidate', age: 0, ttl: 10000, staleIfError: false });
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-stale' }, T0, OPTS).action, 'revalidate');
});

test('RFC 9111 §5.2.1.4: request no-cache revalidates; a fresh response may stand in if the origin fails', () => {
  const f = stored({ 'cache-control': 'max-age=3600' });
  assert.deepEqual(evaluateReuse(f, { 'cache-control': 'no-cache' }, T0, OPTS),
    { action: 'revalidate', age: 0, ttl: 3600, staleIfError: true });
  assert.equal(evaluateReuse(f, { 'cache-control': 'no-cache' }, T0, IGNORE).action, 'serve');
});

test('RFC 9111 §5.4: Pragma: no-cache counts only when the request has no Cache-Control', () => {
  const f = stored({ 'cache-control': 'max-age=3600' });
  assert.equal(evaluateReuse(f, { pragma: 'no-cache' }, T0, OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(f, { pragma: 'foo, No-Cache' }, T0, OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(f, { pragma: 'no-cache', 'cache-control': 'max-stale' }, T0, OPTS).action, 'serve');
  assert.equal(evaluateReuse(f, { pragma: 'unrecognised-extension' }, T0, OPTS).action, 'serve');
  assert.equal(evaluateReuse(f, { pragma: 'no-cache' }, T0, IGNORE).action, 'serve');
});

test('RFC 9111 §5.2.1.1: request max-age bounds the acceptable age; max-age=0 always validates (suite ccreq-ma*)', () => {
  const f = stored({ 'cache-control': 'max-age=100000', age: '1800' });
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-age=600' }, T0, OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-age=3600' }, T0, OPTS).action, 'serve');
  assert.equal(evaluateReuse(stored({ 'cache-control': 'max-age=3600' }), { 'cache-control': 'max-age=0' }, T0, OPTS).action,
    'revalidate');
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-age=600' }, T0, IGNORE).action, 'serve');
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-age=abc' }, T0, OPTS).action, 'serve'); // invalid: ignored
});

test('RFC 9111 §5.2.1.3: request min-fresh needs the response to stay fresh that long (suite ccreq-min-fresh*)', () => {
  const f = stored({ 'cache-control': 'max-age=1500', age: '1000' });
  assert.equal(evaluateReuse(f, { 'cache-control': 'min-fresh=1000' }, T0, OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(f, { 'cache-control': 'min-fresh=400' }, T0, OPTS).action, 'serve');
});

test('RFC 9111 §5.2.1.2: request max-stale allows serving a stale response (suite ccreq-max-stale)', () => {
  const f = stored({ 'cache-control': 'max-age=2' });
  assert.deepEqual(evaluateReuse(f, { 'cache-control': 'max-stale=1000' }, after(3), OPTS),
    { action: 'serve', age: 3, ttl: -1, stale: true });
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-stale' }, after(1e6), OPTS).action, 'serve');
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-stale=1' }, after(5), OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(f, { 'cache-control': 'max-stale=bad' }, after(3), OPTS).action, 'revalidate');
});

test('RFC 9111 §4.2.4 / §5.2.2.2 / §5.2.2.8 / §5.2.2.10: must-revalidate, proxy-revalidate, s-maxage forbid max-stale', () => {
  for (const cc of ['max-age=2, must-revalidate', 'max-age=2, proxy-revalidate', 'max-age=2, s-maxage=2']) {
    const d = evaluateReuse(stored({ 'cache-control': cc }), { 'cache-control': 'max-stale, stale-if-error=600' }, after(3), OPTS);
    assert.deepEqual(d, { action: 'revalidate', age: 3, ttl: -1, staleIfError: false }, cc);
  }
});

test('RFC 5861 §3: within stale-while-revalidate serve stale and refresh; after it revalidate (suite stale-while-revalidate-window)', () => {
  const f = stored({ 'cache-control': 'max-age=1, stale-while-revalidate=4', etag: '"abc"' });
  assert.deepEqual(evaluateReuse(f, {}, after(3), OPTS), { action: 'serve-stale-revalidate', age: 3, ttl: -2 });
  assert.equal(evaluateReuse(f, {}, after(5), OPTS).action, 'revalidate');
  // a request that insists on validation is not answered from the window
  assert.equal(evaluateReuse(f, { 'cache-control': 'no-cache' }, after(3), OPTS).action, 'revalidate');
  assert.equal(evaluateReuse(stored({ 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=60' }), {},
    after(3), OPTS).action, 'revalidate');
});

test('RFC 5861 §4: stale-if-error from the response or the request lets a stale response answer origin errors', () => {
  const f = stored({ 'cache-control': 'max-age=2, stale-if-error=60' });
  assert.deepEqual(evaluateReuse(f, {}, after(3), OPTS), { action: 'revalidate', age: 3, ttl: -1, staleIfError: true });
  assert.equal((evaluateReuse(f, {}, after(70), OPTS) as { staleIfError: boolean }).staleIfError, false);
  const plain = stored({ 'cache-control': 'max-age=2' });
  assert.equal((evaluateReuse(plain, {}, after(3), OPTS) as { staleIfError: boolean }).staleIfError, false); // suite stale-close
  assert.equal((evaluateReuse(plain, { 'cache-control': 'stale-if-error=10' }, after(3), OPTS) as { staleIfError: boolean })
    .staleIfError, true);
  assert.equal((evaluateReuse(plain, { 'cache-control': 'stale-if-error=10' }, after(20), OPTS) as { staleIfError: boolean })
    .staleIfError, false);
});

test('RFC 9111 §5.2.1: parseRequestDirectives reads the request directives', () => {
  assert.deepEqual(parseRequestDirectives({ 'cache-control': 'max-age=5, min-fresh=6, max-stale, no-store, only-if-cached' }, OPTS),
    { noCache: false, noStore: true, onlyIfCached: true, maxStale: Infinity, maxAge: 5, minFresh: 6 });
  assert.deepEqual(parseRequestDirectives({ 'cache-control': 'max-stale=7, stale-if-error=8, No-Cache' }, OPTS),
    { noCache: true, noStore: false, onlyIfCached: false, maxStale: 7, staleIfError: 8 });
  assert.deepEqual(parseRequestDirectives({ 'cache-control': 'no-cache, max-age=0, min-fresh=1, only-if-cached' }, IGNORE),
    { noCache: false, noStore: false, onlyIfCached: true });
  assert.deepEqual(parseRequestDirectives({}, OPTS), { noCache: false, noStore: false, onlyIfCached: false });
});

test("ignoreRequestCacheControl 'anonymous': ignored without Authorization and Cookie, honoured with either", () => {
  const opts = { ...DEFAULT_POLICY_OPTIONS, ignoreRequestCacheControl: 'anonymous' as const };
  assert.equal(parseRequestDirectives({ 'cache-control': 'no-cache' }, opts).noCache, false);
  assert.equal(parseRequestDirectives({ pragma: 'no-cache' }, opts).noCache, false);
  assert.equal(parseRequestDirectives({ 'cache-control': 'max-age=0' }, opts).maxAge, undefined);
  assert.equal(parseRequestDirectives({ 'cache-control': 'no-cache', cookie: 'a=1' }, opts).noCache, true);
  assert.equal(parseRequestDirectives({ 'cache-control': 'max-age=0', authorization: 'Basic x' }, opts).maxAge, 0);
  assert.equal(parseRequestDirectives({ 'cache-control': 'no-store, only-if-cached' }, opts).noStore, true, 'no-store still applies');
});

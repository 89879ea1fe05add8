// Tests for the lookup decision by outcome: routing (pass, preflight, cache), hit, updating, revalidate (fwd, soft
// purge), miss (vary/uri), only-if-cached (RFC 9111 §2, §4, §5.2.1; RFC 5861 §3; RFC 9211 §2.2).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeFreshness } from './freshness.js';
import { effectiveFreshness, lookup, routeRequest, type Stored } from './lookup.js';
import { DEFAULT_POLICY_OPTIONS, type Headers } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const OPTS = DEFAULT_POLICY_OPTIONS;
const after = (seconds: number): number => T0 + seconds * 1000;
const stored = (cacheControl: string, forcedStale = false): Stored & { name: string } => ({
  name: cacheControl,
  forcedStale,
  freshness: computeFreshness({ headers: {} }, { status: 200, headers: { date: new Date(T0).toUTCString(), 'cache-control': cacheControl } }, T0, T0, OPTS),
});

test('routing: GET and HEAD without content are looked up; other methods and requests with content pass (RFC 9111 §2)', () => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-2
  assert.deepEqual(routeRequest('GET', false, false, false, false), { kind: 'cache', preflight: false });
  assert.deepEqual(routeRequest('HEAD', false, false, true, true), { kind: 'cache', preflight: false });
  assert.deepEqual(routeRequest('GET', true, false, false, false), { kind: 'pass', fwd: 'request', detail: 'request-content' });
  assert.deepEqual(routeRequest('POST', false, false, false, false), { kind: 'pass', fwd: 'method' });
  assert.deepEqual(routeRequest('POST', true, false, false, false), { kind: 'pass', fwd: 'method', detail: 'request-content' });
  assert.deepEqual(routeRequest('get', false, false, false, false), { kind: 'pass', fwd: 'method' }, 'methods are case-sensitive');
  assert.equal(routeRequest('GET', false, false, false, false), routeRequest('GET', false, false, false, false), 'made once: a hit allocates no route');
});

test('routing: a preflight is answered by the edge that owns CORS, looked up with cachePreflight, else passed', () => {
  assert.deepEqual(routeRequest('OPTIONS', false, true, true, true), { kind: 'preflight' });
  assert.deepEqual(routeRequest('OPTIONS', false, true, false, true), { kind: 'cache', preflight: true });
  assert.deepEqual(routeRequest('OPTIONS', false, true, false, false), { kind: 'pass', fwd: 'method' });
  assert.deepEqual(routeRequest('OPTIONS', false, false, true, true), { kind: 'pass', fwd: 'method' }, 'an OPTIONS that is no preflight');
  assert.deepEqual(routeRequest('OPTIONS', true, true, true, true), { kind: 'pass', fwd: 'method', detail: 'request-content' });
});

test('hit: a fresh stored response, with its Age and ttl (RFC 9111 §4.2)', () => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2
  const v = stored('max-age=100');
  assert.deepEqual(lookup(v, false, {}, after(10.5), OPTS), { kind: 'hit', variant: v, age: 10, ttl: 90 });
  assert.equal(lookup(v, false, { 'cache-control': 'max-stale=50' }, after(120), OPTS).kind, 'hit', 'stale within max-stale');
});

test('updating: stale within stale-while-revalidate (RFC 5861 §3)', () => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-3
  const v = stored('max-age=10, stale-while-revalidate=60');
  assert.deepEqual(lookup(v, false, {}, after(30), OPTS), { kind: 'updating', variant: v, age: 30, ttl: -20 });
  assert.equal(lookup(v, false, {}, after(80), OPTS).kind, 'revalidate', 'past the window');
});

test('revalidate: fwd=stale for a stale response, fwd=request when the client asked a fresh one to be validated (RFC 9211 §2.2)', () => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2
  const v = stored('max-age=10');
  assert.deepEqual(lookup(v, false, {}, after(20), OPTS), { kind: 'revalidate', variant: v, fwd: 'stale', staleIfError: false });
  assert.deepEqual(lookup(v, false, { 'cache-control': 'no-cache' }, after(5), OPTS), { kind: 'revalidate', variant: v, fwd: 'request', staleIfError: true });
  const nc = stored('no-cache, max-age=600');
  assert.deepEqual(lookup(nc, false, {}, after(5), OPTS), { kind: 'revalidate', variant: nc, fwd: 'stale', staleIfError: false }, 'stored no-cache always revalidates');
  const sie = stored('max-age=10, stale-if-error=600');
  assert.equal((lookup(sie, false, {}, after(20), OPTS) as { staleIfError: boolean }).staleIfError, true, 'within stale-if-error');
});

test('a soft-purged response counts as expired just now: revalidated (fwd=stale), or updating within stale-while-revalidate', () => {
  const v = stored('max-age=600', true);
  assert.deepEqual(lookup(v, false, {}, after(5), OPTS), { kind: 'revalidate', variant: v, fwd: 'stale', staleIfError: false });
  const swr = stored('max-age=600, stale-while-revalidate=30', true);
  assert.equal(lookup(swr, false, {}, after(5), OPTS).kind, 'updating');
  const f = effectiveFreshness(v, after(5));
  assert.ok(f.lifetime < 5 && f.lifetime > 4.99, `lifetime just below the age, got ${f.lifetime}`);
  assert.equal(v.freshness.lifetime, 600, 'the stored freshness is not changed');
  const fresh = stored('max-age=600');
  assert.equal(effectiveFreshness(fresh, after(5)), fresh.freshness, 'not soft-purged: the stored freshness itself');
});

test('miss: vary-miss when the URL has other variants, else uri-miss (RFC 9211 §2.2)', () => {
  assert.deepEqual(lookup(undefined, true, {}, T0, OPTS), { kind: 'miss', fwd: 'vary-miss' });
  assert.deepEqual(lookup(undefined, false, {}, T0, OPTS), { kind: 'miss', fwd: 'uri-miss' });
});

test('only-if-cached: nothing stored, or only a response that would need the origin (RFC 9111 §5.2.1.7)', () => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7
  const h: Headers = { 'cache-control': 'only-if-cached' };
  assert.deepEqual(lookup(undefined, true, h, T0, OPTS), { kind: 'only-if-cached' });
  assert.deepEqual(lookup(stored('max-age=10'), false, h, after(20), OPTS), { kind: 'only-if-cached' });
  assert.equal(lookup(stored('max-age=10'), false, h, after(5), OPTS).kind, 'hit', 'a fresh response answers it');
  assert.equal(lookup(stored('max-age=10, stale-while-revalidate=60'), false, h, after(20), OPTS).kind, 'updating');
});

// Tests for freshness lifetime and age (RFC 9111 §4.2, RFC 5861); HTTP-dates are tested in http-date.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeFreshness, currentAge, isFresh, parseAgeValue, preciseAge } from './freshness.js';
import { DEFAULT_POLICY_OPTIONS, type Headers, type PolicyOptions } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const httpDate = (ms: number): string => new Date(ms).toUTCString();
const at = (seconds: number): string => httpDate(T0 + seconds * 1000);

function freshness(headers: Headers, o: {
  status?: number; req?: Headers; requestTime?: number; responseTime?: number; opts?: PolicyOptions;
} = {}) {
  return computeFreshness({ headers: o.req ?? {} }, { status: o.status ?? 200, headers },
    o.requestTime ?? T0, o.responseTime ?? T0, o.opts ?? DEFAULT_POLICY_OPTIONS);
}

test('RFC 9111 §4.2.1: s-maxage beats max-age beats Expires (shared cache)', () => {
  const expires = { date: at(0), expires: at(100) };
  assert.equal(freshness({ 'cache-control': 'max-age=3600, s-maxage=1', ...expires }).lifetime, 1);
  assert.equal(freshness({ 'cache-control': 's-maxage=3600, max-age=1', ...expires }).lifetime, 3600);
  assert.equal(freshness({ 'cache-control': ['max-age=3600', 's-maxage=1'] }).lifetime, 1);
  assert.equal(freshness({ 'cache-control': 'max-age=0, s-maxage=3600', expires: at(-10) }).lifetime, 3600);
  assert.equal(freshness({ 'cache-control': 'max-age=3600', date: at(0), expires: at(-7200) }).lifetime, 3600);
  assert.equal(freshness({ 'cache-control': 'max-age=0', ...expires }).lifetime, 0);
  assert.equal(freshness(expires).lifetime, 100);
  assert.equal(freshness(expires).lifetimeSource, 'expires');
});

test('RFC 9111 §4.2.1: invalid max-age / s-maxage mean stale (suite freshness-max-age-negative, -single-quoted)', () => {
  for (const cc of ['max-age=-3600', "max-age='3600'", 'max-age=3600.5', 'max-age=a3600', 'max-age =3600', 's-maxage=x, max-age=60']) {
    assert.equal(freshness({ 'cache-control': cc }).lifetime, 0, cc);
  }
  assert.equal(freshness({ 'cache-control': 'max-age="3600"' }).lifetime, 3600); // §5.2: quoted form accepted
  assert.equal(freshness({ 'cache-control': 'max-age=003600' }).lifetime, 3600);
  assert.equal(freshness({ 'cache-control': 'max-age=99999999999' }).lifetime, 2147483648);
});

test('RFC 9111 §5.3: an invalid Expires (e.g. "0") means already expired; Expires before Date gives 0', () => {
  assert.equal(freshness({ expires: '0', date: at(0) }).lifetime, 0);
  assert.equal(freshness({ expires: 'Thu, 18 Aug 2050 02:01:18 UTC', date: at(0) }).lifetime, 0);
  assert.equal(freshness({ expires: at(300), date: at(400) }).lifetime, 0); // suite freshness-expires-old-date
  assert.equal(freshness({ expires: at(0), date: at(0) }).lifetime, 0); // suite freshness-expires-present
  // several Expires lines: the first is used (RFC 9111 §4.2.1)
  assert.equal(freshness({ expires: [at(50), at(5000)], date: at(0) }).lifetime, 50);
});

test('RFC 9110 §6.6.1: a missing or malformed Date is replaced by the time the response was received', () => {
  assert.equal(freshness({ expires: at(10), date: 'foo' }).lifetime, 10); // suite freshness-expires-invalid-date
  assert.equal(freshness({ expires: at(10) }, { responseTime: T0 + 2000 }).lifetime, 8);
  assert.equal(freshness({ 'cache-control': 'max-age=60', date: 'foo' }).correctedInitialAge, 0);
});

test('RFC 9111 §4.2.3: corrected_initial_age = max(apparent_age, age_value + response_delay)', () => {
  // Age plus the time the request took
  assert.equal(freshness({ age: '30', date: at(0) }, { requestTime: T0 - 2000 }).correctedInitialAge, 32);
  // apparent age from a Date in the past (suite freshness-max-age-date)
  assert.equal(freshness({ 'cache-control': 'max-age=3600', date: at(-7200) }).correctedInitialAge, 7200);
  // a Date in the future does not make the age negative
  assert.equal(freshness({ date: at(500) }).correctedInitialAge, 0);
  // suite freshness-expires-age-fast-date: Date 10 s fast, Expires 10 s after Date, Age 15
  const f = freshness({ date: at(10), expires: at(20), age: '15' });
  assert.equal(f.lifetime, 10);
  assert.equal(isFresh(f, T0), false);
});

test('RFC 9111 §5.1: Age uses the first line and first member; invalid values are ignored (suite age-parse-*)', () => {
  assert.equal(parseAgeValue({ age: 'abc' }), 0);
  assert.equal(parseAgeValue({ age: '-7200' }), 0);
  assert.equal(parseAgeValue({ age: '7200.0' }), 0);
  assert.equal(parseAgeValue({ age: '7200, 0' }), 7200);
  assert.equal(parseAgeValue({ age: '0, 7200' }), 0);
  assert.equal(parseAgeValue({ age: ['7200', '0'] }), 7200);
  assert.equal(parseAgeValue({ age: ['0', '7200'] }), 0);
  assert.equal(parseAgeValue({ age: '7200;foo=bar' }), 7200);
  assert.equal(parseAgeValue({ age: '2147483649' }), 2147483648);
  assert.equal(parseAgeValue({}), 0);
  // suite age-parse-large: an Age of 2^31 makes a max-age=3600 response stale
  assert.equal(isFresh(freshness({ 'cache-control': 'max-age=3600', date: at(0), age: '2147483648' }), T0), false);
});

test('RFC 9111 §4.2.2: heuristic lifetime is 10% of Date − Last-Modified, capped', () => {
  const f = freshness({ date: at(0), 'last-modified': at(-10_000) });
  assert.equal(f.lifetime, 1000);
  assert.equal(f.heuristic, true);
  assert.equal(f.lifetimeSource, 'heuristic');
  assert.equal(freshness({ date: at(0), 'last-modified': at(-100 * 86_400) }).lifetime, 86_400);
  const custom = { ...DEFAULT_POLICY_OPTIONS, heuristicFraction: 0.5, heuristicMaxSeconds: 600 };
  assert.equal(freshness({ date: at(0), 'last-modified': at(-1000) }, { opts: custom }).lifetime, 500);
  assert.equal(freshness({ date: at(0), 'last-modified': at(-10_000) }, { opts: custom }).lifetime, 600);
  assert.equal(freshness({ date: at(0), 'last-modified': at(1000) }).lifetime, 0); // Last-Modified in the future
  assert.equal(freshness({ date: at(0), 'last-modified': 'garbage' }).lifetimeSource, 'none');
});

test('RFC 9111 §4.2.2: heuristics only for heuristically cacheable statuses or `public`, never with explicit freshness', () => {
  const lm = { date: at(0), 'last-modified': at(-86_400) };
  for (const status of [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]) {
    assert.equal(freshness(lm, { status }).lifetime, 8640, String(status));
  }
  for (const status of [201, 202, 302, 403, 500, 502, 503, 504, 599]) {
    assert.equal(freshness(lm, { status }).lifetimeSource, 'none', String(status));
  }
  assert.equal(freshness({ ...lm, 'cache-control': 'public' }, { status: 599 }).lifetime, 8640); // §5.2.2.9
  assert.equal(freshness({ ...lm, 'cache-control': 'max-age=5' }).lifetime, 5);
  assert.equal(freshness({ ...lm, expires: at(-1) }).lifetime, 0);
});

test('defaultTtl replaces the heuristic, but never for requests with Cookie or Authorization', () => {
  const opts = { ...DEFAULT_POLICY_OPTIONS, defaultTtl: 300 };
  assert.equal(freshness({}, { opts }).lifetime, 300);
  assert.equal(freshness({}, { opts }).lifetimeSource, 'default-ttl');
  assert.equal(freshness({ date: at(0), 'last-modified': at(-10_000) }, { opts }).lifetime, 300);
  assert.equal(freshness({ 'cache-control': 'max-age=5' }, { opts }).lifetime, 5);
  assert.equal(freshness({}, { opts, req: { cookie: 'a=b' } }).lifetimeSource, 'none');
  assert.equal(freshness({}, { opts, req: { authorization: 'Bearer x' } }).lifetimeSource, 'none');
  assert.equal(freshness({}, { opts, status: 500 }).lifetimeSource, 'none');
});

test('RFC 9111 §5.2.2.2 / §5.2.2.8 / §5.2.2.10 / §5.2.2.4: stale-serving flags', () => {
  assert.equal(freshness({ 'cache-control': 'max-age=5, must-revalidate' }).noStaleServing, true);
  assert.equal(freshness({ 'cache-control': 'max-age=5, proxy-revalidate' }).noStaleServing, true);
  assert.equal(freshness({ 'cache-control': 's-maxage=5' }).noStaleServing, true);
  assert.equal(freshness({ 'cache-control': 'max-age=5' }).noStaleServing, false);
  assert.equal(freshness({ 'cache-control': 'no-cache' }).alwaysRevalidate, true);
  assert.equal(freshness({ 'cache-control': 'no-cache="set-cookie", max-age=5' }).alwaysRevalidate, false);
  assert.equal(freshness({ 'cache-control': 'max-age=5', pragma: 'no-cache' }).alwaysRevalidate, false); // §5.4
});

test('RFC 5861 §3 / §4: stale-while-revalidate and stale-if-error windows', () => {
  const f = freshness({ 'cache-control': 'max-age=1, stale-while-revalidate=60, stale-if-error=600' });
  assert.equal(f.staleWhileRevalidate, 60);
  assert.equal(f.staleIfError, 600);
  assert.equal(freshness({ 'cache-control': 'max-age=1, stale-while-revalidate=abc' }).staleWhileRevalidate, 0);
  // must-revalidate and no-cache forbid serving stale at all, so they close the windows (RFC 9111 §4.2.4)
  const mr = freshness({ 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=60, stale-if-error=60' });
  assert.deepEqual([mr.staleWhileRevalidate, mr.staleIfError], [0, 0]);
  const nc = freshness({ 'cache-control': 'no-cache, stale-if-error=60' });
  assert.equal(nc.staleIfError, 0);
  // s-maxage's implied proxy-revalidate yields to an explicit grant in the same field
  assert.equal(freshness({ 'cache-control': 's-maxage=10, stale-while-revalidate=30' }).staleWhileRevalidate, 30);
});

test('RFC 9111 §4.2.3: current_age grows with resident time; the Age header value is an integer', () => {
  const f = freshness({ 'cache-control': 'max-age=100', age: '10', date: at(0) });
  assert.equal(currentAge(f, T0), 10);
  assert.equal(currentAge(f, T0 + 2500), 12);
  assert.equal(preciseAge(f, T0 + 2500), 12.5);
  assert.equal(isFresh(f, T0 + 89_999), true);
  assert.equal(isFresh(f, T0 + 90_000), false); // fresh only while lifetime > current_age (§4.2)
  assert.equal(currentAge(f, T0 - 60_000), 0); // a clock going backwards never yields a negative age
});

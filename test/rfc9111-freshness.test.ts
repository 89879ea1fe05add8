// End to end through the edge: freshness lifetime precedence, heuristic freshness and Age (RFC 9111 §4.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';
import { ManualClock } from '../src/edge/clock.js';

const httpDate = (ms: number): string => new Date(ms).toUTCString();

type Fields = Record<string, string | string[]>;

/** Headers by request path (none for other paths). */
const byPath = (table: Record<string, Fields>) => (path: string): Fields => table[path] ?? {};

/** `ttl=` of a Cache-Status member (RFC 9211 §2.4), or undefined. */
function ttlOf(value: unknown): number | undefined {
  const m = /;\s*ttl=(-?\d+)/.exec(String(value));
  return m ? Number(m[1]) : undefined;
}

/**
 * One origin answering every path with the headers `headersFor(path)` gives, body "body <n>" (n = request count).
 * The edge runs on a manual clock: `delayMs` is how long the origin takes to answer by that clock, and a test moves
 * time on with `clock.advance` instead of sleeping.
 */
async function setup(t: import('node:test').TestContext, headersFor: (path: string) => Fields, delayMs = 0) {
  let n = 0;
  const clock = new ManualClock();
  const origin = await startOrigin(t, async (req, res) => {
    n++;
    if (delayMs) clock.advance(delayMs);
    res.setHeader('content-type', 'text/plain');
    // setHeader takes several field lines as an array (Cache-Control twice, for instance).
    for (const [name, value] of Object.entries(headersFor(req.url!))) res.setHeader(name, value);
    res.writeHead(200);
    res.end(`body ${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url }, { clock });
  return { origin, edge, clock };
}

/** Two GETs of `path`: returns the second, and how many times the origin was asked. */
async function twice(base: string, origin: { count(p?: string): number }, path: string) {
  await send(`${base}${path}`);
  const second = await send(`${base}${path}`);
  return { second, fetched: origin.count(path) };
}

test('s-maxage takes precedence over max-age and Expires for a shared cache (RFC 9111 §5.2.2.10, §4.2.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1
  const { origin, edge } = await setup(t, byPath({
    '/long-s': { 'cache-control': 'max-age=0, s-maxage=600', expires: httpDate(Date.now() - 60_000) },
    '/zero-s': { 'cache-control': 'max-age=600, s-maxage=0', expires: httpDate(Date.now() + 600_000) },
  }));
  const long = await twice(edge.base, origin, '/long-s');
  assert.equal(long.second.headers['cf-cache-status'], 'HIT');
  assert.equal(long.fetched, 1);
  const ttl = ttlOf(long.second.headers['cache-status']);
  assert.ok(ttl !== undefined && ttl > 590 && ttl <= 600, `ttl from s-maxage, got ${ttl}`);

  const zero = await twice(edge.base, origin, '/zero-s');
  assert.notEqual(zero.second.headers['cf-cache-status'], 'HIT');
  assert.equal(zero.fetched, 2, 's-maxage=0 makes the response stale although max-age=600');
});

test('max-age takes precedence over Expires (RFC 9111 §5.2.2.1, §5.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1
  const { origin, edge } = await setup(t, byPath({
    '/past-expires': { 'cache-control': 'max-age=600', expires: httpDate(Date.now() - 60_000) },
    '/future-expires': { 'cache-control': 'max-age=0', expires: httpDate(Date.now() + 600_000) },
  }));
  const a = await twice(edge.base, origin, '/past-expires');
  assert.equal(a.second.headers['cf-cache-status'], 'HIT');
  assert.equal(a.fetched, 1);
  const b = await twice(edge.base, origin, '/future-expires');
  assert.equal(b.fetched, 2, 'max-age=0 wins over a future Expires');
});

test('Expires minus Date gives the lifetime; a past or invalid Expires is already stale (RFC 9111 §4.2.1, §5.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.3 ("invalid date formats, especially the value "0"")
  const now = Date.now();
  const { origin, edge } = await setup(t, byPath({
    '/expires-future': { expires: httpDate(now + 300_000) },
    '/expires-past': { expires: httpDate(now - 300_000) },
    '/expires-zero': { expires: '0', 'last-modified': httpDate(now - 864_000_000) },
    // Lifetime is Expires − Date (60 s), not Expires − now: with a Date an hour ago the response is stale on arrival.
    '/expires-old-date': { date: httpDate(now - 3_600_000), expires: httpDate(now - 3_540_000) },
  }));
  const future = await twice(edge.base, origin, '/expires-future');
  assert.equal(future.second.headers['cf-cache-status'], 'HIT');
  const ttl = ttlOf(future.second.headers['cache-status']);
  assert.ok(ttl !== undefined && ttl > 290 && ttl <= 300, `ttl from Expires − Date, got ${ttl}`);
  assert.equal((await twice(edge.base, origin, '/expires-past')).fetched, 2);
  // An invalid Expires makes it stale even though Last-Modified would allow a heuristic lifetime.
  assert.equal((await twice(edge.base, origin, '/expires-zero')).fetched, 2);
  assert.equal((await twice(edge.base, origin, '/expires-old-date')).fetched, 2);
});

test('heuristic freshness only with Last-Modified (RFC 9111 §4.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2
  const now = Date.now();
  const { origin, edge } = await setup(t, byPath({
    // 10 000 s old → 10 % = 1000 s of heuristic freshness.
    '/lm': { 'last-modified': httpDate(now - 10_000_000) },
    '/no-lm': {},
  }));
  const lm = await twice(edge.base, origin, '/lm');
  assert.equal(lm.second.headers['cf-cache-status'], 'HIT');
  assert.equal(lm.fetched, 1);
  const ttl = ttlOf(lm.second.headers['cache-status']);
  assert.ok(ttl !== undefined && ttl > 990 && ttl <= 1000, `10% of the Last-Modified interval, got ${ttl}`);
  const none = await twice(edge.base, origin, '/no-lm');
  assert.equal(none.fetched, 2, 'no explicit freshness and no Last-Modified: not reused');
});

test('heuristic freshness only for heuristically cacheable status codes (RFC 9111 §4.2.2, RFC 9110 §15.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    const status = Number(req.url!.slice(1));
    res.writeHead(status, { 'last-modified': httpDate(Date.now() - 10_000_000), 'content-type': 'text/plain' });
    res.end(`s${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  for (const status of [302, 307, 403, 500]) {
    const { fetched } = await twice(edge.base, origin, `/${status}`);
    assert.equal(fetched, 2, `${status} with only Last-Modified is not reused`);
  }
  assert.equal((await twice(edge.base, origin, '/404')).fetched, 1, '404 is heuristically cacheable');
});

test('Age includes the Age the origin sent (RFC 9111 §4.2.3, §5.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3 (corrected_age_value = age_value + response_delay)
  const { origin, edge } = await setup(t, byPath({
    '/aged': { 'cache-control': 'max-age=100', age: '40' },
    '/too-old': { 'cache-control': 'max-age=30', age: '40', etag: '"a"' },
  }));
  const aged = await twice(edge.base, origin, '/aged');
  assert.equal(aged.second.headers['cf-cache-status'], 'HIT');
  const age = Number(aged.second.headers.age);
  assert.ok(age >= 40 && age < 45, `Age from the origin's Age, got ${age}`);
  const ttl = ttlOf(aged.second.headers['cache-status']);
  assert.ok(ttl !== undefined && ttl <= 60 && ttl > 55, `ttl = 100 − age, got ${ttl}`);

  const old = await twice(edge.base, origin, '/too-old');
  assert.equal(old.fetched, 2, 'Age 40 > max-age 30: stale on arrival');
  assert.equal(origin.requests[origin.requests.length - 1]!.headers['if-none-match'], '"a"');
});

test('Age includes the apparent age from Date (RFC 9111 §4.2.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3 (apparent_age = max(0, response_time − date_value))
  const { origin, edge } = await setup(t, () => ({ 'cache-control': 'max-age=300', date: httpDate(Date.now() - 100_000) }));
  const { second, fetched } = await twice(edge.base, origin, '/dated');
  assert.equal(fetched, 1);
  const age = Number(second.headers.age);
  assert.ok(age >= 99 && age < 105, `Age from Date, got ${age}`);
});

test('Age includes the response delay (RFC 9111 §4.2.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3 (response_delay = response_time − request_time)
  const { origin, edge } = await setup(t, () => ({ 'cache-control': 'max-age=300' }), 1100);
  const { second, fetched } = await twice(edge.base, origin, '/slow');
  assert.equal(fetched, 1);
  assert.ok(Number(second.headers.age) >= 1, `a 1.1 s response delay counts as age, got ${second.headers.age}`);
});

test('a response is reused only while its age is below its lifetime (RFC 9111 §4.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2 (response_is_fresh = freshness_lifetime > current_age)
  const { origin, edge, clock } = await setup(t, () => ({ 'cache-control': 'max-age=1', etag: '"e"' }));
  const first = await twice(edge.base, origin, '/short');
  assert.equal(first.second.headers['cf-cache-status'], 'HIT');
  clock.advance(1100);
  const later = await send(`${edge.base}/short`);
  assert.equal(origin.count('/short'), 2, 'asked again once max-age=1 elapsed');
  assert.equal(later.headers['cf-cache-status'], 'EXPIRED');
});

test('invalid or conflicting freshness directives make the response stale (RFC 9111 §4.2.1, §1.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1 ("either the first occurrence should be used or the
  // response should be considered stale"); delta-seconds is 1*DIGIT (https://www.rfc-editor.org/rfc/rfc9111#section-1.2.2)
  const { origin, edge } = await setup(t, byPath({
    '/neg': { 'cache-control': 'max-age=-1' },
    '/alpha': { 'cache-control': 'max-age=60s' },
    '/dup-first-zero': { 'cache-control': 'max-age=0, max-age=600' },
    '/dup-lines': { 'cache-control': ['max-age=600', 'max-age=600'] },
  }));
  assert.equal((await twice(edge.base, origin, '/neg')).fetched, 2);
  assert.equal((await twice(edge.base, origin, '/alpha')).fetched, 2);
  assert.equal((await twice(edge.base, origin, '/dup-first-zero')).fetched, 2, 'not fresh when the first max-age is 0');
  assert.equal((await twice(edge.base, origin, '/dup-lines')).fetched, 1, 'identical duplicates agree');
});

test('malformed Age and Date values are ignored, not trusted (RFC 9111 §5.1, RFC 9110 §6.6.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.1 (Age is delta-seconds); an invalid Date is replaced by the time
  // the response was received (https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1)
  const { origin, edge } = await setup(t, byPath({
    '/bad-age': { 'cache-control': 'max-age=600', age: 'soon' },
    '/bad-date': { 'cache-control': 'max-age=600', date: 'not a date' },
  }));
  for (const path of ['/bad-age', '/bad-date']) {
    const { second, fetched } = await twice(edge.base, origin, path);
    assert.equal(fetched, 1, path);
    assert.ok(Number(second.headers.age) < 5, `${path}: age ${second.headers.age}`);
  }
});

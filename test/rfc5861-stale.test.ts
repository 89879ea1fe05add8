// End to end through the edge: stale-while-revalidate and stale-if-error (RFC 5861 §3, §4).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';

interface Control {
  /** How to answer conditional (revalidation) requests. */
  conditional: { status: number; headers?: OutgoingHttpHeaders; body?: string; delayMs?: number };
}

/** An origin serving "v1" with `first` headers, then answering revalidations as `control.conditional` says. */
async function setup(t: TestContext, first: OutgoingHttpHeaders, control: Control) {
  const answered = new Map<string, number>();
  const origin = await startOrigin(t, async (req, res) => {
    res.on('finish', () => answered.set(req.url!, (answered.get(req.url!) ?? 0) + 1));
    if (req.headers['if-none-match'] === undefined) {
      res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', ...first });
      res.end('v1');
      return;
    }
    const c = control.conditional;
    if (c.delayMs) await sleep(c.delayMs);
    res.writeHead(c.status, { 'content-type': 'text/plain', ...c.headers });
    res.end(c.status === 304 ? undefined : c.body ?? `origin says ${c.status}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  /** Waits (up to 3 s) until the origin has answered `n` requests for `path`, then lets the edge process the last. */
  const originAnswered = async (path: string, n: number): Promise<void> => {
    for (let i = 0; i < 300 && (answered.get(path) ?? 0) < n; i++) await sleep(10);
    assert.equal(answered.get(path), n);
    await sleep(30);
  };
  return { origin, edge, originAnswered };
}

test('stale-while-revalidate: stale served at once (UPDATING), one background revalidation, then a fresh HIT (RFC 5861 §3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-3
  const { origin, edge, originAnswered } = await setup(t, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }, {
    conditional: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=600', 'x-refreshed': 'yes' }, delayMs: 300 },
  });
  await send(`${edge.base}/swr`);
  // Several requests while the (slow) revalidation is under way: all answered immediately from the cache.
  const during = await Promise.all([1, 2, 3].map(() => send(`${edge.base}/swr`)));
  for (const r of during) {
    assert.equal(r.status, 200);
    assert.equal(r.body, 'v1');
    assert.equal(r.headers['cf-cache-status'], 'UPDATING');
    assert.match(String(r.headers['cache-status']), /; hit/);
  }
  assert.ok(origin.count('/swr') <= 2, 'answers did not wait for the origin');
  await originAnswered('/swr', 2);
  assert.equal(origin.requests[1]!.headers['if-none-match'], '"v1"', 'the background fetch is a revalidation');
  const after = await send(`${edge.base}/swr`);
  assert.equal(after.headers['cf-cache-status'], 'HIT');
  assert.equal(after.headers['x-refreshed'], 'yes');
  assert.equal(after.body, 'v1');
  assert.equal(origin.count('/swr'), 2, 'exactly one revalidation for all the stale answers');
});

test('stale-while-revalidate: a new 200 from the background fetch replaces the stored response (RFC 5861 §3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-3 and https://www.rfc-editor.org/rfc/rfc9111#section-4.3.3
  const { origin, edge, originAnswered } = await setup(t, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }, {
    conditional: { status: 200, headers: { etag: '"v2"', 'cache-control': 'max-age=600' }, body: 'v2' },
  });
  await send(`${edge.base}/swr2`);
  const stale = await send(`${edge.base}/swr2`);
  assert.equal(stale.body, 'v1');
  assert.equal(stale.headers['cf-cache-status'], 'UPDATING');
  await originAnswered('/swr2', 2);
  const after = await send(`${edge.base}/swr2`);
  assert.equal(after.headers['cf-cache-status'], 'HIT');
  assert.equal(after.body, 'v2');
});

test('past the stale-while-revalidate window the request waits for the revalidation (RFC 5861 §3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-3 ("up to the indicated number of seconds")
  const { origin, edge } = await setup(t, { 'cache-control': 'max-age=10, stale-while-revalidate=5', age: '30' }, {
    conditional: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=600' } },
  });
  await send(`${edge.base}/late`);
  const r = await send(`${edge.base}/late`);
  assert.equal(r.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.count('/late'), 2);
});

for (const status of [500, 502, 503, 504]) {
  test(`stale-if-error: an origin ${status} during revalidation serves the stale response, STALE (RFC 5861 §4)`, async (t) => {
    // https://www.rfc-editor.org/rfc/rfc5861#section-4
    const { origin, edge } = await setup(t, { 'cache-control': 'max-age=0, stale-if-error=600' }, { conditional: { status } });
    await send(`${edge.base}/sie`);
    const r = await send(`${edge.base}/sie`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'v1');
    assert.equal(r.headers['cf-cache-status'], 'STALE');
    assert.match(String(r.headers['cache-status']), new RegExp(`fwd-status=${status}`));
    assert.equal(origin.count('/sie'), 2, 'the origin was asked');
  });
}

test('stale-if-error: an unreachable origin serves the stale response, STALE (RFC 5861 §4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4 ("an error is any situation that would result in a 500, 502,
  // 503, or 504")
  const { origin, edge } = await setup(t, { 'cache-control': 'max-age=0, stale-if-error=600' }, { conditional: { status: 304 } });
  await send(`${edge.base}/down`);
  await origin.close();
  const r = await send(`${edge.base}/down`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'v1');
  assert.equal(r.headers['cf-cache-status'], 'STALE');
});

test('without stale-if-error, origin errors pass through (RFC 9111 §4.2.4); the stored response outlives them', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4 ("MUST NOT generate a stale response unless ... explicitly
  // permitted"): an origin's 503 goes out as it is.
  const { origin, edge } = await setup(t, { 'cache-control': 'max-age=0' }, { conditional: { status: 503 } });
  await send(`${edge.base}/plain`);
  const err = await send(`${edge.base}/plain`);
  assert.equal(err.status, 503);
  assert.equal(err.body, 'origin says 503');
  // An error answer describes that exchange, not the resource: the stored response is kept (storable.ts
  // refusalConcernsResource), and a cache that then cannot reach the origin at all may serve it (§4.2.4, disconnected).
  await origin.close();
  const down = await send(`${edge.base}/plain`);
  assert.equal(down.status, 200);
  assert.equal(down.body, 'v1');
  assert.equal(down.headers['cache-status'], 'edgecache; hit; fwd=stale; detail=origin-unreachable');
});

test('a stale-if-error window that has passed: errors pass through (RFC 5861 §4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4 (stale by 20 s, window 5 s)
  const { edge } = await setup(t, { 'cache-control': 'max-age=10, stale-if-error=5', age: '30' }, { conditional: { status: 500 } });
  await send(`${edge.base}/old`);
  const r = await send(`${edge.base}/old`);
  assert.equal(r.status, 500);
});

test('a 4xx during revalidation is not an error for stale-if-error (RFC 5861 §4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4 (500, 502, 503, 504 only)
  const { edge } = await setup(t, { 'cache-control': 'max-age=0, stale-if-error=600' }, { conditional: { status: 404 } });
  await send(`${edge.base}/gone`);
  const r = await send(`${edge.base}/gone`);
  assert.equal(r.status, 404);
});

test('stale-if-error is only for 500, 502, 503, 504: a 501 passes through (RFC 5861 §4)', {
}, async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4
  const { edge } = await setup(t, { 'cache-control': 'max-age=0, stale-if-error=600' }, { conditional: { status: 501 } });
  await send(`${edge.base}/ni`);
  const r = await send(`${edge.base}/ni`);
  assert.equal(r.status, 501);
});

test('a request stale-if-error lets the client accept a stale response on error (RFC 5861 §4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4 ("When used as a request Cache-Control extension ...")
  const { edge } = await setup(t, { 'cache-control': 'max-age=0' }, { conditional: { status: 502 } });
  await send(`${edge.base}/client`);
  const r = await send(`${edge.base}/client`, { headers: { 'cache-control': 'stale-if-error=600' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'v1');
  assert.equal(r.headers['cf-cache-status'], 'STALE');
});

test('must-revalidate forbids stale-while-revalidate (RFC 9111 §5.2.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2
  const { origin, edge } = await setup(t, { 'cache-control': 'max-age=0, must-revalidate, stale-while-revalidate=600' }, {
    conditional: { status: 304, headers: { etag: '"v1"' } },
  });
  await send(`${edge.base}/mr`);
  const r = await send(`${edge.base}/mr`);
  assert.equal(r.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.count('/mr'), 2);
});

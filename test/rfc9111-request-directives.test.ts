// End to end through the edge: request cache directives (RFC 9111 §5.2.1) and the zone's ignoreRequestCacheControl
// (default 'anonymous': ignored on requests without Authorization or Cookie; false: honoured as the RFC says).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/**
 * An origin answering /<name> with `cases[name]` (plus ETag "e"), and 304 to If-None-Match "e" (which the edge
 * sends when it revalidates). `zone` adds zone settings.
 */
async function setup(t: TestContext, cases: Record<string, OutgoingHttpHeaders>, zone: Record<string, unknown> = { ignoreRequestCacheControl: false }) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    if (req.headers['if-none-match'] === '"e"') {
      res.writeHead(304, { etag: '"e"' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', etag: '"e"', ...cases[req.url!.slice(1)] });
    res.end(`#${n}`);
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, ...zone }] as never });
  return { origin, edge };
}

/** Stores /name, then sends it with the request Cache-Control `cc`; whether the origin was asked again, and the answer. */
async function withDirective(base: string, origin: { count(p?: string): number }, name: string, headers: Record<string, string>) {
  await send(`${base}/${name}`);
  const before = origin.count(`/${name}`);
  const r = await send(`${base}/${name}`, { headers });
  return { r, asked: origin.count(`/${name}`) > before };
}

test('request max-age: a stored response older than it is validated first (RFC 9111 §5.2.1.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.1
  const { origin, edge } = await setup(t, { a: { 'cache-control': 'max-age=600', age: '100' } });
  assert.equal((await withDirective(edge.base, origin, 'a', { 'cache-control': 'max-age=200' })).asked, false);
  const old = await withDirective(edge.base, origin, 'a', { 'cache-control': 'max-age=50' });
  assert.equal(old.asked, true, 'age 100 > max-age 50');
  assert.equal(old.r.status, 200);
  assert.equal(old.r.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.requests.at(-1)!.headers['if-none-match'], '"e"');
  // max-age=0: always validate.
  assert.equal((await withDirective(edge.base, origin, 'a', { 'cache-control': 'max-age=0' })).asked, true);
});

test('request min-fresh: the response must stay fresh at least that long (RFC 9111 §5.2.1.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.3 (600 − 100 = 500 s of freshness left)
  const { origin, edge } = await setup(t, { b: { 'cache-control': 'max-age=600', age: '100' } });
  const enough = await withDirective(edge.base, origin, 'b', { 'cache-control': 'min-fresh=400' });
  assert.equal(enough.asked, false);
  assert.equal(enough.r.headers['cf-cache-status'], 'HIT');
  assert.equal((await withDirective(edge.base, origin, 'b', { 'cache-control': 'min-fresh=550' })).asked, true);
});

test('request max-stale: a stale response within the limit is served without validation (RFC 9111 §5.2.1.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.2 (max-age 10, age 30: stale by 20 s)
  const staleBy20 = { 'cache-control': 'max-age=10', age: '30' };
  const { origin, edge } = await setup(t, { c1: staleBy20, c2: staleBy20, c3: staleBy20 });
  // One path per case: a plain GET of a stale response would revalidate (and freshen) it.
  const within = await withDirective(edge.base, origin, 'c1', { 'cache-control': 'max-stale=60' });
  assert.equal(within.asked, false);
  assert.equal(within.r.headers['cf-cache-status'], 'HIT');
  assert.ok(Number(within.r.headers.age) >= 30, 'the stale stored response, with its age');
  assert.equal((await withDirective(edge.base, origin, 'c2', { 'cache-control': 'max-stale' })).asked, false, 'no value: any staleness');
  assert.equal((await withDirective(edge.base, origin, 'c3', { 'cache-control': 'max-stale=5' })).asked, true, 'stale by more than 5 s');
});

test('only-if-cached: stored and fresh is served; otherwise 504 without contacting the origin (RFC 9111 §5.2.1.7)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7
  const { origin, edge } = await setup(t, { fresh: { 'cache-control': 'max-age=600' }, stale: { 'cache-control': 'max-age=0' } });
  const oic = { 'cache-control': 'only-if-cached' };
  const missing = await send(`${edge.base}/fresh`, { headers: oic });
  assert.equal(missing.status, 504);
  assert.equal(origin.count('/fresh'), 0);
  await send(`${edge.base}/fresh`);
  const hit = await send(`${edge.base}/fresh`, { headers: oic });
  assert.equal(hit.status, 200);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  await send(`${edge.base}/stale`);
  const stale = await send(`${edge.base}/stale`, { headers: oic });
  assert.equal(stale.status, 504, 'a stale response needs the origin');
  assert.equal(origin.count('/stale'), 1);
  const staleOk = await send(`${edge.base}/stale`, { headers: { 'cache-control': 'only-if-cached, max-stale' } });
  assert.equal(staleOk.status, 200, 'unless the client accepts stale');
});

test('request no-cache and Pragma: no-cache revalidate a fresh response (RFC 9111 §5.2.1.4, §5.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.4 and #section-5.4
  const { origin, edge } = await setup(t, { d: { 'cache-control': 'max-age=600' } });
  const nc = await withDirective(edge.base, origin, 'd', { 'cache-control': 'no-cache' });
  assert.equal(nc.asked, true);
  assert.equal(nc.r.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.requests.at(-1)!.headers['if-none-match'], '"e"');
  assert.equal((await withDirective(edge.base, origin, 'd', { pragma: 'no-cache' })).asked, true);
  // Pragma is ignored when Cache-Control is present (RFC 9111 §5.4).
  assert.equal((await withDirective(edge.base, origin, 'd', { pragma: 'no-cache', 'cache-control': 'max-stale=1' })).asked, false);
});

test('ignoreRequestCacheControl: client no-cache, max-age, min-fresh and Pragma no longer reach the origin (zone setting)', async (t) => {
  // Operator override of https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1 (CDN protection against cache-busting).
  const { origin, edge } = await setup(t, { e: { 'cache-control': 'max-age=600' } }, { ignoreRequestCacheControl: true });
  const busting: Record<string, string>[] = [
    { 'cache-control': 'no-cache' }, { 'cache-control': 'max-age=0' }, { 'cache-control': 'min-fresh=9999' },
    { pragma: 'no-cache' },
  ];
  for (const headers of busting) {
    const { r, asked } = await withDirective(edge.base, origin, 'e', headers);
    assert.equal(asked, false, JSON.stringify(headers));
    assert.equal(r.headers['cf-cache-status'], 'HIT');
  }
  assert.equal(origin.count('/e'), 1);
  // only-if-cached and no-store cannot bust the cache and still apply.
  assert.equal((await send(`${edge.base}/never`, { headers: { 'cache-control': 'only-if-cached' } })).status, 504);
});

test('default (anonymous): 10 anonymous no-cache / Pragma / max-age=0 requests cost one origin fetch; with Cookie or Authorization they are honoured', async (t) => {
  // nginx and Varnish ignore client request directives; RFC 9111 §5.2.1 (honoured with ignoreRequestCacheControl: false).
  const { origin, edge } = await setup(t, { f: { 'cache-control': 'public, max-age=600' } }, {});
  const busting: Record<string, string>[] = [{ 'cache-control': 'no-cache' }, { pragma: 'no-cache' }, { 'cache-control': 'max-age=0' }];
  for (let i = 0; i < 10; i++) {
    const r = await send(`${edge.base}/f`, { headers: busting[i % busting.length]! });
    assert.equal(r.status, 200);
    if (i > 0) assert.equal(r.headers['cf-cache-status'], 'HIT', `request ${i + 1}`);
  }
  assert.equal(origin.count('/f'), 1, '10 requests, 1 origin fetch');
  // A request with credentials may be personal: its no-cache is honoured (revalidated with the stored validator).
  const withCookie = await send(`${edge.base}/f`, { headers: { 'cache-control': 'no-cache', cookie: 'session=1' } });
  assert.equal(withCookie.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.count('/f'), 2);
  const withAuth = await send(`${edge.base}/f`, { headers: { pragma: 'no-cache', authorization: 'Bearer x' } });
  assert.notEqual(withAuth.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/f'), 3);
  // only-if-cached still applies to anonymous requests.
  assert.equal((await send(`${edge.base}/none`, { headers: { 'cache-control': 'only-if-cached' } })).status, 504);
});

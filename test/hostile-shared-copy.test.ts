// What one client's request can do to the copy everybody shares: an origin's refusal of that request (a cacheable
// 400 for an oversized header, CPDoS) is not stored, and an answer made unstorable by the request's own directives
// or credentials never removes or expires the stored response (nginx and Varnish keep it). Each test sends the
// hostile request itself, then a clean one that must still be served the shared copy.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** An origin with a 1000-byte header limit that answers its refusal with a cacheable 400 (as many frameworks do). */
async function limitedOrigin(t: TestContext, etag = false) {
  let version = 0;
  return startOrigin(t, (req, res) => {
    if (String(req.headers['x-big'] ?? '').length > 1000) {
      res.writeHead(400, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=600' });
      res.end('header too large');
      return;
    }
    if (etag && req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=600' });
      res.end();
      return;
    }
    const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'max-age=600' };
    if (etag) h.etag = '"v1"';
    res.writeHead(200, h);
    res.end(`page v${++version}`);
  });
}

/** A zone that honours client request directives (RFC 9111 §5.2.1): anonymous no-cache is ignored by default. */
const honouring = (origin: string) => ({ zones: [{ id: 'z', hosts: ['*'], origin, ignoreRequestCacheControl: false }] });

const BIG = 'x'.repeat(5000); // over what a typical origin accepts (the edge's 4 KiB rule), under the edge's own 16 KiB limit

test('CPDoS: a cacheable 400 provoked by an oversized header is not stored; the next client gets the page', async (t) => {
  const origin = await limitedOrigin(t);
  const edge = await startTestEdge(t, honouring(origin.url));
  const attack = await send(`${edge.base}/cpdos`, { headers: { 'x-big': BIG } });
  assert.equal(attack.status, 400);
  assert.equal(attack.headers['cf-cache-status'], 'DYNAMIC');
  const victim = await send(`${edge.base}/cpdos`);
  assert.equal(victim.status, 200);
  assert.equal(victim.body, 'page v1');
  assert.equal((await send(`${edge.base}/cpdos`)).headers['cf-cache-status'], 'HIT');
  // The same refusal on a forced revalidation leaves the stored page in place.
  const again = await send(`${edge.base}/cpdos`, { headers: { 'x-big': BIG, 'cache-control': 'no-cache' } });
  assert.equal(again.status, 400);
  const after = await send(`${edge.base}/cpdos`);
  assert.equal(after.status, 200);
  assert.equal(after.headers['cf-cache-status'], 'HIT');
  assert.equal(after.body, 'page v1');
});

test('CPDoS: a zone that opts in (storeRequestErrors) stores the 400 like any other answer', async (t) => {
  const origin = await limitedOrigin(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, storeRequestErrors: true }] });
  assert.equal((await send(`${edge.base}/opt-in`, { headers: { 'x-big': BIG } })).status, 400);
  const next = await send(`${edge.base}/opt-in`);
  assert.equal(next.status, 400);
  assert.equal(next.headers['cf-cache-status'], 'HIT');
});

test('an anonymous Cache-Control: no-cache, no-store does not remove the stored copy', async (t) => {
  const origin = await limitedOrigin(t);
  const edge = await startTestEdge(t, honouring(origin.url));
  assert.equal((await send(`${edge.base}/nc`)).body, 'page v1');
  const forced = await send(`${edge.base}/nc`, { headers: { 'cache-control': 'no-cache, no-store' } });
  assert.equal(forced.status, 200);
  assert.equal(forced.body, 'page v2', 'the client asked for validation: it got the origin\'s answer');
  assert.equal(origin.count('/nc'), 2);
  const next = await send(`${edge.base}/nc`);
  assert.equal(next.headers['cf-cache-status'], 'HIT', 'the shared copy is still there');
  assert.equal(next.body, 'page v1');
  assert.equal(edge.store.stats().variants, 1);
});

test('max-age=0 with any Authorization neither removes nor expires the stored copy (full answer or 304)', async (t) => {
  for (const etag of [false, true]) {
    const origin = await limitedOrigin(t, etag);
    const edge = await startTestEdge(t, { origin: origin.url });
    const path = `/auth-${etag ? 'etag' : 'plain'}`;
    assert.equal((await send(`${edge.base}${path}`)).body, 'page v1');
    const forced = await send(`${edge.base}${path}`, { headers: { 'cache-control': 'max-age=0', authorization: 'Bearer anyone' } });
    assert.equal(forced.status, 200);
    assert.equal(origin.count(path), 2, 'the request was validated with the origin');
    const next = await send(`${edge.base}${path}`);
    assert.equal(next.headers['cf-cache-status'], 'HIT', `etag=${etag}: the shared copy is still there and fresh`);
    assert.equal(next.body, 'page v1');
    assert.equal(origin.count(path), 2);
  }
});

test('an error the client provoked on a forced revalidation keeps the stored copy; a resource that became unstorable drops it', async (t) => {
  let noStore = false;
  const origin = await startOrigin(t, (req, res) => {
    if (req.headers['x-fail'] !== undefined) {
      res.writeHead(403, { 'cache-control': 'no-store' });
      res.end('provoked refusal');
      return;
    }
    res.writeHead(200, { 'cache-control': noStore ? 'no-store' : 'max-age=600' });
    res.end(noStore ? 'now private to each request' : 'shared page');
  });
  const edge = await startTestEdge(t, honouring(origin.url));
  await send(`${edge.base}/err`);
  const provoked = await send(`${edge.base}/err`, { headers: { 'cache-control': 'no-cache', 'x-fail': '1' } });
  assert.equal(provoked.status, 403);
  const next = await send(`${edge.base}/err`);
  assert.equal(next.headers['cf-cache-status'], 'HIT');
  assert.equal(next.body, 'shared page');
  // The other side of the rule: an anonymous validation answered with a no-store 200 says the resource is no longer
  // shareable, and the stored copy goes (RFC 9111 §4.4 spirit).
  noStore = true;
  await send(`${edge.base}/err`, { headers: { 'cache-control': 'no-cache' } });
  const gone = await send(`${edge.base}/err`);
  assert.equal(gone.body, 'now private to each request');
  assert.notEqual(gone.headers['cf-cache-status'], 'HIT');
});

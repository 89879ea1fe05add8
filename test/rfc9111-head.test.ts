// End to end through the edge: HEAD answered from stored GET responses, never replacing their bodies (RFC 9111 §4, §4.3.5).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

const BODY = 'a stored body of some length';

async function setup(t: TestContext, cacheControl = 'max-age=600') {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': cacheControl, 'x-checked': String(n) });
      res.end();
      return;
    }
    res.writeHead(200, { 'cache-control': cacheControl, etag: '"v1"', 'content-type': 'text/plain', 'x-n': String(n) });
    res.end(req.method === 'HEAD' ? undefined : BODY);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

test('HEAD is answered from a stored GET response, with its headers and no body (RFC 9111 §4, RFC 9110 §9.3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4 ("the method ... allows it [the stored response] to be used
  // for the presented request"; a GET response satisfies HEAD) and https://www.rfc-editor.org/rfc/rfc9110#section-9.3.2
  const { origin, edge } = await setup(t);
  const get = await send(`${edge.base}/h`);
  const head = await send(`${edge.base}/h`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['cf-cache-status'], 'HIT');
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String(BODY.length), 'the length of the GET body');
  assert.equal(head.headers.etag, get.headers.etag);
  assert.equal(head.headers['x-n'], '1');
  assert.equal(origin.count('/h'), 1);
});

test('a HEAD miss fetches with GET, so a later GET is a HIT with the full body (RFC 9111 §3, §4.3.5)', async (t) => {
  // The edge stores only complete GET responses (https://www.rfc-editor.org/rfc/rfc9111#section-3); a HEAD response
  // has no content to store (https://www.rfc-editor.org/rfc/rfc9111#section-4.3.5).
  const { origin, edge } = await setup(t);
  const head = await send(`${edge.base}/first-head`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  const get = await send(`${edge.base}/first-head`);
  assert.equal(get.headers['cf-cache-status'], 'HIT');
  assert.equal(get.body, BODY);
  assert.deepEqual(origin.requests.map((r) => r.method), ['GET']);
});

test('a HEAD that revalidates never replaces the stored body (RFC 9111 §4.3.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.5 (a HEAD response updates stored headers, not content)
  const { origin, edge } = await setup(t, 'max-age=0');
  await send(`${edge.base}/stale`);
  const head = await send(`${edge.base}/stale`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(head.headers['x-checked'], '2', 'headers updated by the revalidation');
  const get = await send(`${edge.base}/stale`);
  assert.equal(get.body, BODY, 'the stored body is intact');
  assert.equal(get.headers['content-length'], String(BODY.length));
  assert.ok(origin.requests.every((r) => r.method === 'GET'), 'the edge never asks the origin with HEAD for the cache');
});

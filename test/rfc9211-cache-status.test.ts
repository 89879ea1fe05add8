// End to end through the edge: the Cache-Status response field and its parameters (RFC 9211).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';

/** The parameters of our Cache-Status member: name → value (true for bare parameters). */
function parseMember(value: unknown): Map<string, string | true> {
  const text = String(value);
  const [cache, ...params] = text.split(';').map((s) => s.trim());
  assert.equal(cache, 'edgecache', `the member names this cache: ${text}`);
  const out = new Map<string, string | true>();
  for (const p of params) {
    const eq = p.indexOf('=');
    assert.match(p, /^[a-z][a-z0-9-]*(=.+)?$/, `parameter syntax (RFC 8941 §3.1.2): ${p}`);
    out.set(eq < 0 ? p : p.slice(0, eq), eq < 0 ? true : p.slice(eq + 1));
  }
  return out;
}

async function setup(t: TestContext, delayMs = 0) {
  let n = 0;
  const origin = await startOrigin(t, async (req, res) => {
    n++;
    if (delayMs) await sleep(delayMs);
    const url = new URL(req.url!, 'http://x');
    if (req.headers['if-none-match'] === '"e"') {
      res.writeHead(304, { etag: '"e"' });
      res.end();
      return;
    }
    const status = Number(url.searchParams.get('status') ?? 200);
    res.writeHead(status, {
      'cache-control': url.searchParams.get('cc') ?? 'max-age=600', etag: '"e"', vary: 'X-V', 'content-type': 'text/plain',
    });
    res.end(`#${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

test('a miss: fwd=uri-miss, fwd-status, stored (RFC 9211 §2.2, §2.3, §2.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2, #section-2.3, #section-2.5
  const { edge } = await setup(t);
  const r = await send(`${edge.base}/a`);
  const p = parseMember(r.headers['cache-status']);
  assert.equal(p.get('fwd'), 'uri-miss');
  assert.equal(p.get('fwd-status'), '200');
  assert.equal(p.get('stored'), true);
  assert.equal(p.has('hit'), false);
});

test('a hit: hit and ttl, no fwd (RFC 9211 §2.1, §2.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.1 and #section-2.4
  const { edge } = await setup(t);
  await send(`${edge.base}/b`);
  const p = parseMember((await send(`${edge.base}/b`)).headers['cache-status']);
  assert.equal(p.get('hit'), true);
  assert.equal(p.has('fwd'), false);
  const ttl = Number(p.get('ttl'));
  assert.ok(ttl > 590 && ttl <= 600, `ttl ${ttl}`);
});

test('another Vary variant: fwd=vary-miss (RFC 9211 §2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2 ("vary-miss: The cache did not contain any responses that
  // matched the request's selecting header fields")
  const { edge } = await setup(t);
  await send(`${edge.base}/c`, { headers: { 'x-v': '1' } });
  const p = parseMember((await send(`${edge.base}/c`, { headers: { 'x-v': '2' } })).headers['cache-status']);
  assert.equal(p.get('fwd'), 'vary-miss');
  assert.equal(p.get('stored'), true);
});

test('a stale response revalidated: fwd=stale, fwd-status=304 (RFC 9211 §2.2, §2.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2 ("stale: The cache was able to select a fresh response ... but
  // it was stale") and #section-2.3 (the status of the forwarded request's response)
  const { edge } = await setup(t);
  await send(`${edge.base}/d?cc=max-age%3D0`);
  const r = await send(`${edge.base}/d?cc=max-age%3D0`);
  assert.equal(r.status, 200);
  const p = parseMember(r.headers['cache-status']);
  assert.equal(p.get('fwd'), 'stale');
  assert.equal(p.get('fwd-status'), '304');
});

test('a client no-cache: fwd=request (RFC 9211 §2.2)', {
}, async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.2 ("request: The cache was able to select a fresh response for the
  // request, but the request's semantics (e.g., Cache-Control request directives) did not allow its use")
  const { edge } = await setup(t);
  await send(`${edge.base}/e`);
  // With a Cookie: anonymous requests' no-cache is ignored by default (the zone's ignoreRequestCacheControl).
  const p = parseMember((await send(`${edge.base}/e`, { headers: { 'cache-control': 'no-cache', cookie: 'a=1' } })).headers['cache-status']);
  assert.equal(p.get('fwd'), 'request');
  assert.equal(p.get('fwd-status'), '304');
});

test('fwd-status carries the origin\'s status; not stored means no `stored` (RFC 9211 §2.3, §2.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.3 and #section-2.5
  const { edge } = await setup(t);
  const gone = parseMember((await send(`${edge.base}/f?status=410`)).headers['cache-status']);
  assert.equal(gone.get('fwd-status'), '410');
  assert.equal(gone.get('stored'), true, '410 is cacheable');
  const ns = parseMember((await send(`${edge.base}/g?cc=no-store`)).headers['cache-status']);
  assert.equal(ns.get('fwd-status'), '200');
  assert.equal(ns.has('stored'), false);
  assert.equal(ns.has('hit'), false);
  const post = parseMember((await send(`${edge.base}/h`, { method: 'POST', body: 'x' })).headers['cache-status']);
  assert.equal(post.get('fwd'), 'method');
  assert.equal(post.has('stored'), false);
});

test('a request served by another request\'s fetch: collapsed (RFC 9211 §2.6)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9211#section-2.6
  const { origin, edge } = await setup(t, 200);
  const [a, b] = await Promise.all([send(`${edge.base}/slow`), send(`${edge.base}/slow`)]);
  assert.equal(origin.count('/slow'), 1);
  assert.equal(a.body, b.body);
  const collapsed = [a, b].map((r) => parseMember(r.headers['cache-status']).get('collapsed') === true);
  assert.deepEqual(collapsed.sort(), [false, true], 'exactly one of the two joined the other\'s fetch');
});

// End to end through the edge: targeted cache-control fields (RFC 9213) — precedence and what reaches clients.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** An origin answering /<name> with the headers `cases[name]`. */
async function setup(t: TestContext, cases: Record<string, OutgoingHttpHeaders>) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    res.writeHead(200, { 'content-type': 'text/plain', ...cases[req.url!.slice(1)] });
    res.end(`#${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

async function twice(base: string, path: string) {
  const first = await send(`${base}${path}`);
  const second = await send(`${base}${path}`);
  return { first, second, reused: second.body === first.body };
}

test('CDN-Cache-Control takes precedence over Cache-Control for this cache (RFC 9213 §2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9213#section-2.2 ("MUST ... use the first applicable field ... and ignore Cache-Control")
  const { origin, edge } = await setup(t, {
    store: { 'cdn-cache-control': 'max-age=600', 'cache-control': 'no-store' },
    nostore: { 'cdn-cache-control': 'no-store', 'cache-control': 'public, max-age=600' },
    expires: { 'cdn-cache-control': 'must-revalidate', expires: new Date(Date.now() + 600_000).toUTCString() },
  });
  const s = await twice(edge.base, '/store');
  assert.ok(s.reused, 'stored for 600 s although Cache-Control says no-store');
  assert.equal(s.second.headers['cf-cache-status'], 'HIT');
  assert.match(String(s.second.headers['cache-status']), /ttl=(59\d|600)/);
  assert.equal(s.second.headers['cache-control'], 'no-store', 'Cache-Control still reaches the client for downstream caches');
  assert.ok(!(await twice(edge.base, '/nostore')).reused, 'CDN-Cache-Control: no-store wins over Cache-Control');
  // With a targeted field present, Expires is ignored too (it belongs to the Cache-Control regime).
  assert.ok(!(await twice(edge.base, '/expires')).reused, 'Expires does not give freshness under CDN-Cache-Control');
  assert.equal(origin.count('/store'), 1);
});

test('Cloudflare-CDN-Cache-Control beats CDN-Cache-Control, which beats Surrogate-Control (RFC 9213 §2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9213#section-2.2 (a target list, most specific first)
  const { edge } = await setup(t, {
    cf: { 'cloudflare-cdn-cache-control': 'max-age=600', 'cdn-cache-control': 'no-store', 'surrogate-control': 'no-store', 'cache-control': 'no-store' },
    cfNo: { 'cloudflare-cdn-cache-control': 'no-store', 'cdn-cache-control': 'max-age=600' },
    cdn: { 'cdn-cache-control': 'max-age=600', 'surrogate-control': 'no-store' },
    cdnNo: { 'cdn-cache-control': 'no-store', 'surrogate-control': 'max-age=600' },
    sur: { 'surrogate-control': 'max-age=600', 'cache-control': 'private' },
    surNo: { 'surrogate-control': 'no-store', 'cache-control': 'max-age=600' },
  });
  assert.ok((await twice(edge.base, '/cf')).reused);
  assert.ok(!(await twice(edge.base, '/cfNo')).reused);
  assert.ok((await twice(edge.base, '/cdn')).reused);
  assert.ok(!(await twice(edge.base, '/cdnNo')).reused);
  assert.ok((await twice(edge.base, '/sur')).reused, 'Surrogate-Control overrides Cache-Control: private');
  assert.ok(!(await twice(edge.base, '/surNo')).reused);
});

test('CDN-Cache-Control is forwarded to clients; Cloudflare-CDN-Cache-Control and Surrogate-Control are not', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9213#section-3 (CDN-Cache-Control: "will typically forward this header");
  // Cloudflare documents that Cloudflare-CDN-Cache-Control and Surrogate-Control are consumed at the edge.
  const { edge } = await setup(t, {
    all: {
      'cloudflare-cdn-cache-control': 'max-age=600', 'cdn-cache-control': 'max-age=300',
      'surrogate-control': 'max-age=100', 'cache-control': 'max-age=60',
    },
  });
  const { first, second } = await twice(edge.base, '/all');
  for (const [what, r] of [['MISS', first], ['HIT', second]] as const) {
    assert.equal(r.headers['cdn-cache-control'], 'max-age=300', what);
    assert.equal(r.headers['cloudflare-cdn-cache-control'], undefined, what);
    assert.equal(r.headers['surrogate-control'], undefined, what);
    assert.equal(r.headers['cache-control'], 'max-age=60', what);
  }
  assert.equal(second.headers['cf-cache-status'], 'HIT');
  assert.match(String(second.headers['cache-status']), /ttl=(59\d|600)/, 'lifetime from Cloudflare-CDN-Cache-Control');
});

test('an invalid or empty targeted field is ignored and Cache-Control applies (RFC 9213 §2.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9213#section-2.1 ("If a targeted field ... fails to parse ... MUST ignore it")
  const { edge } = await setup(t, {
    bad: { 'cdn-cache-control': 'max-age=600, ,', 'cache-control': 'no-store' },
    empty: { 'cdn-cache-control': '', 'cache-control': 'max-age=600' },
    badFallsBack: { 'cdn-cache-control': 'max-age="600', 'cache-control': 'max-age=600' },
  });
  assert.ok(!(await twice(edge.base, '/bad')).reused, 'a field that fails to parse does not override no-store');
  assert.ok((await twice(edge.base, '/empty')).reused);
  assert.ok((await twice(edge.base, '/badFallsBack')).reused);
});

test('targeted fields are Structured Fields: a non-integer max-age is not usable (RFC 9213 §2.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9213#section-2.1 (delta-seconds as sf-integer; other types are not consumed)
  const { edge } = await setup(t, {
    str: { 'cdn-cache-control': 'max-age="600"' },
    dec: { 'cdn-cache-control': 'max-age=600.0' },
    int: { 'cdn-cache-control': 'max-age=600' },
  });
  assert.ok(!(await twice(edge.base, '/str')).reused);
  assert.ok(!(await twice(edge.base, '/dec')).reused);
  assert.ok((await twice(edge.base, '/int')).reused);
});

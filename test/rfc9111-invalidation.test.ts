// End to end through the edge: unsafe requests invalidate stored responses (RFC 9111 §4.4).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/**
 * An origin whose GETs are cacheable; unsafe requests get `status` and the Location / Content-Location given in
 * the query (?status=&loc=&cl=).
 */
async function setup(t: TestContext) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    const url = new URL(req.url!, 'http://x');
    if (req.method === 'GET') {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
      res.end(`${url.pathname} #${n}`);
      return;
    }
    const h: Record<string, string> = { 'content-type': 'text/plain' };
    if (url.searchParams.get('loc')) h.location = url.searchParams.get('loc')!;
    if (url.searchParams.get('cl')) h['content-location'] = url.searchParams.get('cl')!;
    res.writeHead(Number(url.searchParams.get('status') ?? 200), h);
    res.end('done');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

/** Stores `path` (MISS then HIT). */
async function prime(base: string, path: string): Promise<void> {
  await send(`${base}${path}`);
  const hit = await send(`${base}${path}`);
  assert.equal(hit.headers['cf-cache-status'], 'HIT', `${path} is stored`);
}

const statusOf = async (base: string, path: string): Promise<string> =>
  String((await send(`${base}${path}`)).headers['cf-cache-status']);

test('a successful POST, PUT, PATCH or DELETE invalidates the target URI (RFC 9111 §4.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 ("MUST invalidate the target URI")
  const { edge } = await setup(t);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const path = `/doc-${method.toLowerCase()}`;
    await prime(edge.base, path);
    // Explicit Content-Length: node's client frames no body for DELETE by default.
    const r = await send(`${edge.base}${path}`, { method, body: 'x', headers: { 'content-length': '1' } });
    assert.equal(r.status, 200);
    assert.equal(await statusOf(edge.base, path), 'MISS', `${method} invalidated ${path}`);
  }
});

test('an unsafe request without a body invalidates too; 3xx counts as success (RFC 9111 §4.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 ("non-error status code": 2xx or 3xx)
  const { edge } = await setup(t);
  await prime(edge.base, '/item?status=303');
  const r = await send(`${edge.base}/item?status=303`, { method: 'DELETE' });
  assert.equal(r.status, 303);
  assert.equal(await statusOf(edge.base, '/item?status=303'), 'MISS');
});

test('the query is part of the target URI: /item?q does not invalidate /item (RFC 9111 §4.4)', {
}, async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 (the target URI, https://www.rfc-editor.org/rfc/rfc9110#section-7.1)
  const { edge } = await setup(t);
  await prime(edge.base, '/item');
  await send(`${edge.base}/item?status=204`, { method: 'DELETE' });
  assert.equal(await statusOf(edge.base, '/item'), 'HIT');
});

test('an error response does not invalidate (RFC 9111 §4.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 (only "a non-error status code")
  const { edge } = await setup(t);
  for (const status of [404, 500]) {
    const path = `/err?status=${status}`;
    await prime(edge.base, path);
    const r = await send(`${edge.base}${path}`, { method: 'POST', body: 'x' });
    assert.equal(r.status, status);
    assert.equal(await statusOf(edge.base, path), 'HIT', `a ${status} leaves the stored response`);
  }
});

test('same-host Location and Content-Location are invalidated, other hosts are not (RFC 9111 §4.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 ("MUST NOT trigger an invalidation ... if the origin ... differs")
  const { edge } = await setup(t);
  const host = new URL(edge.base).host;
  await prime(edge.base, '/created');
  await prime(edge.base, '/described?v=1');
  await prime(edge.base, '/elsewhere');
  await prime(edge.base, '/absolute');
  const q = new URLSearchParams({ status: '201', loc: '/created', cl: 'described?v=1' });
  await send(`${edge.base}/collection?${q}`, { method: 'POST', body: 'new' });
  assert.equal(await statusOf(edge.base, '/created'), 'MISS', 'relative Location');
  assert.equal(await statusOf(edge.base, '/described?v=1'), 'MISS', 'relative Content-Location');

  const abs = new URLSearchParams({ loc: `http://${host}/absolute`, cl: 'http://other.example/elsewhere' });
  await send(`${edge.base}/collection?${abs}`, { method: 'PUT', body: 'x' });
  assert.equal(await statusOf(edge.base, '/absolute'), 'MISS', 'absolute same-host Location');
  assert.equal(await statusOf(edge.base, '/elsewhere'), 'HIT', 'another host\'s URI is left alone');
});

test('invalidation removes every Vary variant of the URI (RFC 9111 §4.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 ("the stored responses ... for the target URI")
  const origin = await startOrigin(t, (req, res) => {
    if (req.method !== 'GET') { res.writeHead(204); res.end(); return; }
    res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'Accept-Language' });
    res.end(`lang ${req.headers['accept-language'] ?? '-'}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  for (const lang of ['fr', 'de']) {
    await send(`${edge.base}/page`, { headers: { 'accept-language': lang } });
  }
  await send(`${edge.base}/page`, { method: 'PATCH', body: 'x' });
  for (const lang of ['fr', 'de']) {
    const r = await send(`${edge.base}/page`, { headers: { 'accept-language': lang } });
    assert.equal(r.headers['cf-cache-status'], 'MISS', lang);
  }
});

test('safe methods other than GET/HEAD (OPTIONS) do not invalidate (RFC 9111 §4.4, RFC 9110 §9.2.1)', {
}, async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.4 ("a request with an unsafe method"); OPTIONS is safe.
  const { edge } = await setup(t);
  await prime(edge.base, '/opts');
  await send(`${edge.base}/opts`, { method: 'OPTIONS' });
  assert.equal(await statusOf(edge.base, '/opts'), 'HIT');
});

// End to end: what a shared cache may store (RFC 9111 §3), request collapsing, LRU by bytes, objects too large to keep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Reads one sample's value from Prometheus text, e.g. metric(text, 'edgecache_store_bytes'). */
function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('private, no-store and Set-Cookie are not stored (BYPASS, passed through); Authorization only when the response allows', async (t) => {
  // RFC 9111 §3 (https://www.rfc-editor.org/rfc/rfc9111#section-3) and §3.5 for Authorization.
  const policies: Record<string, Record<string, string>> = {
    '/private': { 'cache-control': 'private, max-age=60' },
    '/no-store': { 'cache-control': 'no-store' },
    '/cookie': { 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=abc; Path=/' },
    '/auth-plain': { 'cache-control': 'max-age=60' },
    '/auth-public': { 'cache-control': 'public, max-age=60' },
    '/auth-smaxage': { 'cache-control': 's-maxage=60' },
    '/auth-must-revalidate': { 'cache-control': 'must-revalidate, max-age=60' },
    '/plain': { 'cache-control': 'max-age=60' },
  };
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', ...policies[req.url!] });
    res.end(`body of ${req.url}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const twice = async (path: string, headers: Record<string, string> = {}) => {
    const a = await send(`${edge.base}${path}`, { headers });
    const b = await send(`${edge.base}${path}`, { headers });
    assert.equal(a.status, 200);
    assert.equal(b.body, `body of ${path}`);
    return { a, b, fetches: origin.count(path) };
  };

  for (const path of ['/private', '/no-store', '/cookie']) {
    const { a, b, fetches } = await twice(path);
    assert.equal(fetches, 2, `${path} is never stored`);
    assert.deepEqual([a.headers['cf-cache-status'], b.headers['cf-cache-status']], ['BYPASS', 'BYPASS'], path);
    assert.match(String(a.headers['cache-status']), /^edgecache; fwd=/, path);
    assert.equal(a.headers['cache-control'], policies[path]!['cache-control'], 'passed through unchanged');
  }
  const cookie = await send(`${edge.base}/cookie`);
  assert.deepEqual(cookie.headers['set-cookie'], ['sid=abc; Path=/'], 'Set-Cookie reaches the client');

  const auth = { authorization: 'Bearer user-1' };
  const plain = await twice('/auth-plain', auth);
  assert.equal(plain.fetches, 2, 'a request with Authorization is not stored without public/s-maxage/must-revalidate');
  assert.equal(plain.a.headers['cf-cache-status'], 'BYPASS');
  assert.equal(origin.requests.find((r) => r.url === '/auth-plain')!.headers.authorization, 'Bearer user-1');
  for (const path of ['/auth-public', '/auth-smaxage', '/auth-must-revalidate']) {
    const { a, b, fetches } = await twice(path, auth);
    assert.equal(fetches, 1, `${path} allows a shared cache to store an authorized response`);
    assert.deepEqual([a.headers['cf-cache-status'], b.headers['cf-cache-status']], ['MISS', 'HIT'], path);
  }
  const control = await twice('/plain');
  assert.equal(control.fetches, 1);
  assert.equal(control.b.headers['cf-cache-status'], 'HIT');
});

test('20 concurrent misses for one variant make exactly one origin request; all get the whole body', async (t) => {
  const body = Buffer.alloc(200_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const origin = await startOrigin(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=60' });
    res.write(body.subarray(0, 1000));
    await released; // held until every client request has been sent
    res.end(body.subarray(1000));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const N = 20;
  // The origin holds the rest of the body until every client has its answer's head: all of them joined the one fill
  // (a fixed wait let a slow machine finish the fill first, and late clients got a HIT). A fill that never answers heads
  // is released after 10 s so the counts below fail instead of the test hanging.
  let started = 0;
  const backstop = setTimeout(release, 10_000);
  t.after(() => clearTimeout(backstop));
  const results = Promise.all(Array.from({ length: N }, () => new Promise<{ status: number; raw: Buffer; headers: import('node:http').IncomingHttpHeaders }>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/big.bin`, { agent: false }, (res) => {
      if (++started === N) release();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, raw: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  })));
  const all = await results;
  assert.equal(origin.count('/big.bin'), 1);
  for (const r of all) {
    assert.equal(r.status, 200);
    assert.equal(sha(r.raw), sha(body));
    assert.equal(r.headers['cf-cache-status'], 'MISS');
  }
  assert.equal(all.filter((r) => /collapsed/.test(String(r.headers['cache-status']))).length, N - 1, 'Cache-Status says which were collapsed');
  assert.equal((await send(`${edge.base}/big.bin`)).headers['cf-cache-status'], 'HIT');
});

test('LRU bounded by bytes: the oldest goes, the recently used stays; edgecache_store_bytes matches', async (t) => {
  const size = 20_000;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300' });
    res.end(Buffer.alloc(size, req.url!)); // a different body per path
  });
  // Room for three entries (body plus metadata), not four.
  const edge = await startTestEdge(t, { origin: origin.url, cache: { maxBytes: 65_000, maxObjectBytes: 30_000 } });
  const status = async (path: string) => (await send(`${edge.base}${path}`)).headers['cf-cache-status'];
  const metrics = async () => (await send(`${edge.adminBase}/metrics`)).body;

  for (const p of ['/a', '/b', '/c']) assert.equal(await status(p), 'MISS');
  assert.equal(metric(await metrics(), 'edgecache_store_bytes'), 3 * size);
  assert.equal(await status('/a'), 'HIT'); // /a is now the most recently used; /b the least
  assert.equal(await status('/d'), 'MISS');
  assert.equal(await status('/a'), 'HIT');
  assert.equal(await status('/c'), 'HIT');
  assert.equal(await status('/d'), 'HIT');
  const m = await metrics();
  assert.equal(metric(m, 'edgecache_store_bytes'), 3 * size);
  assert.equal(metric(m, 'edgecache_variants'), 3);
  assert.equal(await status('/b'), 'MISS', 'the least recently used entry was evicted');
  assert.equal(origin.count('/b'), 2);
  assert.equal(metric(await metrics(), 'edgecache_store_bytes'), 3 * size, 'storing /b again evicted one more');
});

test('a chunked body that is past maxObjectBytes in the read that brings its head: one origin request, streamed whole to its client', async (t) => {
  // The head and 20 kB arrive together: the flight is past its fill before its client has subscribed to it. The client
  // still reads it from its first byte (it was neither given up for want of readers nor fetched a second time).
  const body = Buffer.alloc(30_000, 'q');
  const origin = await startOrigin(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300' });
    res.write(body.subarray(0, 20_000));
    await sleep(30);
    res.end(body.subarray(20_000));
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: { maxObjectBytes: 10_000 } });
  for (let i = 1; i <= 3; i++) {
    const r = await send(`${edge.base}/early`);
    assert.equal(r.status, 200);
    assert.equal(r.raw.length, body.length, 'the whole body');
    assert.equal(origin.count('/early'), i, 'one origin request per client request');
  }
});

test('a body over cache.maxObjectBytes streams through whole and is not stored (with and without Content-Length)', async (t) => {
  const body = Buffer.alloc(50_000, 'z');
  const origin = await startOrigin(t, async (req, res) => {
    const h: Record<string, string> = { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300' };
    if (req.url === '/declared') h['content-length'] = String(body.length);
    res.writeHead(200, h);
    // Undeclared: chunked, and the limit is only found out part-way through.
    for (let i = 0; i < body.length; i += 10_000) { res.write(body.subarray(i, i + 10_000)); await sleep(5); }
    res.end();
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: { maxObjectBytes: 10_000 } });
  for (const path of ['/declared', '/chunked']) {
    for (let i = 0; i < 2; i++) {
      const r = await send(`${edge.base}${path}`);
      assert.equal(r.status, 200);
      assert.equal(r.raw.length, body.length, `${path}: the whole body`);
      assert.notEqual(r.headers['cf-cache-status'], 'HIT', path);
    }
    assert.equal(origin.count(path), 2, `${path} is not stored`);
  }
  const m = (await send(`${edge.adminBase}/metrics`)).body;
  assert.equal(metric(m, 'edgecache_store_bytes'), 0);
});

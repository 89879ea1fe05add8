// Hits on bodies only in the disk tier answered on the HTTP/1.1 fast path: the same bytes as node:http's answers (GET,
// HEAD, conditionals, CORS, pipelining, a body too large to read whole), in order behind a read, and never a body a
// purge removed while it was being read.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metric, purge, send, startOrigin, startTestEdge, type TestOrigin } from './helpers/http.js';
import { exchange } from './helpers/raw-http.js';
import { assertSameAnswers } from './helpers/same-answers.js';
import { DiskBody } from '../src/storage/disk-body.js';
import type { DiskStore } from '../src/storage/disk.js';

const ORIGIN_OK = 'https://app.example';
/** Each path's body: distinct bytes per path (and per version, for the purge test). */
const bodyOf = (path: string, version = 1, size = path.startsWith('/big') ? 300 * 1024 : 100 * 1024): Buffer => {
  const seed = Buffer.from(`${path} v${version} `);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = seed[i % seed.length]!;
  return out;
};

async function origin(t: TestContext, version: () => number = () => 1): Promise<TestOrigin> {
  return startOrigin(t, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/nostore')) { res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }); res.end('dyn'); return; }
    const body = bodyOf(path, version());
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=300', etag: '"v1"', 'last-modified': 'Mon, 07 Dec 2026 00:00:00 GMT', 'x-origin': 'yes', 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** An edge with a disk tier and a 1-byte memory tier; `stored`: paths fetched (200) and flushed to their files first. */
async function diskEdge(t: TestContext, o: TestOrigin, extra: Record<string, unknown> = {}, stored: readonly string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-fast-'));
  const edge = await startTestEdge(t, {
    zones: [{ id: 'z', hosts: ['a.example'], origin: o.url, cors: { allowOrigins: [ORIGIN_OK], exposeHeaders: ['x-origin'] } }],
    cache: { disk: { path: dir }, memory: { maxBytes: 1 }, maxObjectBytes: 8 * 1024 * 1024 }, ...extra,
  } as never);
  t.after(async () => { await edge.close(1000); await rm(dir, { recursive: true, force: true }); });
  for (const p of stored) assert.equal((await send(`${edge.base}${p}`, { headers: { host: 'a.example' } })).status, 200);
  if (stored.length > 0) await (edge.store as DiskStore).flush();
  return edge;
}

/** Holds every disk-tier read's answer until `release` (a read in flight, for as long as a test needs). */
function holdReads(t: TestContext): { started: Promise<void>; release(): void; reads(): number } {
  const real = DiskBody.prototype.readInto;
  let n = 0;
  let onStart!: () => void;
  const started = new Promise<void>((r) => { onStart = r; });
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  DiskBody.prototype.readInto = function (this: DiskBody, buf, at, done) {
    n++;
    onStart();
    real.call(this, buf, at, (err) => { void gate.then(() => done(err)); });
  };
  t.after(() => { DiskBody.prototype.readInto = real; });
  return { started, release: open, reads: () => n };
}

const HEADS = [
  'GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n',
  'HEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\n',
  `GET /a HTTP/1.1\r\nHost: a.example\r\nOrigin: ${ORIGIN_OK}\r\n\r\n`,
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: "v1"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: "other"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-Match: "nope"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nRange: bytes=0-3\r\n\r\n',
  'GET /a HTTP/1.0\r\nHost: a.example\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
  'GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n',
  // Pipelined: disk hits of two URLs, a HEAD, the large body node:http streams, a miss node:http answers, a hit again.
  `GET /a HTTP/1.1\r\nHost: a.example\r\n\r\nGET /b HTTP/1.1\r\nHost: a.example\r\nOrigin: ${ORIGIN_OK}\r\n\r\nHEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\nGET /a HTTP/1.1\r\nHost: a.example\r\n\r\nGET /big HTTP/1.1\r\nHost: a.example\r\n\r\nGET /nostore HTTP/1.1\r\nHost: a.example\r\n\r\nGET /b HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`,
];

test('disk-tier hits on the fast path: the same bytes as node:http for GET, HEAD, conditionals, CORS, pipelining; counted alike', async (t) => {
  const o = await origin(t);
  const fast = await diskEdge(t, o, {}, ['/a', '/b', '/big']);
  const slow = await diskEdge(t, o, { fastPath: false }, ['/a', '/b', '/big']);
  const before = await metric(fast, 'edgecache_fast_path_answers_total');
  await assertSameAnswers(fast.edge.port, slow.edge.port, HEADS, 3000);
  const pipelined = await exchange(fast.edge.port, HEADS.at(-1)!, { waitMs: 3000, headAt: (i) => i === 2 });
  assert.deepEqual(pipelined.responses.map((r) => r.body.length), [102400, 102400, 0, 102400, 300 * 1024, 3, 102400]);
  assert.ok(pipelined.responses[0]!.body.equals(bodyOf('/a')) && pipelined.responses[1]!.body.equals(bodyOf('/b')) && pipelined.responses[6]!.body.equals(bodyOf('/b')));
  // GET, HEAD, the 304, If-None-Match "other", HTTP/1.0, close, and four of the pipelined (the rest are node:http's).
  assert.ok(await metric(fast, 'edgecache_fast_path_answers_total') - before >= 10, 'disk-tier hits answered on the fast path');
  for (const s of ['HIT', 'MISS', 'DYNAMIC']) {
    assert.equal(await metric(fast, 'edgecache_requests_total', `cache_status="${s}"`), await metric(slow, 'edgecache_requests_total', `cache_status="${s}"`), s);
  }
  assert.equal(o.requests.filter((r) => r.url === '/a').length, 2, 'one fill of /a per edge: every other answer from its file');
  assert.equal((fast.store as DiskStore).diskStats().memoryBytes, 0, 'nothing was kept in memory');
});

test('disk-tier fast hit: requests behind a read in flight wait for it and are answered in order, also after a half-close', async (t) => {
  const o = await origin(t);
  const edge = await diskEdge(t, o, {}, ['/a', '/b']);
  const hold = holdReads(t);
  // The first request alone, the others (and the FIN) arriving while its body is read.
  const heads = ['GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: a.example\r\n\r\nHEAD /b HTTP/1.1\r\nHost: a.example\r\n\r\n', 'GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n'];
  const answer = exchange(edge.edge.port, heads, { waitMs: 5000, gapMs: 20, end: true, headAt: (i) => i === 2 });
  await hold.started;
  await new Promise((r) => setTimeout(r, 100)); // the other requests have arrived (and the FIN) while /a is read
  assert.equal(hold.reads(), 1, 'nothing behind the read was answered yet');
  hold.release();
  const r = await answer;
  assert.equal(r.responses.length, 4);
  assert.ok(r.responses.every((x) => x.status === 200 && x.headers['cf-cache-status']?.[0] === 'HIT'));
  assert.ok(r.responses[0]!.body.equals(bodyOf('/a')) && r.responses[1]!.body.equals(bodyOf('/b')) && r.responses[3]!.body.equals(bodyOf('/a')));
  assert.equal(r.responses[2]!.body.length, 0);
  assert.ok(r.closed, 'the half-closed connection ends once the answers are out');
});

test('disk-tier fast hit: a purge while the body is read means the purged body is not served (node:http answers a miss)', async (t) => {
  let version = 1;
  const o = await origin(t, () => version);
  const edge = await diskEdge(t, o);
  const get = () => send(`${edge.base}/p`, { headers: { host: 'a.example' } });
  assert.equal((await get()).headers['cf-cache-status'], 'MISS');
  await (edge.store as DiskStore).flush();
  const hit = await get();
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.ok(hit.raw.equals(bodyOf('/p', 1)));

  const hold = holdReads(t);
  const fastBefore = await metric(edge, 'edgecache_fast_path_answers_total');
  const pending = get();
  await hold.started;
  version = 2;
  const purged = await purge(edge, 'z', { files: ['http://a.example/p'] });
  assert.equal(purged.status, 200);
  hold.release();
  const r = await pending;
  assert.equal(r.headers['cf-cache-status'], 'MISS', 'answered after the purge: not from the purged variant');
  assert.ok(r.raw.equals(bodyOf('/p', 2)), 'the body fetched after the purge');
  assert.equal(await metric(edge, 'edgecache_fast_path_answers_total'), fastBefore, 'declined by the fast path');
  assert.equal(o.requests.filter((x) => x.url === '/p').length, 2);
});

test('disk-tier fast hit: hits on one file while it is read share the read, each with its own head; the buffer is reused safely after', async (t) => {
  const o = await origin(t);
  const edge = await diskEdge(t, o, {}, ['/a', '/b']);
  const hold = holdReads(t);
  const get = (path: string, headers: Record<string, string> = {}) => send(`${edge.base}${path}`, { headers: { host: 'a.example', ...headers } });
  const pending = [get('/a'), get('/a', { origin: ORIGIN_OK }), get('/a', { 'if-none-match': '"other"' })];
  await hold.started;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(hold.reads(), 1, 'one read for the three hits');
  hold.release();
  const rs = await Promise.all(pending);
  for (const r of rs) { assert.equal(r.headers['cf-cache-status'], 'HIT'); assert.ok(r.raw.equals(bodyOf('/a'))); }
  assert.equal(rs[1]!.headers['access-control-allow-origin'], ORIGIN_OK);
  assert.equal(rs[0]!.headers['access-control-allow-origin'], undefined);
  assert.equal(new Set(rs.map((r) => r.headers['x-request-id'])).size, 3);
  // The pooled buffer, given back, holds the next body read into it, not the old one.
  for (const p of ['/b', '/a', '/b']) assert.ok((await get(p)).raw.equals(bodyOf(p)), p);
});

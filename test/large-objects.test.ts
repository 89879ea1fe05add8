// Objects past 4 GiB: Content-Length, file offsets and range arithmetic stay exact 53-bit integers (never 32-bit),
// shown with a sparse 5 GiB body file served from the disk tier and a streamed fill that declares 5 GiB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge } from './helpers/http.js';
import { answerRange } from '../src/cache/policy/range.js';
import { primaryKey } from '../src/cache/key.js';
import { bodyPath, DiskBody } from '../src/storage/disk-body.js';
import type { DiskStore } from '../src/storage/disk.js';
import { until } from './helpers/until.js';

const GiB = 1024 * 1024 * 1024;
const LEN = 5 * GiB + 123;           // past 2^32, and odd
const AT = 4 * GiB + 7;               // a marker past the 32-bit boundary
const MARK = Buffer.from('past-four-gibibytes');
const TAIL = Buffer.from('the-last-bytes');

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; complete: boolean }

function get(url: string, headers: Record<string, string> = {}, method = 'GET', stopAfter = Infinity): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { host: 'cdn.example.com', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let ended = false;
      const done = (): void => { if (!ended) { ended = true; resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }); } };
      res.on('data', (c: Buffer) => { chunks.push(c); n += c.length; if (n >= stopAfter) { done(); req.destroy(); } });
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    req.on('error', (err) => { if (stopAfter === Infinity) reject(err); });
    req.end();
  });
}

test('range arithmetic on a 5 GiB length: offsets past 2^32 are exact in Content-Range and Content-Length', () => {
  const stored = { status: 200, headers: { 'content-length': String(LEN) }, length: LEN };
  const one = answerRange('GET', { range: `bytes=${AT}-${AT + MARK.length - 1}` }, stored);
  assert.equal(one.kind, 'partial');
  if (one.kind !== 'partial') return;
  assert.deepEqual(Object.fromEntries(one.headers), { 'content-range': `bytes ${AT}-${AT + MARK.length - 1}/${LEN}`, 'content-length': String(MARK.length) });
  assert.deepEqual(one.pieces, [{ start: AT, end: AT + MARK.length - 1 }]);
  const open = answerRange('GET', { range: `bytes=${4 * GiB}-` }, stored);
  assert.ok(open.kind === 'partial' && open.headers.some(([n, v]) => n === 'content-length' && v === String(GiB + 123)), 'an open range past 4 GiB');
  const suffix = answerRange('GET', { range: 'bytes=-10' }, stored);
  assert.ok(suffix.kind === 'partial' && suffix.headers.some(([n, v]) => n === 'content-range' && v === `bytes ${LEN - 10}-${LEN - 1}/${LEN}`));
  const whole = answerRange('GET', { range: `bytes=0-${2 ** 60}` }, stored);
  assert.ok(whole.kind === 'partial' && whole.headers.some(([n, v]) => n === 'content-length' && v === String(LEN)), 'a huge last-pos is clamped, not wrapped');
  const past = answerRange('GET', { range: `bytes=${LEN}-` }, stored);
  assert.equal(past.kind, 'unsatisfiable');
});

test('a 5 GiB body on disk (a sparse file): HEAD, ranges past 4 GiB, a multipart range and the suffix are read at their offsets', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-large-'));
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', 'content-length': '5' });
    res.end('small');
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: { disk: { path: dir }, memory: { maxBytes: 1 }, maxObjectBytes: 16 * GiB } });
  // Registered after the edge's own close (hooks run in order): the directory goes once the edge is stopped.
  t.after(() => rm(dir, { recursive: true, force: true }));
  const url = `${edge.base}/huge.bin`;
  // A first fill gives the variant's key and selector as the edge makes them; the 5 GiB body then replaces it.
  assert.equal((await get(url)).body.toString(), 'small');
  const store = edge.store as DiskStore;
  const [small] = store.variantsOf(primaryKey('default', 'cdn.example.com', '/huge.bin', ''));
  assert.ok(small, 'the small fill was stored under the key the test computes');
  const writer = store.beginFill()!;
  await writer.abort();
  const fh = await open(bodyPath(store.dir, writer.id), 'w');
  try {
    await fh.truncate(LEN);
    await fh.write(MARK, 0, MARK.length, AT);
    await fh.write(TAIL, 0, TAIL.length, LEN - TAIL.length);
  } finally { await fh.close(); }
  const v = store.insert({
    zoneId: small.zoneId, host: small.host, path: small.path, query: small.query, objectKey: small.objectKey, keyNames: small.keyNames,
    selector: small.selector, status: 200, headers: [['content-type', 'application/octet-stream'], ['content-length', String(LEN)]],
    body: Buffer.alloc(0), bodyFile: new DiskBody(writer.home, writer.id, LEN), freshness: small.freshness, tags: [],
  });
  assert.ok(v && v.bodyLength === LEN);

  const head = await get(url, {}, 'HEAD');
  assert.equal(head.headers['content-length'], String(LEN));
  assert.equal(head.headers['cf-cache-status'], 'HIT');
  const r = await get(url, { range: `bytes=${AT}-${AT + MARK.length - 1}` });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes ${AT}-${AT + MARK.length - 1}/${LEN}`);
  assert.equal(r.body.toString(), MARK.toString());
  const suffix = await get(url, { range: `bytes=-${TAIL.length}` });
  assert.equal(suffix.status, 206);
  assert.equal(suffix.body.toString(), TAIL.toString());
  const multi = await get(url, { range: `bytes=0-3,${AT}-${AT + 3}` });
  assert.equal(multi.status, 206);
  assert.match(String(multi.headers['content-type']), /^multipart\/byteranges/);
  assert.ok(multi.body.toString('latin1').includes(`content-range: bytes ${AT}-${AT + 3}/${LEN}`), 'the part past 4 GiB names its offsets');
  assert.ok(multi.body.includes(MARK.subarray(0, 4)), 'the part past 4 GiB holds the marker');
  // The whole body streams from its file (a few MiB read, then the client leaves): never read whole.
  const start = await get(url, {}, 'GET', 4 * 1024 * 1024);
  assert.equal(start.headers['content-length'], String(LEN));
  assert.ok(start.body.subarray(0, 1024).equals(Buffer.alloc(1024)), 'the sparse start reads as zeros');
  assert.equal(store.diskStats().memoryBytes, 0, 'the 5 GiB body never entered memory');
});

test('a fill that declares 5 GiB: the edge streams it with that exact Content-Length; cut after 8 MiB, it is never stored', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-large-'));
  const SENT = 8 * 1024 * 1024;
  const pattern = Buffer.from(Array.from({ length: SENT }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', 'content-length': String(LEN) });
    res.write(pattern, () => setTimeout(() => res.destroy(), 100));
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: { disk: { path: dir }, memory: { maxBytes: 1 }, maxObjectBytes: 16 * GiB } });
  // Registered after the edge's own close (hooks run in order): the directory goes once the edge is stopped.
  t.after(() => rm(dir, { recursive: true, force: true }));
  const url = `${edge.base}/declared.bin`;
  const first = await get(url);
  assert.equal(first.status, 200);
  assert.equal(first.headers['content-length'], String(LEN), 'the declared 5 GiB length, exactly');
  assert.equal(first.complete, false, 'closed mid-body: the length can no longer be met (RFC 9112 §6.3)');
  assert.ok(first.body.length > SENT / 2 && first.body.equals(pattern.subarray(0, first.body.length)), `streamed ${first.body.length} bytes as they came`);
  await until('the cut fill file is deleted', 5000, async () => (await readdir(join(dir, 'bodies'))).length === 0);
  const again = await get(url, {}, 'GET', 1024);
  assert.notEqual(again.headers['cf-cache-status'], 'HIT', 'a fill cut midway is never served as complete');
  assert.equal(origin.count('/declared.bin'), 2);
});

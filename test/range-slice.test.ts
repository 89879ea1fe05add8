// End to end through the edge with `cache.slice` (nginx's slice module): objects fetched and stored in aligned
// slices, any request answered by stitching them, one origin request per slice, purged with their URL
// (RFC 9111 §3.3, §3.4; RFC 9110 §14).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge, send, purge, metric } from './helpers/http.js';

const SLICE = 1024;
const LENGTH = 5000;
const make = (seed: number): Buffer => Buffer.from(Array.from({ length: LENGTH }, (_, i) => (i * 7 + seed) % 251));

interface Doc { body: Buffer; etag: string; ignoreRange?: boolean }

async function setup(t: TestContext, docs: Record<string, Doc>, disk?: string) {
  const origin = await startOrigin(t, (req, res) => {
    const doc = docs[req.url!];
    if (!doc) { res.writeHead(404, { 'content-length': '0', 'cache-control': 'max-age=60' }); res.end(); return; }
    const base = { 'cache-control': 'max-age=600', etag: doc.etag, 'content-type': 'application/octet-stream' };
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    const ifRange = req.headers['if-range'];
    if (!m || doc.ignoreRange || (ifRange !== undefined && ifRange !== doc.etag)) {
      res.writeHead(200, { ...base, 'content-length': String(doc.body.length) });
      res.end(doc.body);
      return;
    }
    const start = Number(m[1]), end = Math.min(Number(m[2]), doc.body.length - 1);
    if (start >= doc.body.length) { res.writeHead(416, { 'content-range': `bytes */${doc.body.length}` }); res.end(); return; }
    res.writeHead(206, { ...base, 'content-range': `bytes ${start}-${end}/${doc.body.length}`, 'content-length': String(end - start + 1) });
    res.end(doc.body.subarray(start, end + 1));
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: disk ? { slice: SLICE, disk: { path: disk }, memory: { maxBytes: 1 } } : { slice: SLICE } });
  const ranges = (path: string) => origin.requests.filter((r) => r.url === path).map((r) => r.headers.range);
  return { origin, edge, ranges };
}

interface Got { status: number; headers: IncomingHttpHeaders; body: Buffer; complete: boolean }

/** One request that also reports a cut body (the connection closed before the declared length). */
function fetchRaw(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const done = (): void => { if (!settled) { settled = true; resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }); } };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('error', reject);
    req.end();
  });
}

test('a whole GET is fetched slice by slice and stitched; the next one is a hit from the slices', async (t) => {
  const docs = { '/v': { body: make(1), etag: '"v1"' } };
  const { edge, ranges } = await setup(t, docs);
  const r = await fetchRaw(`${edge.base}/v`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(LENGTH));
  assert.ok(r.complete);
  assert.ok(r.body.equals(docs['/v'].body));
  assert.deepEqual(ranges('/v'), ['bytes=0-1023', 'bytes=1024-2047', 'bytes=2048-3071', 'bytes=3072-4095', 'bytes=4096-5119']);
  const again = await fetchRaw(`${edge.base}/v`);
  assert.equal(again.headers['cf-cache-status'], 'HIT');
  assert.ok(again.body.equals(docs['/v'].body));
  assert.equal(ranges('/v').length, 5, 'no origin request for a stored object');
});

test('a range asks only for its slices (and the first, which gives the length and fields)', async (t) => {
  const docs = { '/r': { body: make(2), etag: '"r1"' } };
  const { origin, edge, ranges } = await setup(t, docs);
  const r = await fetchRaw(`${edge.base}/r`, { range: 'bytes=2000-2100' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 2000-2100/${LENGTH}`);
  assert.ok(r.body.equals(docs['/r'].body.subarray(2000, 2101)));
  assert.deepEqual(ranges('/r'), ['bytes=0-1023', 'bytes=1024-2047', 'bytes=2048-3071']);
  assert.equal(r.headers.etag, '"r1"');
  // If-Range on the later slices carries the first slice's strong validator (RFC 9110 §13.1.5).
  assert.deepEqual(origin.requests.map((q) => q.headers['if-range']), [undefined, '"r1"', '"r1"']);
  const suffix = await fetchRaw(`${edge.base}/r`, { range: 'bytes=-10' });
  assert.ok(suffix.body.equals(docs['/r'].body.subarray(LENGTH - 10)));
  const multi = await fetchRaw(`${edge.base}/r`, { range: 'bytes=0-9,4000-4009' });
  assert.match(String(multi.headers['content-type']), /^multipart\/byteranges/);
  assert.ok(multi.body.includes(docs['/r'].body.subarray(4000, 4010)));
  const bad = await fetchRaw(`${edge.base}/r`, { range: 'bytes=9999-' });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${LENGTH}`);
  const ignored = await fetchRaw(`${edge.base}/r`, { range: 'bytes=9-1' });
  assert.equal(ignored.status, 200, 'an invalid Range is ignored (RFC 9110 §14.2)');
  assert.equal(ignored.body.length, LENGTH);
  const head = await fetchRaw(`${edge.base}/r`, { range: 'bytes=0-1' }, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(LENGTH));
  assert.equal(head.body.length, 0);
});

test('concurrent clients: one origin request per slice', async (t) => {
  const docs = { '/c': { body: make(3), etag: '"c1"' } };
  const { edge, ranges } = await setup(t, docs);
  const all = await Promise.all(Array.from({ length: 8 }, (_, i) => fetchRaw(`${edge.base}/c`, i % 2 ? { range: 'bytes=1000-3000' } : {})));
  for (const r of all) assert.ok(r.complete);
  assert.ok(all[0]!.body.equals(docs['/c'].body));
  assert.ok(all[1]!.body.equals(docs['/c'].body.subarray(1000, 3001)));
  assert.equal(ranges('/c').length, 5, `slices asked: ${ranges('/c').join(' ')}`);
  assert.equal(new Set(ranges('/c')).size, 5);
});

test('slices are counted by the store, and a purge of the URL removes every one', async (t) => {
  const docs = { '/p': { body: make(4), etag: '"p1"' } };
  const { edge, ranges } = await setup(t, docs);
  await fetchRaw(`${edge.base}/p`);
  assert.equal(await metric(edge, 'edgecache_variants'), 5);
  assert.equal(await metric(edge, 'edgecache_store_bytes'), LENGTH);
  assert.equal((await purge(edge, 'default', { files: [`${edge.base}/p`] })).status, 200);
  const after = await fetchRaw(`${edge.base}/p`, { range: 'bytes=4500-4501' });
  assert.notEqual(after.headers['cf-cache-status'], 'HIT');
  assert.deepEqual(ranges('/p').slice(5), ['bytes=0-1023', 'bytes=4096-5119']);
  assert.equal(await metric(edge, 'edgecache_variants'), 2);
  await purge(edge, 'default', { hosts: ['127.0.0.1'] });
  assert.equal(await metric(edge, 'edgecache_variants'), 0);
});

test('with a disk tier, slices live on disk and are read back from it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-slices-'));
  const docs = { '/d': { body: make(8), etag: '"d1"' } };
  const { edge, ranges } = await setup(t, docs, dir);
  // Registered after the edge's own close (hooks run in order): the directory goes once the edge is stopped.
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await fetchRaw(`${edge.base}/d`);
  assert.ok(first.body.equals(docs['/d'].body));
  const hit = await fetchRaw(`${edge.base}/d`, { range: 'bytes=1000-4999' });
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.ok(hit.body.equals(docs['/d'].body.subarray(1000)));
  const whole = await fetchRaw(`${edge.base}/d`);
  assert.ok(whole.body.equals(docs['/d'].body));
  assert.equal(ranges('/d').length, 5);
});

test('an origin that ignores Range: its 200 is relayed and stored whole', async (t) => {
  const docs = { '/i': { body: make(5), etag: '"i1"', ignoreRange: true } };
  const { edge, ranges } = await setup(t, docs);
  const r = await fetchRaw(`${edge.base}/i`, { range: 'bytes=10-19' });
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(docs['/i'].body));
  const hit = await send(`${edge.base}/i`, { headers: { range: 'bytes=10-19' } });
  assert.equal(hit.status, 206);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(ranges('/i').length, 1);
});

test('a slice of another representation ends the answer and the old slices go (RFC 9111 §3.4)', async (t) => {
  const docs: Record<string, Doc> = { '/e': { body: make(6), etag: '"e1"' } };
  const { edge, ranges } = await setup(t, docs);
  await fetchRaw(`${edge.base}/e`, { range: 'bytes=0-9' });
  docs['/e'] = { body: make(7), etag: '"e2"' };
  const cut = await fetchRaw(`${edge.base}/e`);
  assert.equal(cut.headers.etag, '"e1"');
  assert.equal(cut.complete, false, 'never bytes of two representations passed off as one');
  assert.ok(cut.body.length < LENGTH);
  const next = await fetchRaw(`${edge.base}/e`);
  assert.ok(next.complete);
  assert.equal(next.headers.etag, '"e2"');
  assert.ok(next.body.equals(docs['/e']!.body));
  assert.equal(ranges('/e')[2], 'bytes=0-1023');
});

test('an unknown URL: the origin\'s 404 is relayed', async (t) => {
  const { edge } = await setup(t, {});
  const r = await fetchRaw(`${edge.base}/none`);
  assert.equal(r.status, 404);
});

test('a request that asks for validation (no-cache) is not answered from stored slices (RFC 9111 §5.2.1.4)', async (t) => {
  const docs: Record<string, Doc> = { '/n': { body: make(9), etag: '"n1"' }, '/empty': { body: Buffer.alloc(0), etag: '"z"' } };
  const { origin, ranges } = await setup(t, docs);
  // A zone that honours request directives (the default ignores them for anonymous requests, as Cloudflare does).
  const edge = await startTestEdge(t, { cache: { slice: SLICE }, zones: [{ id: 'default', hosts: ['*'], origin: origin.url, ignoreRequestCacheControl: false }] });
  await fetchRaw(`${edge.base}/n`, { range: 'bytes=0-9' });
  const r = await fetchRaw(`${edge.base}/n`, { range: 'bytes=0-9', 'cache-control': 'no-cache' });
  assert.notEqual(r.headers['cf-cache-status'], 'HIT');
  assert.equal(ranges('/n').length, 2);
  assert.equal((await fetchRaw(`${edge.base}/n`, { range: 'bytes=0-9' })).headers['cf-cache-status'], 'HIT');
  // An empty object has no slice 0 (the origin answers 416): it is fetched whole.
  const empty = await fetchRaw(`${edge.base}/empty`);
  assert.equal(empty.status, 200);
  assert.equal(empty.body.length, 0);
});

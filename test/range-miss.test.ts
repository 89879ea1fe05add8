// End to end through the edge: Range requests on a miss (RFC 9111 §3.3, §3.4; RFC 9110 §14). A range from byte 0
// fills the cache with one whole fetch and is answered as the bytes arrive; other ranges are forwarded and kept as
// pieces, served from them, completed with only the missing bytes, and purged with their URL.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge, send, purge, metric } from './helpers/http.js';
import { until } from './helpers/until.js';

const BODY = Buffer.from(Array.from({ length: 200 }, (_, i) => String.fromCharCode(48 + (i % 43))).join(''));

interface Doc { body: Buffer; etag?: string; cc?: string; ignoreRange?: boolean }

/** Answers one Range spec (and If-Range by strong ETag) as an origin server does; 416 when unsatisfiable. */
function answerRanged(req: IncomingMessage, res: ServerResponse, doc: Doc): void {
  const base: Record<string, string> = { 'cache-control': doc.cc ?? 'max-age=600', 'content-type': 'text/plain' };
  if (doc.etag) base.etag = doc.etag;
  const ifRange = req.headers['if-range'];
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
  const len = doc.body.length;
  if (!m || doc.ignoreRange || (ifRange !== undefined && ifRange !== doc.etag)) {
    res.writeHead(200, { ...base, 'content-length': String(len) });
    res.end(doc.body);
    return;
  }
  let start = m[1] === '' ? len - Number(m[2]) : Number(m[1]);
  let end = m[1] === '' || m[2] === '' ? len - 1 : Math.min(Number(m[2]), len - 1);
  start = Math.max(0, start);
  if (start >= len) { res.writeHead(416, { ...base, 'content-range': `bytes */${len}` }); res.end(); return; }
  end = Math.max(end, start);
  res.writeHead(206, { ...base, 'content-range': `bytes ${start}-${end}/${len}`, 'content-length': String(end - start + 1) });
  res.end(doc.body.subarray(start, end + 1));
}

async function setup(t: TestContext, docs: Record<string, Doc>, disk?: string) {
  const origin = await startOrigin(t, (req, res) => {
    const doc = docs[req.url!];
    if (!doc) { res.writeHead(404, { 'content-length': '0' }); res.end(); return; }
    answerRanged(req, res, doc);
  });
  const edge = await startTestEdge(t, disk ? { origin: origin.url, cache: { disk: { path: disk }, memory: { maxBytes: 1 } } } : { origin: origin.url });
  const get = (path: string, headers: Record<string, string> = {}) => send(`${edge.base}${path}`, { headers });
  return { origin, edge, get };
}

const slice = (a: number, b: number): string => BODY.subarray(a, b + 1).toString();

test('bytes=0-N on a miss: one whole fetch without Range, answered from the fill as bytes arrive (RFC 9110 §14.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-14.2: a cache may answer a range from the whole representation.
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const origin = await startOrigin(t, async (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(BODY.length), etag: '"w"' });
    res.write(BODY.subarray(0, 50));
    await held; // the rest only after the client has had its range: the 206 cannot have waited for the fill
    res.end(BODY.subarray(50));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const r = await send(`${edge.base}/v`, { headers: { range: 'bytes=0-9' } });
  assert.equal(r.status, 206);
  assert.equal(r.body, slice(0, 9));
  assert.equal(r.headers['content-range'], `bytes 0-9/${BODY.length}`);
  assert.equal(r.headers['content-length'], '10');
  release();
  assert.equal(origin.requests[0]!.headers.range, undefined, 'the whole object is fetched');
  // The fill went on after the client's range ended: the next request (any range) is a hit.
  let hit!: Awaited<ReturnType<typeof send>>;
  await until('the fill is stored: a range is a HIT', 1000, async () => {
    hit = await send(`${edge.base}/v`, { headers: { range: 'bytes=150-' } });
    return hit.headers['cf-cache-status'] === 'HIT';
  });
  assert.equal(hit.body, slice(150, BODY.length - 1));
  assert.equal(origin.count('/v'), 1);
});

test('a Range from byte 0 joined by concurrent requests: one origin fetch, every client its own answer', async (t) => {
  const { origin, edge } = await setup(t, { '/c': { body: BODY, etag: '"c"' } });
  const asks = ['bytes=0-', 'bytes=0-0', 'bytes=0-3,150-152', ''];
  const rs = await Promise.all(asks.map((a) => send(`${edge.base}/c`, { headers: a ? { range: a } : {} })));
  assert.equal(rs[0]!.status, 206);
  assert.equal(rs[0]!.body, BODY.toString());
  assert.equal(rs[1]!.body, '0');
  assert.match(String(rs[2]!.headers['content-type']), /^multipart\/byteranges/);
  assert.ok(rs[2]!.body.includes(slice(0, 3)) && rs[2]!.body.includes(slice(150, 152)));
  assert.equal(rs[3]!.status, 200);
  assert.equal(rs[3]!.body, BODY.toString());
  assert.equal(origin.count('/c'), 1);
});

test('a suffix range on a miss is forwarded and its 206 kept as a piece, then served from cache (RFC 9111 §3.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.3: an incomplete response may be stored and used for ranges within it.
  const { origin, get } = await setup(t, { '/s': { body: BODY, etag: '"s1"' } });
  const first = await get('/s', { range: 'bytes=-20' });
  assert.equal(first.status, 206);
  assert.equal(first.body, slice(180, 199));
  assert.equal(origin.requests[0]!.headers.range, 'bytes=-20', 'the client range is forwarded');
  const again = await get('/s', { range: 'bytes=-20' });
  assert.equal(again.status, 206);
  assert.equal(again.headers['cf-cache-status'], 'HIT');
  assert.equal(again.headers['content-range'], `bytes 180-199/${BODY.length}`);
  assert.equal(again.body, slice(180, 199));
  assert.equal(again.headers.etag, '"s1"');
  assert.equal(again.headers['edgecache-pieces'], undefined, 'the internal field stays internal');
  const inner = await get('/s', { range: 'bytes=185-189' });
  assert.equal(inner.headers['cf-cache-status'], 'HIT');
  assert.equal(inner.body, slice(185, 189));
  const beyond = await get('/s', { range: 'bytes=500-' });
  assert.equal(beyond.status, 416, 'unsatisfiable against the stored complete length');
  assert.equal(beyond.headers['content-range'], `bytes */${BODY.length}`);
  assert.equal(origin.count('/s'), 1);
});

test('a 206 whose body length disagrees with its Content-Range is relayed, never kept as a piece (RFC 9110 §14.4)', async (t) => {
  // The shape of cache-tests' partial-store-* fixtures: Content-Range 4-9 names 6 bytes, the body has 5.
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(206, { 'cache-control': 'max-age=3600', 'content-range': 'bytes 4-9/10', 'content-length': '5' });
    res.end('01234');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const first = await send(`${edge.base}/bad`, { headers: { range: 'bytes=-5' } });
  assert.equal(first.status, 206);
  assert.equal(first.body, '01234', 'relayed as the origin sent it');
  assert.doesNotMatch(String(first.headers['cache-status']), /stored/, 'Cache-Status does not claim it was stored');
  const again = await send(`${edge.base}/bad`, { headers: { range: 'bytes=-5' } });
  assert.notEqual(again.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/bad'), 2, 'nothing was kept to answer from');
});

test('bytes outside the pieces: only the missing span is asked for, with If-Range, and combined (RFC 9111 §3.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.4 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
  const { origin, get } = await setup(t, { '/m': { body: BODY, etag: '"m1"' } });
  await get('/m', { range: 'bytes=100-149' });
  const r = await get('/m', { range: 'bytes=120-169' });
  assert.equal(r.status, 206);
  assert.equal(r.body, slice(120, 169));
  assert.equal(r.headers['content-range'], `bytes 120-169/${BODY.length}`);
  assert.equal(origin.requests[1]!.headers.range, 'bytes=150-169');
  assert.equal(origin.requests[1]!.headers['if-range'], '"m1"');
  const both = await get('/m', { range: 'bytes=100-169' });
  assert.equal(both.headers['cf-cache-status'], 'HIT');
  assert.equal(both.body, slice(100, 169));
  // A whole GET with one gap left on each side needs more than one span: the ordinary whole fetch answers it.
  const whole = await get('/m');
  assert.equal(whole.status, 200);
  assert.equal(whole.body, BODY.toString());
  assert.equal(origin.requests[2]!.headers.range, undefined);
  assert.equal(origin.count('/m'), 3);
});

test('a whole GET completes stored pieces with one range request; the result is stored whole (RFC 9111 §3.4)', async (t) => {
  const { origin, get } = await setup(t, { '/w': { body: BODY, etag: '"w1"' } });
  await get('/w', { range: 'bytes=60-' });
  const full = await get('/w');
  assert.equal(full.status, 200);
  assert.equal(full.body, BODY.toString());
  assert.equal(full.headers['content-length'], String(BODY.length));
  assert.equal(origin.requests[1]!.headers.range, 'bytes=0-59');
  const hit = await get('/w');
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.body, BODY.toString());
  assert.equal(origin.count('/w'), 2);
});

test('a changed validator: the origin answers If-Range with the new whole 200, which replaces the pieces', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5 (If-Range false: the whole representation)
  const docs: Record<string, Doc> = { '/e': { body: BODY, etag: '"e1"' } };
  const { origin, get } = await setup(t, docs);
  await get('/e', { range: 'bytes=100-119' });
  const next = Buffer.from(BODY.toString().toUpperCase().replace(/[0-9]/g, 'x'));
  docs['/e'] = { body: next, etag: '"e2"' };
  const r = await get('/e', { range: 'bytes=110-129' });
  assert.equal(origin.requests[1]!.headers['if-range'], '"e1"');
  assert.equal(r.status, 200, 'the new representation, whole (never bytes of two versions)');
  assert.equal(r.body, next.toString());
  const hit = await get('/e', { range: 'bytes=100-119' });
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.body, next.subarray(100, 120).toString());
  assert.equal(hit.headers.etag, '"e2"');
});

test('pieces with weak validators are never combined; pieces without any validator are (RFC 9111 §3.4)', async (t) => {
  const { origin, get } = await setup(t, { '/weak': { body: BODY, etag: 'W/"k"' }, '/none': { body: BODY } });
  await get('/weak', { range: 'bytes=10-19' });
  const weak = await get('/weak', { range: 'bytes=15-24' });
  assert.equal(weak.body, slice(15, 24));
  assert.equal(origin.requests[1]!.headers['if-range'], undefined, 'a weak tag is never sent as If-Range');
  // The new piece replaced the old one: 10-14 is no longer held.
  await get('/weak', { range: 'bytes=10-14' });
  assert.equal(origin.count('/weak'), 3);
  await get('/none', { range: 'bytes=10-19' });
  const none = await get('/none', { range: 'bytes=15-24' });
  assert.equal(none.body, slice(15, 24));
  const combined = await get('/none', { range: 'bytes=10-24' });
  assert.equal(combined.headers['cf-cache-status'], 'HIT');
  assert.equal(combined.body, slice(10, 24));
  assert.equal(origin.count('/none'), 2);
});

test('an origin that ignores Range: its 200 goes to the client and is stored complete', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-14.2 (a server MAY ignore Range)
  const { origin, get } = await setup(t, { '/i': { body: BODY, etag: '"i"', ignoreRange: true } });
  const r = await get('/i', { range: 'bytes=-10' });
  assert.equal(r.status, 200);
  assert.equal(r.body, BODY.toString());
  const hit = await get('/i', { range: 'bytes=-10' });
  assert.equal(hit.status, 206);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.body, slice(190, 199));
  assert.equal(origin.count('/i'), 1);
});

test('a purge of the URL, a tag or its host removes its pieces', async (t) => {
  const docs: Record<string, Doc> = { '/p': { body: BODY, etag: '"p"' } };
  const { origin, edge, get } = await setup(t, docs);
  await get('/p', { range: 'bytes=-10' });
  assert.equal((await get('/p', { range: 'bytes=-10' })).headers['cf-cache-status'], 'HIT');
  const p = await purge(edge, 'default', { files: [`${edge.base}/p`] });
  assert.equal(p.status, 200);
  const after = await get('/p', { range: 'bytes=-10' });
  assert.notEqual(after.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/p'), 2);
  await purge(edge, 'default', { purge_everything: true });
  assert.notEqual((await get('/p', { range: 'bytes=-10' })).headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/p'), 3);
});

test('bad Range values are ignored: a 200 with the whole body, on a miss and on a hit (RFC 9110 §14.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-14.2: an invalid ranges-specifier or another unit MAY be ignored.
  const { origin, get } = await setup(t, { '/b': { body: BODY, etag: '"b"' } });
  const bad = ['bytes=5-2', 'items=0-1', 'bytes=abc', 'bytes=', 'bytes=--1', 'bytes 0-1'];
  for (const [i, value] of bad.entries()) {
    const r = await get('/b', { range: value });
    assert.equal(r.status, 200, value);
    assert.equal(r.body, BODY.toString(), value);
    assert.equal(r.headers['content-range'], undefined, value);
    if (i === 0) assert.equal(origin.requests[0]!.headers.range, undefined, 'an ignored Range is not forwarded');
  }
  assert.equal(origin.count('/b'), 1);
});

test('unsatisfiable and edge ranges on a miss (RFC 9110 §14.1.2, §15.5.17)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
  const { origin, get } = await setup(t, { '/u': { body: BODY, etag: '"u"' }, '/z': { body: BODY, etag: '"z"' } });
  const r = await get('/u', { range: 'bytes=999-' });
  assert.equal(r.status, 416);
  assert.equal(r.headers['content-range'], `bytes */${BODY.length}`);
  // A 416 is not a piece: the next valid range is fetched.
  const ok = await get('/u', { range: 'bytes=199-' });
  assert.equal(ok.status, 206);
  assert.equal(ok.body, slice(199, 199));
  assert.equal(origin.count('/u'), 2);
  // From byte 0 with an end past the length: the whole body, clamped (§14.1.2).
  const z = await get('/z', { range: 'bytes=0-100000' });
  assert.equal(z.status, 206);
  assert.equal(z.headers['content-range'], `bytes 0-199/${BODY.length}`);
  assert.equal(z.body, BODY.toString());
  const z416 = await get('/z', { range: 'bytes=0-0,300-' });
  assert.equal(z416.status, 206);
  assert.equal(z416.body, '0');
});

test('HEAD and conditionals with pieces stored: HEAD ignores Range, If-None-Match gives 304 (RFC 9110 §13.2.2)', async (t) => {
  const { origin, get, edge } = await setup(t, { '/h': { body: BODY, etag: '"h"' } });
  await get('/h', { range: 'bytes=-10' });
  const nm = await get('/h', { range: 'bytes=-10', 'if-none-match': '"h"' });
  assert.equal(nm.status, 304);
  assert.equal(nm.body, '');
  const head = await send(`${edge.base}/h`, { method: 'HEAD', headers: { range: 'bytes=-10' } });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(origin.count('/h'), 2);
});

test('a client that leaves during a range answered from the fill does not stop the fill', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(BODY.length * 100) });
    let n = 0;
    const tick = (): void => { if (n++ < 100) { res.write(BODY); setTimeout(tick, 2); } else res.end(); };
    tick();
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/leave`, { headers: { range: 'bytes=0-' }, agent: false }, (res) => {
      res.once('data', () => { res.destroy(); resolve(); });
    });
    req.on('error', reject);
    req.end();
  });
  let hit!: Awaited<ReturnType<typeof send>>;
  await until('the fill went on after the client left: a range is a HIT', 2000, async () => {
    hit = await send(`${edge.base}/leave`, { headers: { range: 'bytes=-200' } });
    return hit.headers['cf-cache-status'] === 'HIT';
  });
  assert.equal(hit.body, BODY.toString());
  assert.equal(origin.count('/leave'), 1);
});

test('pieces on a disk tier: stored, combined and served from their files; counted by the store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-pieces-'));
  const { origin, edge, get } = await setup(t, { '/d': { body: BODY, etag: '"d1"' } }, dir);
  // Registered after the edge's own close (hooks run in order): the directory goes once the edge is stopped.
  t.after(() => rm(dir, { recursive: true, force: true }));
  await get('/d', { range: 'bytes=50-99' });
  assert.equal(await metric(edge, 'edgecache_variants'), 1);
  assert.equal(await metric(edge, 'edgecache_store_bytes'), 50);
  const more = await get('/d', { range: 'bytes=80-119' });
  assert.equal(more.body, slice(80, 119));
  const hit = await get('/d', { range: 'bytes=50-119' });
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.body, slice(50, 119));
  assert.equal(await metric(edge, 'edgecache_store_bytes'), 70, 'the combined piece replaced the first');
  assert.equal(origin.count('/d'), 2);
});

test('a missing span larger than a stream buffer is fetched, combined and completed whole', async (t) => {
  const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 13) % 256));
  const { origin, get } = await setup(t, { '/big': { body: big, etag: '"g"' } });
  await get('/big', { range: 'bytes=100000-' });
  const r = await get('/big', { range: 'bytes=50000-299999' });
  assert.equal(r.status, 206);
  assert.ok(r.raw.equals(big.subarray(50000)));
  assert.equal(origin.requests[1]!.headers.range, 'bytes=50000-99999');
  const whole = await get('/big');
  assert.ok(whole.raw.equals(big));
  assert.equal(origin.requests[2]!.headers.range, 'bytes=0-49999');
  const hit = await get('/big');
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/big'), 3);
});

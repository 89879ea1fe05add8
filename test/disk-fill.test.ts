// Fills streamed to the disk tier: clients stream the body as it arrives (those who join midway too, one origin fetch),
// a fill cut midway is never stored and its clients' connections close mid-body (RFC 9112 §6.3), a purge during a fill
// keeps it out of the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startOrigin, startTestEdge, purge, sleep } from './helpers/http.js';
import type { DiskStore } from '../src/storage/disk.js';

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; complete: boolean; firstByteAt: number }

/** A GET that reports what arrived, also when the connection closes before the end of the body. */
function get(url: string, onData?: (n: number) => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host: 'cdn.example.com' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let firstByteAt = 0;
      let n = 0;
      const done = (): void => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, firstByteAt });
      res.on('data', (c: Buffer) => { if (!firstByteAt) firstByteAt = Date.now(); chunks.push(c); n += c.length; onData?.(n); });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', () => {});
    });
    req.on('error', reject);
    req.end();
  });
}

const SIZE = 6 * 1024 * 1024;
const BODY = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 31) & 0xff));

async function setup(t: import('node:test').TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-fill-'));
  const edges: { close(graceMs?: number): Promise<void> }[] = [];
  t.after(async () => { for (const e of edges) await e.close(1000); await rm(dir, { recursive: true, force: true }); });
  let release: () => void = () => {};
  let cut = false;
  const gate = (): Promise<void> => new Promise((r) => { release = r; });
  const origin = await startOrigin(t, async (req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', 'content-length': String(SIZE) });
    const held = gate();
    res.write(BODY.subarray(0, 1024 * 1024));
    await held; // the rest only once the test says so: the fill is in progress meanwhile
    if (cut) { res.destroy(); return; }
    res.end(BODY.subarray(1024 * 1024));
  });
  const edge = await startTestEdge(t, { origin: origin.url, cache: { disk: { path: dir }, memory: { maxBytes: 1 }, maxObjectBytes: 64 * 1024 * 1024 } });
  edges.push(edge);
  return { dir, edge, origin, url: `${edge.base}/big.bin`, release: () => release(), cutNext: () => { cut = true; } };
}

test('a fill streams to its clients and its body file: first bytes before the origin finished, 20 joiners, one origin fetch', async (t) => {
  const { dir, edge, origin, url, release } = await setup(t);
  let sawFirst!: () => void;
  const first = new Promise<void>((r) => { sawFirst = r; });
  const leader = get(url, (n) => { if (n >= 512 * 1024) sawFirst(); });
  await first; // the origin has sent 1 MiB of 6 and waits: the client already has bytes
  assert.ok((await readdir(join(dir, 'bodies'))).some((n) => n.endsWith('.body.tmp')), 'the fill is written to its body file as it arrives');
  const joiners = Array.from({ length: 20 }, () => get(url));
  await sleep(200);
  release();
  const all = await Promise.all([leader, ...joiners]);
  for (const r of all) {
    assert.equal(r.status, 200);
    assert.ok(r.complete && r.body.equals(BODY), 'every client got the whole body');
  }
  assert.equal(origin.requests.length, 1, 'one origin fetch for 21 clients');
  const store = edge.store as DiskStore;
  await store.flush();
  const hit = await get(url);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.ok(hit.body.equals(BODY));
  assert.equal(store.diskStats().memoryBytes, 0, 'the body never entered the memory tier');
  assert.equal((await readdir(join(dir, 'bodies'))).length, 1);
});

test('a client of a fill gets the bytes the origin sent while the disk has not written them yet (not after the disk round trip)', async (t) => {
  // Every body-file write is held: the client must still get the first MiB the origin sent, from the chunks queued for
  // the file; once the writes go on, the fill completes and is stored as before.
  const { edge, origin, url, release } = await setup(t);
  const writer = (await import('../src/storage/body-writer.js')).BodyWriter.prototype;
  const append = writer.append;
  const held: (() => void)[] = [];
  let holding = true;
  writer.append = function (this: typeof writer, buf: Buffer, onWritten: () => void) {
    if (!holding) return append.call(this, buf, onWritten);
    held.push(() => append.call(this, buf, onWritten));
  };
  t.after(() => { writer.append = append; });
  let sawFirst!: () => void;
  const first = new Promise<void>((r) => { sawFirst = r; });
  const leader = get(url, (n) => { if (n >= 1024 * 1024) sawFirst(); });
  const timeout = sleep(5000).then(() => 'timeout');
  assert.notEqual(await Promise.race([first.then(() => 'got'), timeout]), 'timeout', 'the first MiB reached the client with every disk write held');
  assert.ok(held.length > 0, 'the writes were held');
  holding = false;
  for (const w of held.splice(0)) w();
  release();
  const r = await leader;
  assert.ok(r.complete && r.body.equals(BODY), 'the whole body');
  await (edge.store as DiskStore).flush();
  assert.equal((await get(url)).headers['cf-cache-status'], 'HIT');
  assert.equal(origin.requests.length, 1);
});

test('a fill cut midway is never stored: every client\'s connection closes mid-body, the next request is a miss', async (t) => {
  const { dir, edge, origin, url, release, cutNext } = await setup(t);
  let sawFirst!: () => void;
  const first = new Promise<void>((r) => { sawFirst = r; });
  const leader = get(url, (n) => { if (n >= 512 * 1024) sawFirst(); });
  await first;
  const joiner = get(url);
  await sleep(200);
  cutNext();
  release();
  for (const r of await Promise.all([leader, joiner])) {
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'closed before Content-Length was met');
    assert.ok(r.body.length < SIZE);
  }
  await (edge.store as DiskStore).flush();
  const again = get(url);
  await sleep(200);
  release();
  const r = await again;
  assert.equal(r.headers['cf-cache-status'], 'MISS');
  assert.equal(origin.requests.length, 2);
  assert.equal(r.complete, false, 'the origin cuts this one too');
  await sleep(100);
  assert.deepEqual((await readdir(join(dir, 'bodies'))).filter((n) => !n.endsWith('.tmp')), [], 'nothing of the cut fills is kept');
});

test('a purge during a fill keeps the fill out of the cache; its clients still get the body', async (t) => {
  const { edge, origin, url, release } = await setup(t);
  let sawFirst!: () => void;
  const first = new Promise<void>((r) => { sawFirst = r; });
  const leader = get(url, (n) => { if (n >= 512 * 1024) sawFirst(); });
  await first;
  assert.equal((await purge(edge, 'default', { files: ['http://cdn.example.com/big.bin'] })).status, 200);
  release();
  const r = await leader;
  assert.ok(r.complete && r.body.equals(BODY));
  await (edge.store as DiskStore).flush();
  const after = get(url);
  await sleep(100);
  release();
  assert.equal((await after).headers['cf-cache-status'], 'MISS', 'purged while it was fetched: not stored');
  assert.equal(origin.requests.length, 2);
});

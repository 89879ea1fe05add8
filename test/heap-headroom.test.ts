// The heap headroom floor (src/edge/heap-growth.ts) is held exactly while a large body streams through the edge: a
// fill to disk, a fill in memory, a relay too large to store (also when its client leaves midway), a passed request's
// large answer or upload, and never for a small body. A hold that leaked would keep the floor for the life of the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge } from './helpers/http.js';
import { until } from './helpers/until.js';
import { headroomHolds } from '../src/edge/heap-growth.js';

const MiB = 1024 * 1024;

/** An origin whose /big/<bytes> sends its first MiB, then the rest once `release()` is called. */
async function gatedOrigin(t: Parameters<typeof startOrigin>[0]) {
  let open: () => void = () => {};
  let gate = new Promise<void>((r) => { open = r; });
  const origin = await startOrigin(t, async (req, res) => {
    const size = Number(req.url!.split('/')[2]!.split('?')[0]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size), 'cache-control': 'max-age=600' });
    const first = Math.min(size, MiB);
    res.write(Buffer.alloc(first, 0x61));
    await gate;
    if (size > first) res.write(Buffer.alloc(size - first, 0x62));
    res.end();
  });
  return { origin, release: () => { open(); gate = new Promise<void>((r) => { open = r; }); } };
}

/** GET with the body read (or the connection dropped after `stopAfter` bytes); resolves with the bytes read. */
function get(url: string, stopAfter = Infinity, onFirst?: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => {
        if (n === 0) onFirst?.();
        n += c.length;
        if (n >= stopAfter) { req.destroy(); resolve(n); }
      });
      res.on('end', () => resolve(n));
      res.on('close', () => resolve(n)); // cut midway: the caller's length check says so, the test does not hang
    });
    req.on('error', (err) => { if (stopAfter === Infinity) reject(err); });
    req.end();
  });
}

async function holdsWhileStreaming(base: string, path: string, release: () => void, size: number, stopAfter = Infinity): Promise<void> {
  assert.equal(headroomHolds(), 0, 'no hold before the request');
  let first!: () => void;
  const firstByte = new Promise<void>((r) => { first = r; });
  const read = get(`${base}${path}`, stopAfter, first);
  await firstByte;
  assert.equal(headroomHolds(), 1, `${path}: held while the body streams`);
  release();
  const n = await read;
  if (stopAfter === Infinity) assert.equal(n, size);
  await until(`${path}: the hold is released`, 5000, () => headroomHolds() === 0);
}

test('a fill to the disk tier holds the headroom floor until it is stored', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-headroom-'));
  const { origin, release } = await gatedOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url, cache: { disk: { path: dir } } });
  // Registered after the edge's own close (hooks run in order): the directory goes once the edge is stopped.
  t.after(() => rm(dir, { recursive: true, force: true }));
  await holdsWhileStreaming(edge.base, '/big/3145728', release, 3 * MiB);
});

test('a fill in memory holds it; a small body never does', { timeout: 20_000 }, async (t) => {
  const { origin, release } = await gatedOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  await holdsWhileStreaming(edge.base, '/big/2097152', release, 2 * MiB);
  const small = get(`${edge.base}/big/65536`);
  assert.equal(await small, 65536); // all within the first MiB: the gate does not hold it
  assert.equal(headroomHolds(), 0);
});

test('a relay too large to store holds it, and lets go when its client leaves midway', { timeout: 20_000 }, async (t) => {
  const { origin, release } = await gatedOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url, cache: { maxObjectBytes: MiB } });
  await holdsWhileStreaming(edge.base, '/big/3145728', release, 3 * MiB);
  await holdsWhileStreaming(edge.base, '/big/4194304?leave', () => {}, 4 * MiB, 64 * 1024);
  release();
});

test('passed requests: a large answer (POST, and a HEAD declaring one) and a large upload hold it while they stream', { timeout: 20_000 }, async (t) => {
  let open: () => void = () => {};
  const gate = (): Promise<void> => new Promise<void>((r) => { open = r; });
  let gated = gate();
  const origin = await startOrigin(t, async (req, res) => {
    const size = Number(req.url!.split('/')[2]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    if (req.method === 'HEAD') { res.end(); return; }
    res.write(Buffer.alloc(Math.min(size, MiB), 0x61));
    await gated;
    if (size > MiB) res.write(Buffer.alloc(size - MiB, 0x62));
    res.end();
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const release = (): void => { open(); gated = gate(); };

  // The answer to a POST (passed: never cached) streams 3 MiB: held until it is through.
  assert.equal(headroomHolds(), 0);
  const answer = new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/p/3145728`, { method: 'POST', agent: false, headers: { 'content-length': '2' } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { if (n === 0) assert.equal(headroomHolds(), 1, 'held while the answer streams'); n += c.length; });
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end('hi');
  });
  await until('the answer started', 5000, () => headroomHolds() === 1);
  release();
  assert.equal(await answer, 3 * MiB);
  await until('released after the answer', 5000, () => headroomHolds() === 0);

  // A HEAD passed on (its origin declares 5 MiB, sends none): a hold, if any, does not outlive it.
  const head = await new Promise<number | undefined>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/p/5242880`, { method: 'HEAD', agent: false, headers: { 'cache-control': 'no-store' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(head, 200);
  await until('no hold after a HEAD', 5000, () => headroomHolds() === 0);

  // An upload of 2 MiB: held while it streams in, released once it is done.
  const upload = new Promise<number | undefined>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/p/10`, { method: 'PUT', agent: false, headers: { 'content-length': String(2 * MiB) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.write(Buffer.alloc(MiB, 0x63));
    void until('the upload is held', 5000, () => headroomHolds() === 1).then(() => req.end(Buffer.alloc(MiB, 0x64)), reject);
  });
  assert.equal(await upload, 200);
  await until('released after the upload', 5000, () => headroomHolds() === 0);
});

// Tests for OriginClient.fetch and its OriginBody: bytes held until the reader attaches, pause and resume, abort, failure.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OriginClient, type BodyConsumer } from './client.js';

async function origin(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<OriginClient> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = new OriginClient({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connectMs: 1000, headersMs: 2000, bodyMs: 5000 });
  t.after(async () => {
    await client.close(100);
    await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  });
  return client;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A reader collecting what it is given; `done` settles with the body or the failure. */
function collector(): BodyConsumer & { pieces: Buffer[]; done: Promise<Buffer> } {
  let ok!: (b: Buffer) => void;
  let fail!: (e: Error) => void;
  const pieces: Buffer[] = [];
  const done = new Promise<Buffer>((a, b) => { ok = a; fail = b; });
  return { pieces, done, data: (c) => { pieces.push(Buffer.from(c)); }, end: () => ok(Buffer.concat(pieces)), error: (e) => fail(e) };
}

const BIG = Buffer.alloc(1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7) & 0xff;

test('fetch: a body larger than what is held before the reader attaches arrives whole and in order when read late', { timeout: 10_000 }, async (t) => {
  const client = await origin(t, (_req, res) => { res.writeHead(200, { 'content-length': String(BIG.length), 'x-a': 'b' }); res.end(BIG); });
  const r = await client.fetch({ method: 'GET', path: '/', headers: {} });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-a'], 'b');
  await tick(100);
  const c = collector();
  r.body.attach(c);
  assert.ok((await c.done).equals(BIG));
});

test('fetch: pause() stops the pieces until resume(); the body still arrives whole', { timeout: 10_000 }, async (t) => {
  const client = await origin(t, (_req, res) => { res.writeHead(200, { 'content-length': String(BIG.length) }); res.end(BIG); });
  const r = await client.fetch({ method: 'GET', path: '/', headers: {} });
  const c = collector();
  const data = c.data;
  let paused = false;
  c.data = (chunk) => { data(chunk); if (!paused) { paused = true; r.body.pause(); } };
  r.body.attach(c);
  await tick(100);
  const seen = c.pieces.length;
  assert.ok(seen >= 1);
  await tick(100);
  assert.equal(c.pieces.length, seen, 'nothing while paused');
  assert.ok(Buffer.concat(c.pieces).length < BIG.length / 2, 'the origin was paced, not read to the end');
  r.body.resume();
  assert.ok((await c.done).equals(BIG));
});

test('fetch: destroy() mid-body aborts the origin request (its connection closes)', { timeout: 10_000 }, async (t) => {
  let closed!: () => void;
  const gone = new Promise<void>((r) => { closed = r; });
  const client = await origin(t, (req, res) => {
    req.socket.on('close', closed);
    res.writeHead(200, { 'content-length': '100000' });
    res.write('start');
  });
  const r = await client.fetch({ method: 'GET', path: '/', headers: {} });
  const c = collector();
  r.body.attach(c);
  r.body.destroy();
  await gone;
});

test('fetch: an origin that dies mid-body fails the reader; one that answers an invalid head fails the fetch', { timeout: 10_000 }, async (t) => {
  const client = await origin(t, (req, res) => {
    if (req.url === '/bad') { res.socket!.end('HTTP/1.1 600 Nope\r\ncontent-length: 0\r\n\r\n'); return; }
    res.writeHead(200, { 'content-length': '1000' });
    res.write('ten bytes!', () => res.destroy());
  });
  const r = await client.fetch({ method: 'GET', path: '/', headers: {} });
  const c = collector();
  r.body.attach(c);
  await assert.rejects(c.done);
  await assert.rejects(client.fetch({ method: 'GET', path: '/bad', headers: {} }), (e: { code?: string }) => e.code === 'ORIGIN_BAD_RESPONSE');
});

test('fetch: readable() gives the body as a stream for relays', { timeout: 10_000 }, async (t) => {
  const client = await origin(t, (_req, res) => { res.writeHead(200, { 'content-length': String(BIG.length) }); res.end(BIG); });
  const r = await client.fetch({ method: 'GET', path: '/', headers: {} });
  await tick(50);
  const chunks: Buffer[] = [];
  for await (const chunk of r.body.readable()) chunks.push(chunk as Buffer);
  assert.ok(Buffer.concat(chunks).equals(BIG));
});

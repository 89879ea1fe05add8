// Origin failures say what happened: a response head over the limit, a 101 nobody asked for and the
// edge's own bug each get their own code and message, against raw node:net origins that really do it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../src/observability/logger.js';
import { ORIGIN_MAX_HEAD_BYTES } from '../src/origin/client.js';
import { createAnswers } from '../src/edge/answers.js';
import { createMetrics } from '../src/observability/metrics.js';
import { MemoryStore } from '../src/storage/memory.js';
import { normalizeVaryValue } from '../src/cache/policy/index.js';
import { compileZones } from '../src/edge/zones.js';
import { validateConfig } from '../src/config/load.js';
import { ManualClock } from '../src/edge/clock.js';
import { send, startTestEdge } from './helpers/http.js';

/** A raw origin: after the request head arrives it writes `answer` and leaves the socket open (closed at the end). */
async function rawOrigin(t: TestContext, answer: string | Buffer): Promise<{ url: string; served: () => number }> {
  let served = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      served++;
      socket.write(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served };
}

/** A pino logger whose JSON lines land in `lines`. */
function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); cb(); } });
  return { logger: pino<never>({ level: 'info' }, stream) as unknown as Logger, lines };
}

test('a response head larger than the limit is ORIGIN_HEADERS_TOO_LARGE: 502 saying so, not "origin unreachable"', async (t) => {
  const big = `HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\nx-filler: ${'f'.repeat(ORIGIN_MAX_HEAD_BYTES + 1024)}\r\ncontent-length: 2\r\n\r\nok`;
  const origin = await rawOrigin(t, big);
  const edge = await startTestEdge(t, { origin: origin.url });
  const r = await send(`${edge.base}/huge-head`);
  assert.equal(r.status, 502);
  assert.equal(r.body, `edgecache: origin sent a response head larger than ${ORIGIN_MAX_HEAD_BYTES} bytes\n`);
  assert.match(String(r.headers['cache-status']), /detail=origin_headers_too_large/);
  assert.ok(origin.served() >= 1, 'the origin was asked');
  const again = await send(`${edge.base}/huge-head`);
  assert.equal(again.status, 502, 'nothing was stored');
});

test('a head just under the limit still goes through', async (t) => {
  // 300 bytes under: room for the fields the edge adds (cf-cache-status, Cache-Status, x-request-id) within the test
  // client's own 16 KiB head limit.
  const fits = `HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\nx-filler: ${'f'.repeat(ORIGIN_MAX_HEAD_BYTES - 300)}\r\ncontent-length: 2\r\n\r\nok`;
  const origin = await rawOrigin(t, fits);
  const edge = await startTestEdge(t, { origin: origin.url });
  const r = await send(`${edge.base}/fits`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
});

for (const [name, answer] of [
  ['with Upgrade fields', 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'],
  ['without Upgrade fields', 'HTTP/1.1 101 Switching Protocols\r\n\r\n'],
  ['followed by a final answer', 'HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'],
] as const) {
  test(`a 101 the edge did not ask for (${name}) is ORIGIN_UPGRADE: 502 saying so`, async (t) => {
    const origin = await rawOrigin(t, answer);
    const edge = await startTestEdge(t, { origin: origin.url });
    const r = await send(`${edge.base}/switch`);
    assert.equal(r.status, 502);
    assert.equal(r.body, 'edgecache: origin answered 101 Switching Protocols to a request that asked for no upgrade\n');
    assert.match(String(r.headers['cache-status']), /detail=origin_upgrade/);
    assert.equal((await send(`${edge.base}/again`)).status, 502, 'the next request is refused the same way: the edge keeps serving');
  });
}

test('an unreachable origin is still "origin unreachable"', async (t) => {
  const closed = createNetServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const edge = await startTestEdge(t, { origin: `http://127.0.0.1:${port}` });
  const r = await send(`${edge.base}/x`);
  assert.equal(r.status, 502);
  assert.match(r.body, /^edgecache: origin unreachable \(ECONNREFUSED\)/);
});

test('the edge\'s own bug on the fetch path is 500 "internal error", logged with its stack, never blamed on the origin', async (t) => {
  const { logger, lines } = captureLogger();
  const router = compileZones(validateConfig({ zones: [{ id: 'z', hosts: ['*'], origin: 'http://127.0.0.1:9' }] }, 'test'));
  t.after(() => router.close());
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const answers = createAnswers({ router, store, metrics: createMetrics(() => store.stats()), logger, maxObjectBytes: 1 << 20, clock: new ManualClock() });
  const server = createServer((_req, res) => {
    let bug: unknown;
    try { (undefined as unknown as { join(): void }).join(); } catch (err) { bug = err; }
    answers.originFailed(res, bug);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  const r = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  assert.equal(r.status, 500);
  assert.equal(r.body, 'edgecache: internal error\n');
  assert.doesNotMatch(r.body, /unreachable|join/, 'no internals in the answer');
  const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; stack?: string }).find((l) => l.level >= 50);
  assert.ok(logged, 'an error line was logged');
  assert.match(logged.stack ?? '', /TypeError[\s\S]*\n\s+at /, 'with its stack');
});

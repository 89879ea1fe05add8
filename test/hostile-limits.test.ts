// Resource limits of the public listener (config `limits`): each at its default and at a configured
// value, the content limit for chunked bodies, and 500 connections trickling their heads while a client is served.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metric, startTestEdge } from './helpers/http.js';
import { exchange, waitFor } from './helpers/raw-http.js';
import { validateConfig } from '../src/config/load.js';
import { createEdgeListener } from '../src/edge/listener.js';
import { createLogger } from '../src/observability/logger.js';
import { DEFAULT_LIMITS, MiB } from '../src/http/limits.js';

/** A request head of exactly `bytes` bytes (CRLFs included), padded with an X-Pad field. */
function headOf(bytes: number, path = '/h'): string {
  const start = `GET ${path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\nX-Pad: `;
  const end = '\r\n\r\n';
  return start + 'p'.repeat(bytes - start.length - end.length) + end;
}
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`;

/** An origin taking heads larger than the edge's limit (the edge adds forwarding fields), recording complete requests. */
async function bigHeadOrigin(t: TestContext) {
  const urls: string[] = [];
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => {
      urls.push(req.url!);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(`${req.method} ${req.url!.length} ${n}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, urls, count: (u: string) => urls.filter((x) => x === u).length };
}

async function setup(t: TestContext, limits?: Record<string, number>) {
  const origin = await bigHeadOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url, ...(limits ? { limits } : {}) });
  return { origin, edge, port: edge.edge.port };
}

test('defaults: the config and the listener carry the documented limits', (t) => {
  assert.deepEqual(validateConfig({}, 'test').limits, { ...DEFAULT_LIMITS });
  assert.deepEqual(DEFAULT_LIMITS, {
    maxHeaderBytes: 16 * 1024, maxUrlBytes: 8 * 1024, maxBodyBytes: 100 * MiB,
    headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, requestTimeoutMs: 300_000,
  });
  const server = createEdgeListener(() => {}, createLogger('silent'));
  t.after(() => server.close());
  assert.equal(server.headersTimeout, 10_000);
  assert.equal(server.requestTimeout, 300_000);
  assert.equal(server.keepAliveTimeout, 5_000);
  assert.throws(() => validateConfig({ limits: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } }, 'test'), /headersTimeoutMs/);
});

test('a handler that throws: 500 "internal error", the connection closed, counted through onInternalError, the listener goes on', async (t) => {
  let errors = 0;
  let calls = 0;
  const server = createEdgeListener((_req, res) => { if (++calls === 1) throw new Error('bug'); res.end('fine'); }, createLogger('silent'), DEFAULT_LIMITS, { onInternalError: () => { errors++; } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  const first = await exchange(port, get('/a'));
  assert.equal(first.responses[0]?.status, 500);
  assert.match(String(first.responses[0]?.body), /internal error/);
  assert.deepEqual(first.responses[0]?.headers['connection'], ['close']);
  assert.equal(errors, 1);
  const second = await exchange(port, get('/b'));
  assert.equal(second.responses[0]?.status, 200);
  assert.equal(errors, 1, 'answers the handler makes are not counted here');
});

test('size limits at their defaults: head 16 KiB → 431, target 8 KiB → 414, Content-Length over 100 MiB → 413 with nothing forwarded', async (t) => {
  const { origin, port } = await setup(t);
  const atHead = await exchange(port, headOf(16 * 1024));
  assert.equal(atHead.responses[0]?.status, 200);
  const overHead = await exchange(port, headOf(16 * 1024 + 1));
  assert.equal(overHead.responses[0]?.status, 431);
  assert.ok(overHead.closed);

  const atUrl = await exchange(port, get(`/${'u'.repeat(8 * 1024 - 1)}`));
  assert.equal(atUrl.responses[0]?.status, 200);
  const overUrl = await exchange(port, get(`/${'u'.repeat(8 * 1024)}`));
  assert.equal(overUrl.responses[0]?.status, 414);
  assert.ok(overUrl.closed);
  const hugeUrl = await exchange(port, get(`/${'u'.repeat(20 * 1024)}`));
  assert.equal(hugeUrl.responses[0]?.status, 431, 'the whole head is over maxHeaderBytes');

  const before = origin.urls.length;
  const overBody = await exchange(port, `PUT /big HTTP/1.1\r\nHost: a.example\r\nContent-Length: ${100 * MiB + 1}\r\n\r\nsome`);
  assert.equal(overBody.responses[0]?.status, 413);
  assert.ok(overBody.closed);
  assert.equal(origin.urls.length, before, 'nothing forwarded');
});

test('size limits at configured values, with Expect: 100-continue refused before any 100', async (t) => {
  const { origin, port } = await setup(t, { maxHeaderBytes: 4096, maxUrlBytes: 1024, maxBodyBytes: 1000 });
  assert.equal((await exchange(port, headOf(4096))).responses[0]?.status, 200);
  assert.equal((await exchange(port, headOf(4097))).responses[0]?.status, 431);
  assert.equal((await exchange(port, get(`/${'u'.repeat(1023)}`))).responses[0]?.status, 200);
  assert.equal((await exchange(port, get(`/${'u'.repeat(1024)}`))).responses[0]?.status, 414);

  const atBody = await exchange(port, `POST /b HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n${'b'.repeat(1000)}`);
  assert.equal(atBody.responses[0]?.body.toString(), 'POST 2 1000');
  const overBody = await exchange(port, `POST /b2 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1001\r\n\r\n`);
  assert.equal(overBody.responses[0]?.status, 413);
  assert.ok(overBody.closed);
  const expect = await exchange(port, `POST /b3 HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n`);
  assert.deepEqual(expect.responses.map((r) => r.status), [413], 'no 100 Continue for a refused request');
  const expectOk = await exchange(port, [`POST /b4 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n`, 'abc'], { gapMs: 50 });
  assert.deepEqual(expectOk.responses.map((r) => r.status), [100, 200]);
  assert.deepEqual(origin.urls.filter((u) => u.startsWith('/b')), ['/b', '/b4']);
});

test('a chunked body growing past maxBodyBytes: 413 while unanswered, the origin request aborted', async (t) => {
  const { origin, edge, port } = await setup(t, { maxBodyBytes: 1000 });
  const chunk = `258\r\n${'c'.repeat(600)}\r\n`;
  const r = await exchange(port, [`POST /chunked HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`, chunk, chunk, '0\r\n\r\n'], { gapMs: 50 });
  assert.equal(r.responses[0]?.status, 413);
  assert.ok(r.closed);
  assert.equal(await metric(edge, 'edgecache_requests_total', 'zone="(none)",cache_status="NONE",status_class="4xx"'), 1, 'the 413 is counted');
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(origin.count('/chunked'), 0, 'the origin never got a complete request');

  const small = await exchange(port, `POST /small HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${'3\r\nabc\r\n'.repeat(10)}0\r\n\r\n`);
  assert.equal(small.responses[0]?.body.toString(), 'POST 6 30', 'under the limit it is forwarded');
});

test('a chunked body growing past maxBodyBytes after the origin answered: the connection is closed', async (t) => {
  let aborted = false;
  let completed = false;
  const early = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
    res.write('early');
    req.on('data', () => {});
    req.on('end', () => { completed = true; res.end('x'.repeat(95)); });
    req.on('close', () => { if (!req.complete) aborted = true; }); // the public form of the deprecated 'aborted' event
    req.on('error', () => { aborted = true; });
  });
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', () => r()));
  t.after(() => { early.closeAllConnections(); early.close(); });
  const edge = await startTestEdge(t, { origin: `http://127.0.0.1:${(early.address() as AddressInfo).port}`, limits: { maxBodyBytes: 1000 } });
  const chunk = `258\r\n${'c'.repeat(600)}\r\n`;
  const r = await exchange(edge.edge.port, [`POST /early HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`, chunk, chunk, '0\r\n\r\n'], { gapMs: 150 });
  assert.equal(r.responses[0]?.status, 200);
  assert.equal(r.responses[0]?.complete, false, 'never a complete-looking response');
  assert.ok(r.closed);
  assert.ok(await waitFor(() => aborted, 2000), 'the origin request was aborted');
  assert.equal(completed, false);
});

test('timeouts at configured values: headers → 408 and close, request → 408 and close, idle keep-alive → closed', async (t) => {
  const { origin, port } = await setup(t, { headersTimeoutMs: 600, requestTimeoutMs: 1200, keepAliveTimeoutMs: 200 });
  let start = Date.now();
  const slowHead = await exchange(port, 'GET /never HTTP/1.1\r\nHost: a.example\r\n', { waitMs: 4000 });
  t.diagnostic(`headersTimeout 600 ms: answered after ${Date.now() - start} ms`);
  assert.equal(slowHead.responses[0]?.status, 408);
  assert.ok(slowHead.closed);

  start = Date.now();
  const slowBody = await exchange(port, 'POST /slow-body HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\n0123456789', { waitMs: 5000 });
  t.diagnostic(`requestTimeout 1200 ms: answered after ${Date.now() - start} ms`);
  assert.equal(slowBody.responses[0]?.status, 408);
  assert.ok(slowBody.closed);
  assert.equal(origin.count('/slow-body'), 0);

  const idle = await exchange(port, 'GET /ka HTTP/1.1\r\nHost: a.example\r\n\r\n', { waitMs: 5000 });
  assert.equal(idle.responses[0]?.status, 200);
  assert.ok(idle.closed, 'the idle keep-alive connection was closed');
});

test('500 connections trickling their heads: another client is answered; the slow ones are closed by headersTimeout', async (t) => {
  const { origin, port } = await setup(t, { headersTimeoutMs: 1500 });
  const slow: { sock: net.Socket; data: string; closed: boolean; timer?: NodeJS.Timeout }[] = [];
  t.after(() => { for (const s of slow) { clearInterval(s.timer); s.sock.destroy(); } });
  await Promise.all(Array.from({ length: 500 }, () => new Promise<void>((resolve) => {
    const s = { sock: net.connect(port, '127.0.0.1'), data: '', closed: false } as (typeof slow)[number];
    slow.push(s);
    s.sock.on('connect', () => {
      s.sock.write('GET /slow HTTP/1.1\r\nHost: a.example\r\n');
      s.timer = setInterval(() => { if (!s.closed) s.sock.write('X-Slow: 1\r\n'); }, 200);
      resolve();
    });
    s.sock.on('data', (d: Buffer) => { s.data += d.toString('latin1'); });
    const done = (): void => { s.closed = true; clearInterval(s.timer); };
    s.sock.on('end', done);
    s.sock.on('close', done);
    s.sock.on('error', done);
  })));
  await new Promise((r) => setTimeout(r, 300));
  const start = performance.now();
  const normal = await exchange(port, get('/fast'));
  t.diagnostic(`a normal client among 500 slow ones was answered in ${(performance.now() - start).toFixed(1)} ms`);
  assert.equal(normal.responses[0]?.status, 200);
  assert.ok(await waitFor(() => slow.every((s) => s.closed), 10_000), `${slow.filter((s) => !s.closed).length} slow connections still open`);
  const answered = slow.filter((s) => s.data.startsWith('HTTP/1.1 408')).length;
  t.diagnostic(`${answered} of 500 slow connections got 408 before the close`);
  assert.equal(answered, 500);
  assert.equal(origin.count('/slow'), 0);
});

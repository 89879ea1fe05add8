// The fast path end to end: the same requests to an edge with it and one without give the same bytes (apart from
// Date and Age), hits are really answered by it, and what the edge does around a hit (pipelining, keep-alive,
// Connection: close, HTTP/1.0, timeouts, metrics, access log, shutdown) is as through node:http.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { metric, startOrigin, startTestEdge, type TestOrigin } from './helpers/http.js';
import { exchange } from './helpers/raw-http.js';
import { assertSameAnswers } from './helpers/same-answers.js';

const ORIGIN_OK = 'https://app.example';

async function origin(t: TestContext): Promise<TestOrigin> {
  return startOrigin(t, (req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/nostore')) { res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }); res.end('dyn'); return; }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', etag: '"v1"', 'last-modified': 'Mon, 07 Dec 2026 00:00:00 GMT', 'x-origin': 'yes' });
    res.end(req.method === 'HEAD' ? undefined : `body of ${path} `.repeat(40));
  });
}

const zones = (o: TestOrigin): unknown => [{ id: 'z', hosts: ['a.example'], origin: o.url, cors: { allowOrigins: [ORIGIN_OK], exposeHeaders: ['x-origin'] } }];

const HEADS = [
  'GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n',
  'HEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\n',
  `GET /a HTTP/1.1\r\nHost: a.example\r\nOrigin: ${ORIGIN_OK}\r\n\r\n`,
  'GET /a HTTP/1.1\r\nHost: a.example\r\nOrigin: https://evil.example\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: "v1"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: "other"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-Modified-Since: Mon, 07 Dec 2026 00:00:00 GMT\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nIf-Match: "nope"\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nRange: bytes=0-3\r\n\r\n',
  'GET /a HTTP/1.0\r\nHost: a.example\r\n\r\n',
  'GET /a HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nCache-Control: no-cache\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nCache-Control: max-age=0, only-if-cached\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: A.EXAMPLE:80\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: b.example\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n',
  'GET /a HTTP/1.1\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nContent-Length: 0\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nX-A: a\nY: b\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: a.example\r\nX-A: a\r\n b\r\n\r\n',
  'GET /a#frag HTTP/1.1\r\nHost: a.example\r\n\r\n',
  'GET http://a.example/a HTTP/1.1\r\nHost: a.example\r\n\r\n',
  // Pipelined: hit, hit with Origin, a HEAD, then a miss node:http answers, then a hit again.
  `GET /a HTTP/1.1\r\nHost: a.example\r\n\r\nGET /a HTTP/1.1\r\nHost: a.example\r\nOrigin: ${ORIGIN_OK}\r\n\r\nHEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\nGET /nostore HTTP/1.1\r\nHost: a.example\r\n\r\nGET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`,
];

test('fast path on and off: the same bytes for hits, refusals, conditionals, CORS, pipelining (apart from Date and Age)', async (t) => {
  const o = await origin(t);
  const fast = await startTestEdge(t, { zones: zones(o) } as never);
  const slow = await startTestEdge(t, { zones: zones(o), fastPath: false } as never);
  for (const e of [fast, slow]) {
    const warm = await exchange(e.edge.port, 'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.equal(warm.responses[0]?.status, 200);
  }
  await assertSameAnswers(fast.edge.port, slow.edge.port, HEADS, 1500);
  const answered = await metric(fast, 'edgecache_fast_path_answers_total');
  assert.ok(answered >= 12, `hits were answered on the fast path (${answered})`);
  assert.equal(await metric(slow, 'edgecache_fast_path_answers_total'), 0);
  // Counted alike: every answer by its cf-cache-status.
  for (const s of ['HIT', 'MISS', 'DYNAMIC']) {
    assert.equal(await metric(fast, 'edgecache_requests_total', `cache_status="${s}"`), await metric(slow, 'edgecache_requests_total', `cache_status="${s}"`), s);
  }
});

test('fast path: keep-alive and HTTP/1.0 rules, idle timeout, a slow head handed over, the access log', async (t) => {
  const o = await origin(t);
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } }));
  const edge = await startTestEdge(t, { zones: zones(o), limits: { keepAliveTimeoutMs: 200, headersTimeoutMs: 1000, requestTimeoutMs: 2000 } } as never, { logger });
  await exchange(edge.edge.port, 'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');

  // HTTP/1.1 keeps the connection; node:http's idle rule closes it (keepAliveTimeoutMs plus node's 1 s).
  const started = Date.now();
  const idle = await exchange(edge.edge.port, 'GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n', { waitMs: 4000 });
  assert.equal(idle.responses[0]?.status, 200);
  assert.equal(idle.responses[0]?.headers['cf-cache-status']?.[0], 'HIT');
  assert.ok(idle.closed, 'the idle connection was closed');
  assert.ok(Date.now() - started < 3000, 'closed by the idle timeout');
  // HTTP/1.0 without keep-alive: answered and closed.
  const ten = await exchange(edge.edge.port, 'GET /a HTTP/1.0\r\nHost: a.example\r\n\r\n', { waitMs: 1000 });
  assert.equal(ten.responses[0]?.headers.connection?.[0], 'close');
  assert.ok(ten.closed);
  // A head split over two writes is handed to node:http, which answers it.
  const split = await exchange(edge.edge.port, ['GET /a HTTP/1.1\r\nHo', 'st: a.example\r\nConnection: close\r\n\r\n'], { gapMs: 50, waitMs: 2000 });
  assert.equal(split.responses[0]?.status, 200);
  assert.equal(split.responses[0]?.headers['cf-cache-status']?.[0], 'HIT');
  // Nothing sent at all: 408 after headersTimeoutMs, as node:http answers.
  const silent = await exchange(edge.edge.port, [], { waitMs: 3000 });
  assert.equal(silent.responses[0]?.status, 408);
  assert.ok(silent.closed);

  const access = lines.filter((l) => l.msg === 'request');
  assert.ok(access.some((l) => l.cache === 'HIT' && l.target === '/a' && l.status === 200 && l.method === 'GET' && l.host === 'a.example'
    && typeof l.requestId === 'string' && (l.bytes as number) > 400 && l.client === '127.0.0.1' && l.zone !== undefined), 'fast hits are in the access log, with id, bytes, client and zone');
  assert.ok(await metric(edge, 'edgecache_fast_path_answers_total') >= 2);
});

test('fast path: a client that does not read is not read either, and shutdown closes idle fast connections', async (t) => {
  const o = await origin(t);
  const edge = await startTestEdge(t, { zones: zones(o) } as never);
  await exchange(edge.edge.port, 'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
  // 2000 pipelined hits, read all at once at the end: every answer arrives, in order.
  const many = 'GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n'.repeat(1999) + 'GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n';
  const r = await exchange(edge.edge.port, many, { waitMs: 10_000 });
  assert.equal(r.responses.length, 2000);
  assert.ok(r.responses.every((x) => x.status === 200 && x.complete));
  assert.ok(r.closed);
  // An idle keep-alive connection on the fast path does not hold shutdown.
  const net = await import('node:net');
  const sock = net.connect(edge.edge.port, '127.0.0.1');
  await new Promise<void>((res) => { sock.once('data', () => res()); sock.write('GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n'); });
  const closed = new Promise<void>((res) => sock.once('close', () => res()));
  sock.on('error', () => {});
  const t0 = Date.now();
  await edge.close(5000);
  await closed;
  assert.ok(Date.now() - t0 < 2000, 'closed at once, not after the grace period');
});

// The HTTP/2 hit path on bare streams: hits never reach the compat handler yet carry what it would write (Age, status
// fields, CORS per Origin, 304, ranges, HEAD), are counted and access-logged; misses, bodies and refusals go to it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../config/load.js';
import { normalizeVaryValue } from '../cache/policy/index.js';
import { MemoryStore } from '../storage/memory.js';
import { createMetrics } from '../observability/metrics.js';
import { createAccessLog } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_LIMITS } from '../http/limits.js';
import { compileZones } from './zones.js';
import { createHandler } from './handler.js';
import { createH2Server } from './h2-listener.js';

interface H2Res { status: number; headers: IncomingHttpHeaders; body: Buffer }

function get(session: ClientHttp2Session, headers: Record<string, string>): Promise<H2Res> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers);
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    s.on('response', (h) => { head = h; });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    s.on('error', reject);
    s.end();
  });
}

async function setup(t: TestContext) {
  let originHits = 0;
  const origin = createHttpServer((req, res) => {
    originHits++;
    res.writeHead(200, { 'cache-control': 'max-age=600', etag: '"v1"', 'content-type': 'text/plain', 'x-path': req.url });
    res.end('0123456789abcdef');
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { origin.closeAllConnections(); origin.close(() => r()); }));
  const config = validateConfig({
    listen: '127.0.0.1:0',
    zones: [{ id: 'z', hosts: ['cdn.test'], origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, ignoreRequestCacheControl: false, cors: { allowOrigins: ['https://a.test', 'https://b.test'] } }],
  }, 'test');
  const lines: Record<string, unknown>[] = [];
  const logger = pino<never>({ level: 'info' }, new Writable({
    write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); },
  })) as unknown as Logger;
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const metrics = createMetrics(() => store.stats());
  const router = compileZones(config, metrics.zoneMeter);
  const access = createAccessLog(config.accessLog, logger);
  const ctx = { router, store, metrics, logger, maxObjectBytes: 1 << 20, access };
  const handler = createHandler(ctx);
  const handled: string[] = [];
  const counting = (req: IncomingMessage, res: ServerResponse): void => { handled.push(`${req.method} ${req.url}`); handler(req, res); };
  const h2 = createH2Server(counting, { logger, limits: DEFAULT_LIMITS, access, hit: handler.h2 });
  const net = createNetServer((socket) => h2.server.emit('connection', socket));
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', () => r()));
  const session = connect(`http://127.0.0.1:${(net.address() as AddressInfo).port}`);
  t.after(async () => { session.destroy(); await h2.close(0); await new Promise<void>((r) => net.close(() => r())); await router.close(); });
  return { session, handled, metrics, router, lines, originHits: () => originHits };
}

const req = (path: string, extra: Record<string, string> = {}): Record<string, string> => ({ ':method': 'GET', ':path': path, ':authority': 'cdn.test', ':scheme': 'http', ...extra });

test('a hit is answered on the bare stream with the same fields the handler writes; misses go to the handler', async (t) => {
  const s = await setup(t);
  const miss = await get(s.session, req('/a.txt', { origin: 'https://a.test' }));
  assert.equal(miss.headers['cf-cache-status'], 'MISS');
  assert.deepEqual(s.handled, ['GET /a.txt'], 'a miss goes to the handler');

  const hitA = await get(s.session, req('/a.txt', { origin: 'https://a.test' }));
  const hitB = await get(s.session, req('/a.txt', { origin: 'https://b.test' }));
  assert.deepEqual(s.handled, ['GET /a.txt'], 'hits do not reach the handler');
  assert.equal(s.originHits(), 1);
  for (const [r, o] of [[hitA, 'https://a.test'], [hitB, 'https://b.test']] as const) {
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), '0123456789abcdef');
    assert.equal(r.headers['cf-cache-status'], 'HIT');
    assert.match(String(r.headers['cache-status']), /hit/);
    assert.equal(r.headers['access-control-allow-origin'], o, 'CORS per Origin');
    assert.match(String(r.headers.vary), /Origin/i);
    assert.ok(r.headers.age !== undefined);
    assert.equal(r.headers['content-length'], '16');
    assert.equal(r.headers.etag, '"v1"');
    for (const f of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(r.headers[f], undefined);
  }

  const notModified = await get(s.session, req('/a.txt', { 'if-none-match': '"v1"' }));
  assert.equal(notModified.status, 304);
  assert.equal(notModified.body.length, 0);
  assert.equal(notModified.headers['cf-cache-status'], 'HIT');
  const range = await get(s.session, req('/a.txt', { range: 'bytes=2-5' }));
  assert.equal(range.status, 206);
  assert.equal(range.body.toString(), '2345');
  assert.equal(range.headers['content-range'], 'bytes 2-5/16');
  const head = await get(s.session, req('/a.txt', { ':method': 'HEAD' }));
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], '16');
  assert.deepEqual(s.handled, ['GET /a.txt'], '304, range and HEAD hits stay on the stream path');

  // Counted as the handler counts: requests by cf-cache-status and the zone's tally.
  const text = await s.metrics.registry.metrics();
  assert.match(text, /edgecache_requests_total\{zone="z",cache_status="HIT",status_class="2xx"\} 4\n/);
  assert.match(text, /edgecache_requests_total\{zone="z",cache_status="HIT",status_class="3xx"\} 1\n/);
  assert.match(text, /edgecache_request_duration_seconds_count\{zone="z",cache="hit"\} 5\n/, 'each hit is timed');
  assert.equal(s.router.zones[0]!.tally.requests.get('HIT'), 5);
  await new Promise((r) => setTimeout(r, 50)); // the access line is written when the stream closes
  const logged = s.lines.filter((l) => l.msg === 'request' && l.cache === 'HIT');
  assert.equal(logged.length, 5, 'each hit is access-logged');
  assert.deepEqual(logged.map((l) => l.status), [200, 200, 304, 206, 200]);
  assert.equal(logged[0]!.host, 'cdn.test');
});

test('what is not a plain bodiless hit goes to the handler: other methods, unknown hosts, no-cache, refused heads', async (t) => {
  const s = await setup(t);
  await get(s.session, req('/b.txt'));
  await get(s.session, req('/b.txt'));
  assert.deepEqual(s.handled, ['GET /b.txt']);
  const noCache = await get(s.session, req('/b.txt', { 'cache-control': 'no-cache' }));
  assert.notEqual(noCache.headers['cf-cache-status'], 'HIT');
  const other = await get(s.session, req('/b.txt', { ':authority': 'elsewhere.test' }));
  assert.equal(other.status, 421);
  const del = await get(s.session, req('/b.txt', { ':method': 'DELETE' }));
  assert.notEqual(del.headers['cf-cache-status'], 'HIT');
  const long = await get(s.session, req(`/${'x'.repeat(DEFAULT_LIMITS.maxUrlBytes + 10)}`));
  assert.equal(long.status, 414);
  assert.deepEqual(s.handled, ['GET /b.txt', 'GET /b.txt', 'GET /b.txt', 'DELETE /b.txt'], 'refused heads are answered before any handler');
});

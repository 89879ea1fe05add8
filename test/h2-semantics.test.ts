// HTTP/2 (h2c prior knowledge here; TLS+ALPN in tls-listeners.test.ts) keeps the cache's HTTP/1.1 semantics: Host
// from :authority, one key for both versions, purge, cf-cache-status and Cache-Status, edge CORS and preflights,
// passes with content, the request guard and limits, and no connection-specific fields (RFC 9113 §8.2.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { purge, send, startOrigin, startTestEdge } from './helpers/http.js';
import { createH2Server } from '../src/edge/h2-listener.js';
import { createLogger } from '../src/observability/logger.js';
import { DEFAULT_LIMITS } from '../src/http/limits.js';

interface H2Res { status: number; headers: IncomingHttpHeaders; body: string }

function h2(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<H2Res> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers);
    let out = '';
    let head: IncomingHttpHeaders = {};
    s.on('response', (h) => { head = h; });
    s.setEncoding('utf8');
    s.on('data', (d: string) => { out += d; });
    s.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: out }));
    s.on('error', reject);
    s.end(body);
  });
}

const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

async function setup(t: import('node:test').TestContext, limits: Record<string, number> = {}) {
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'x-hop', 'x-hop': '1', 'keep-alive': 'timeout=9' });
      res.end(`got ${req.body.length} bytes`);
      return;
    }
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', 'keep-alive': 'timeout=9' });
    res.end(`asset ${req.headers.host}${req.url}`);
  });
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', h2c: true }],
    limits: { maxBodyBytes: 1000, ...limits },
    zones: [{ id: 'z', hosts: ['a.example'], origin: origin.url, cors: { allowOrigins: ['https://one.example', 'https://two.example'], allowMethods: ['GET', 'POST'], maxAge: 60 } }],
  });
  const port = edge.edge.port;
  const session = h2Connect(`http://127.0.0.1:${port}`);
  t.after(() => session.close());
  return { origin, edge, port, session };
}

test('HTTP/2 and HTTP/1.1 share the key (Host from :authority); hits, purge and Cache-Status work the same', async (t) => {
  const { origin, edge, port, session } = await setup(t);
  const first = await h2(session, { ':path': '/app.js', ':authority': 'a.example' });
  assert.equal(first.status, 200);
  assert.equal(first.headers['cf-cache-status'], 'MISS');
  assert.equal(first.body, 'asset a.example/app.js', 'the origin saw Host from :authority');
  for (const name of CONNECTION_SPECIFIC) assert.equal(first.headers[name], undefined, `no ${name} over HTTP/2`);
  const h1 = await send(`http://127.0.0.1:${port}/app.js`, { headers: { host: 'a.example' } });
  assert.equal(h1.headers['cf-cache-status'], 'HIT', 'HTTP/1.1 on the same (h2c) listener hits what HTTP/2 stored');
  const again = await h2(session, { ':path': '/app.js', ':authority': 'a.example' });
  assert.equal(again.headers['cf-cache-status'], 'HIT');
  assert.match(String(again.headers['cache-status']), /^edgecache; hit/);
  assert.equal(origin.count('/app.js'), 1);
  assert.equal((await purge(edge, 'z', { files: ['http://a.example/app.js'] })).status, 200);
  assert.equal((await h2(session, { ':path': '/app.js', ':authority': 'a.example' })).headers['cf-cache-status'], 'MISS', 'purged');
  assert.equal(origin.count('/app.js'), 2);
  assert.equal((await h2(session, { ':path': '/app.js', ':authority': 'nowhere.example' })).status, 421, 'no zone serves it');
});

test('edge CORS over HTTP/2: each Origin gets its own ACAO from one stored variant; preflights are answered by the edge', async (t) => {
  const { origin, session } = await setup(t);
  const one = await h2(session, { ':path': '/c.js', ':authority': 'a.example', origin: 'https://one.example' });
  const two = await h2(session, { ':path': '/c.js', ':authority': 'a.example', origin: 'https://two.example' });
  assert.equal(one.headers['access-control-allow-origin'], 'https://one.example');
  assert.equal(two.headers['access-control-allow-origin'], 'https://two.example');
  assert.equal(two.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/c.js'), 1);
  const pre = await h2(session, { ':method': 'OPTIONS', ':path': '/c.js', ':authority': 'a.example', origin: 'https://one.example', 'access-control-request-method': 'POST' });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], 'https://one.example');
  for (const name of CONNECTION_SPECIFIC) assert.equal(pre.headers[name], undefined, `no ${name} on a preflight answer`);
});

test('a pass with content is forwarded; content over maxBodyBytes is 413; the guard refuses bad heads, the session goes on', async (t) => {
  const { origin, session } = await setup(t);
  const post = await h2(session, { ':method': 'POST', ':path': '/form', ':authority': 'a.example', 'content-type': 'text/plain' }, 'x'.repeat(500));
  assert.equal(post.status, 200);
  assert.equal(post.body, 'got 500 bytes');
  assert.equal(post.headers['x-hop'], undefined, 'fields the origin listed in Connection are dropped');
  assert.equal(post.headers['keep-alive'], undefined);
  assert.equal(origin.requests.find((r) => r.url === '/form')?.body.length, 500);
  const declared = await h2(session, { ':method': 'POST', ':path': '/form', ':authority': 'a.example', 'content-length': '5000' }, 'x'.repeat(5000));
  assert.equal(declared.status, 413);
  const streamed = await h2(session, { ':method': 'POST', ':path': '/form-streamed', ':authority': 'a.example' }, 'x'.repeat(5000)).catch((err: Error) => ({ status: -1, body: err.message, headers: {} }));
  assert.ok(streamed.status === 413 || streamed.status === -1, `content past the limit without a length: 413 or a reset (${streamed.status})`);
  assert.equal(origin.count('/form-streamed'), 0, 'never reached the origin complete');
  assert.equal((await h2(session, { ':path': `/${'a'.repeat(9000)}`, ':authority': 'a.example' })).status, 414);
  assert.equal((await h2(session, { ':path': '/x', ':authority': 'a.example', host: 'b.example' })).status, 400, 'Host and :authority disagree');
  // nghttp2 itself refuses an :authority with characters no authority has (a stream error: reset), before the guard.
  const badAuthority = await h2(session, { ':path': '/x', ':authority': 'bad host!' }).catch((err: Error) => ({ status: -1, body: err.message, headers: {} }));
  assert.ok(badAuthority.status === 400 || /PROTOCOL_ERROR/.test(badAuthority.body), `refused (${badAuthority.status} ${badAuthority.body})`);
  assert.equal((await h2(session, { ':path': '/after', ':authority': 'a.example' })).status, 200, 'the session still serves');
});

test('answers written with connection-specific fields (flat lists or objects) reach HTTP/2 clients without them', async (t) => {
  const server = createH2Server((_req: IncomingMessage, res: ServerResponse) => {
    if (_req.url === '/flat') res.writeHead(200, ['content-type', 'text/plain', 'connection', 'close', 'Keep-Alive', 'timeout=5', 'transfer-encoding', 'chunked', 'upgrade', 'h2c', 'proxy-connection', 'x', 'x-kept', '1', 'x-kept', '2']);
    else { res.setHeader('Connection', 'close'); res.writeHead(200, { 'content-type': 'text/plain', 'keep-alive': 'timeout=5', 'x-kept': '3' }); }
    res.end('ok');
  }, { logger: createLogger('silent'), limits: DEFAULT_LIMITS });
  const net = await import('node:net');
  const front = net.createServer((s) => server.server.emit('connection', s));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  t.after(async () => { await server.close(100); await new Promise<void>((r) => front.close(() => r())); });
  const session = h2Connect(`http://127.0.0.1:${(front.address() as AddressInfo).port}`);
  t.after(() => session.close());
  const flat = await h2(session, { ':path': '/flat' });
  assert.equal(flat.status, 200);
  assert.equal(flat.body, 'ok');
  assert.deepEqual(flat.headers['x-kept'], '1, 2');
  for (const name of CONNECTION_SPECIFIC) assert.equal(flat.headers[name], undefined, name);
  const obj = await h2(session, { ':path': '/object' });
  assert.equal(obj.headers['x-kept'], '3');
  for (const name of CONNECTION_SPECIFIC) assert.equal(obj.headers[name], undefined, name);
});

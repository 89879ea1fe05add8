// End to end: bad input (malformed requests, huge headers), broken origins (down, slow), forwarding fields, streaming.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Writes raw bytes on a fresh socket and returns everything the server sent until it closed (or 5 s passed). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let data = '';
    const timer = setTimeout(() => { s.destroy(); resolve(data); }, 5_000);
    s.setEncoding('latin1');
    s.on('data', (c: string) => { data += c; });
    s.on('close', () => { clearTimeout(timer); resolve(data); });
    s.on('error', (e) => { clearTimeout(timer); if (data) resolve(data); else reject(e); });
  });
}

function cacheable(body = 'ok') {
  return (_req: unknown, res: import('node:http').ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
    res.end(body);
  };
}

async function listenServer(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return (server.address() as AddressInfo).port;
}

test('a malformed request gets 400 and the next normal request is served', async (t) => {
  const origin = await startOrigin(t, cacheable());
  const edge = await startTestEdge(t, { origin: origin.url });
  for (const bad of [
    'GET / HTTP/1.1\r\nHost: cdn.example\r\nThis is not a header\r\n\r\n',
    'NOT AN HTTP REQUEST\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: cdn.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
    'GET / HTTP/1.1\r\n\r\n', // no Host (RFC 9112 §3.2)
  ]) {
    const answer = await raw(edge.edge.port, bad);
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(bad));
  }
  const ok = await send(`${edge.base}/after`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'ok');
  assert.equal(origin.count(), 1, 'malformed requests never reach the origin');
});

test('oversized request headers get 431, and the edge keeps serving', async (t) => {
  const origin = await startOrigin(t, cacheable());
  const edge = await startTestEdge(t, { origin: origin.url });
  const answer = await raw(edge.edge.port, `GET / HTTP/1.1\r\nHost: cdn.example\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 431 /);
  assert.equal((await send(`${edge.base}/`)).status, 200);
  assert.equal(origin.count(), 1);
});

test('origin down → 502 saying so; origin too slow → 504 saying so; the client never hangs', async (t) => {
  // A port nothing listens on.
  const probe = createServer();
  const deadPort = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as AddressInfo).port)));
  await new Promise<void>((r) => probe.close(() => r()));
  // An origin that accepts and never answers /hang, and stalls half-way through the body of /stall.
  const slow = createServer((req, res) => {
    if (req.url === '/stall') { res.writeHead(200, { 'content-length': '100', 'cache-control': 'public, max-age=60' }); res.write('x'.repeat(10)); }
  });
  const slowPort = await listenServer(t, slow);
  const timeouts = { connectMs: 500, headersMs: 300, bodyMs: 300 };
  const edge = await startTestEdge(t, {
    zones: [
      { id: 'down', hosts: ['down.test'], origin: `http://127.0.0.1:${deadPort}`, timeouts },
      { id: 'slow', hosts: ['slow.test'], origin: `http://127.0.0.1:${slowPort}`, timeouts },
    ],
  });

  const down = await send(`${edge.base}/x`, { headers: { host: 'down.test' } });
  assert.equal(down.status, 502);
  assert.match(down.body, /origin unreachable/i);
  const post = await send(`${edge.base}/x`, { method: 'POST', body: 'data', headers: { host: 'down.test' } });
  assert.equal(post.status, 502, 'passed-through requests too');

  const hang = await send(`${edge.base}/hang`, { headers: { host: 'slow.test' } });
  assert.equal(hang.status, 504);
  assert.match(hang.body, /timed out/i);

  // Headers already sent when the body stalls: the edge cannot change the status, so it cuts the response off.
  const stalled = await send(`${edge.base}/stall`, { headers: { host: 'slow.test' } }).then((r) => r, (e: Error) => e);
  if (!(stalled instanceof Error)) assert.ok(stalled.raw.length < 100, 'an incomplete body is never passed off as complete');
  const again = await send(`${edge.base}/stall`, { headers: { host: 'slow.test' } }).then((r) => r, (e: Error) => e);
  if (!(again instanceof Error)) assert.notEqual(again.headers['cf-cache-status'], 'HIT', 'a broken body is not stored');

  const m = (await send(`${edge.adminBase}/metrics`)).body;
  assert.match(m, /edgecache_origin_errors_total\{code="ORIGIN_UNREACHABLE"\} [1-9]/);
  assert.match(m, /edgecache_origin_errors_total\{code="ORIGIN_TIMEOUT"\} [1-9]/);
});

test('hop-by-hop fields are stripped both ways; Via and X-Forwarded-For/-Proto/-Host are added', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain', 'cache-control': 'public, max-age=60',
      connection: 'X-Origin-Hop', 'x-origin-hop': 'secret', 'keep-alive': 'timeout=99', 'proxy-authenticate': 'Basic realm="o"',
      'x-origin-end-to-end': 'kept',
    });
    res.end('hop');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const request = [
    'GET /hop HTTP/1.1', 'Host: cdn.example', 'Connection: close, X-Client-Hop', 'X-Client-Hop: secret',
    'Keep-Alive: timeout=5', 'TE: trailers', 'Proxy-Authorization: Basic eHl6', 'Proxy-Connection: keep-alive',
    'X-Forwarded-For: 203.0.113.9', 'Via: 1.0 upstream', 'X-End-To-End: kept', '', '',
  ].join('\r\n');
  const first = await raw(edge.edge.port, request);
  const second = await raw(edge.edge.port, request);
  assert.match(first, /^HTTP\/1\.1 200 /);
  assert.match(second, /cf-cache-status: HIT/i);

  const seen = origin.requests[0]!.headers;
  for (const h of ['x-client-hop', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection']) assert.equal(seen[h], undefined, `${h} reached the origin`);
  assert.equal(seen['x-end-to-end'], 'kept');
  assert.equal(seen.host, 'cdn.example');
  assert.equal(seen.via, '1.0 upstream, 1.1 edgecache');
  assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot forge the chain');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], 'cdn.example');

  for (const answer of [first, second]) {
    const head = answer.split('\r\n\r\n')[0]!.toLowerCase();
    assert.doesNotMatch(head, /\r\nx-origin-hop:/);
    assert.doesNotMatch(head, /\r\nproxy-authenticate:/);
    assert.doesNotMatch(head, /keep-alive: timeout=99/);
    assert.match(head, /\r\nx-origin-end-to-end: kept/);
  }
});

test('Via (RFC 9110 §7.6.3): ours goes to the origin; responses keep the origin\'s own Via and add none (a gateway MAY)', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' };
    if (req.url === '/via-upstream') headers.via = '1.1 upstream-proxy';
    res.writeHead(200, headers);
    res.end(String(req.headers.via));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const miss = await send(`${edge.base}/via`);
  assert.equal(miss.body.toString(), '1.1 edgecache', 'the origin sees our Via');
  const hit = await send(`${edge.base}/via`);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(miss.headers.via, undefined);
  assert.equal(hit.headers.via, undefined);
  assert.match(String(hit.headers['cache-status']), /^edgecache; hit/, 'Cache-Status names this cache instead');
  const upstream = await send(`${edge.base}/via-upstream`);
  assert.equal(upstream.headers.via, '1.1 upstream-proxy');
  assert.equal((await send(`${edge.base}/via-upstream`)).headers.via, '1.1 upstream-proxy', 'stored and served as the origin sent it');
});

test('POST bodies stream both ways: the origin answers the first request chunk before the client has sent the rest', async (t) => {
  // Not startOrigin: it buffers bodies. This origin echoes each request chunk as it arrives.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
    req.on('data', (c: Buffer) => res.write(`got:${c.toString()};`));
    req.on('end', () => res.end('end'));
  });
  const port = await listenServer(t, server);
  const edge = await startTestEdge(t, { origin: `http://127.0.0.1:${port}` });

  const body = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no streamed answer within 5 s: the request body was buffered')), 5_000);
    const req = httpRequest(`${edge.base}/echo`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res: IncomingMessage) => {
      let text = '';
      assert.equal(res.headers['cf-cache-status'], 'DYNAMIC');
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text === 'got:part1;') req.end('part2'); // the rest only after the first echo came back
      });
      res.on('end', () => { clearTimeout(timer); resolve(text); });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.write('part1');
  });
  assert.equal(body, 'got:part1;got:part2;end');
});

test('PUT with a 4 MiB body reaches the origin intact and the answer comes back intact; neither is cached', async (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-got-sha': sha(req.body), 'cache-control': 'public, max-age=60' });
    res.end(Buffer.concat([req.body, Buffer.from(req.method!)]));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const r = await send(`${edge.base}/upload`, { method: 'PUT', body: big });
  assert.equal(r.status, 201);
  assert.equal(r.headers['x-got-sha'], sha(big));
  assert.equal(sha(r.raw), sha(Buffer.concat([big, Buffer.from('PUT')])));
  assert.equal(r.headers['cf-cache-status'], 'DYNAMIC');
  const again = await send(`${edge.base}/upload`, { method: 'PUT', body: 'small' });
  assert.equal(again.raw.subarray(-3).toString(), 'PUT');
  assert.equal(origin.count('/upload'), 2);
  await sleep(0);
});

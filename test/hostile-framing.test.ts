// Raw-socket tests for request framing (RFC 9112 §3, §5, §6; RFC 9110 §5.5): every malformed request is
// answered 400/501 and the connection closed; nothing hidden in or behind it reaches the origin; pipelines keep order.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';
import { exchange, startTap, waitFor } from './helpers/raw-http.js';

const H = 'Host: a.example\r\n';
const SMUGGLE = 'GET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n';

/** Edge in front of a tap (raw bytes) in front of an origin answering "<method> <url> body=<body>" (not stored). */
async function setup(t: TestContext, extra: Record<string, unknown> = {}) {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end(`${req.method} ${req.url} body=${req.body.toString('latin1')}`);
  });
  const tap = await startTap(t, origin.port);
  const edge = await startTestEdge(t, { origin: tap.url, ...extra });
  return { origin, tap, edge, port: edge.edge.port };
}

/** Nothing smuggled reached the origin, and the edge still answers a plain request. */
async function assertClean(s: Awaited<ReturnType<typeof setup>>, what: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(!s.tap.received().includes('smuggled'), `${what}: the smuggled request reached the origin`);
  assert.ok(!s.origin.requests.some((r) => r.url.includes('smuggled')), what);
  const ok = await send(`http://127.0.0.1:${s.port}/alive`, { headers: { host: 'a.example' } });
  assert.equal(ok.status, 200, `${what}: the edge still serves`);
}

const REFUSED: [string, string, number][] = [
  ['Content-Length then Transfer-Encoding', `POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['Transfer-Encoding then Content-Length', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['differing Content-Lengths', `POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: ${5 + SMUGGLE.length}\r\n\r\nhello${SMUGGLE}`, 400],
  ['equal repeated Content-Lengths', `POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello${SMUGGLE}`, 400],
  ['Content-Length list', `POST /x HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello${SMUGGLE}`, 400],
  ['Transfer-Encoding: gzip (last coding not chunked)', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n${SMUGGLE}`, 400],
  ['Transfer-Encoding: chunked, gzip', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['Transfer-Encoding: foo (unknown)', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: foo\r\n\r\n${SMUGGLE}`, 501],
  ['Transfer-Encoding: xchunked (unknown)', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLE}`, 501],
  ['Transfer-Encoding: chunked, foo (unknown last)', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, foo\r\n\r\n0\r\n\r\n${SMUGGLE}`, 501],
  ['Transfer-Encoding: gzip, chunked (not implemented)', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`, 501],
  ['Transfer-Encoding in HTTP/1.0', `POST /x HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['whitespace before the colon', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['obs-fold', `GET /x HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n${SMUGGLE}`, 400],
  ['obs-fold on Transfer-Encoding', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['bare LF line ends', `GET /x HTTP/1.1\n${H.replace('\r', '')}\n${SMUGGLE}`, 400],
  ['bare LF inside the fields', `GET /x HTTP/1.1\r\n${H}X-A: b\nX-B: c\r\n\r\n${SMUGGLE}`, 400],
  ['bare CR in a value', `GET /x HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n${SMUGGLE}`, 400],
  ['NUL in a value', `GET /x HTTP/1.1\r\n${H}X-A: b\u0000c\r\n\r\n${SMUGGLE}`, 400],
  ['CTL 0x01 in a value', `GET /x HTTP/1.1\r\n${H}X-A: b\u0001c\r\n\r\n${SMUGGLE}`, 400],
  ['a separator in a field name', `GET /x HTTP/1.1\r\n${H}X(A: b\r\n\r\n${SMUGGLE}`, 400],
  ['DEL in a value', `GET /x HTTP/1.1\r\n${H}X-A: b\u007fc\r\n\r\n${SMUGGLE}`, 400],
  ['NUL in the target', `GET /x\u0000y HTTP/1.1\r\n${H}\r\n${SMUGGLE}`, 400],
  ['CTL in the target', `GET /x\u001by HTTP/1.1\r\n${H}\r\n${SMUGGLE}`, 400],
  ['a fragment in the target', `GET /x#y HTTP/1.1\r\n${H}\r\n${SMUGGLE}`, 400],
  ['userinfo in an absolute-form target', `GET http://u:p@a.example/x HTTP/1.1\r\n${H}\r\n${SMUGGLE}`, 400],
  ['missing Host', `GET /x HTTP/1.1\r\n\r\n${SMUGGLE}`, 400],
  ['missing Host in HTTP/1.0', `GET /x HTTP/1.0\r\n\r\n`, 400],
  ['repeated Host', `GET /x HTTP/1.1\r\n${H}Host: b.example\r\n\r\n${SMUGGLE}`, 400],
  ['repeated equal Host', `GET /x HTTP/1.1\r\n${H}${H}\r\n${SMUGGLE}`, 400],
  ['invalid Host', `GET /x HTTP/1.1\r\nHost: a.example/evil\r\n\r\n${SMUGGLE}`, 400],
  ['invalid chunk size', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n${SMUGGLE}\r\n0\r\n\r\n`, 400],
  ['negative chunk size', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['chunk size overflow', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['chunk size with a space', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['invalid chunk size in a Connection: close request', `POST /x HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n\r\n${SMUGGLE}`, 400],
  ['chunk data longer than its size', `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n${SMUGGLE}`, 400],
  ['HTTP/0.9-style request line', `GET /x\r\n\r\n${SMUGGLE}`, 400],
  ['HTTP/2.0 in an HTTP/1 request line', `GET /x HTTP/2.0\r\n${H}\r\n${SMUGGLE}`, 505],
  ['lowercase method', `get /x HTTP/1.1\r\n${H}\r\n${SMUGGLE}`, 400],
];

test('malformed requests: answered, connection closed, nothing smuggled reaches the origin (RFC 9112 §6.1, §6.3)', async (t) => {
  const s = await setup(t);
  for (const [what, raw, status] of REFUSED) {
    const r = await exchange(s.port, raw);
    assert.equal(r.responses[0]?.status, status, `${what}: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.ok(r.closed, `${what}: the connection is closed`);
    assert.equal(r.responses.length, 1, `${what}: nothing after it is answered`);
    assert.equal(r.responses[0]!.headers.connection?.[0], 'close', `${what}: Connection: close`);
    assert.ok(r.responses[0]!.complete, what);
  }
  await assertClean(s, 'after all malformed requests');
  assert.equal(s.origin.requests.filter((r) => r.url !== '/alive').length, 0, 'no refused request was forwarded');
});

test('CONNECT is refused with 405 and the connection closed', async (t) => {
  const s = await setup(t);
  const r = await exchange(s.port, `CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n${SMUGGLE}`);
  assert.equal(r.responses[0]?.status, 405);
  assert.match(r.responses[0]!.headers.allow?.[0] ?? '', /GET/);
  assert.ok(r.closed);
  await assertClean(s, 'CONNECT');
});

test('a malformed chunked body after the request was forwarded aborts it: the origin never gets a complete request', async (t) => {
  const s = await setup(t);
  // The head is valid, so the request is forwarded at once; the broken chunk comes later.
  const r = await exchange(s.port, [`POST /late HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, `zz\r\n${SMUGGLE}`], { gapMs: 100 });
  assert.equal(r.responses[0]?.status, 400);
  assert.ok(r.closed);
  await assertClean(s, 'late chunk error');
  assert.equal(s.origin.count('/late'), 0, 'the origin saw no complete request');
});

test('pipelined requests keep their boundaries and are answered in order, also right behind a body', async (t) => {
  const s = await setup(t);
  const two = await exchange(s.port, `GET /p1 HTTP/1.1\r\n${H}\r\nGET /p2 HTTP/1.1\r\n${H}\r\n`, { until: (x) => x.responses.length === 2 && x.responses[1]!.complete });
  assert.deepEqual(two.responses.map((x) => x.body.toString()), ['GET /p1 body=', 'GET /p2 body=']);

  const behind = await exchange(s.port, `POST /post HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n${H}\r\n`,
    { until: (x) => x.responses.length === 2 && x.responses[1]!.complete });
  assert.deepEqual(behind.responses.map((x) => x.body.toString()), ['POST /post body=hello', 'GET /next body=']);

  // A body that looks like a request stays a body.
  const inner = await exchange(s.port, `POST /carrier HTTP/1.1\r\n${H}Content-Length: ${SMUGGLE.length}\r\n\r\n${SMUGGLE}GET /after HTTP/1.1\r\n${H}\r\n`,
    { until: (x) => x.responses.length === 2 && x.responses[1]!.complete });
  assert.deepEqual(inner.responses.map((x) => x.body.toString()), [`POST /carrier body=${SMUGGLE}`, 'GET /after body=']);

  const chunked = await exchange(s.port, `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\nGET /c2 HTTP/1.1\r\n${H}\r\n`,
    { until: (x) => x.responses.length === 2 && x.responses[1]!.complete });
  assert.deepEqual(chunked.responses.map((x) => x.body.toString()), ['POST /c body=abc', 'GET /c2 body=']);

  assert.deepEqual(s.origin.requests.map((r) => `${r.method} ${r.url}`), ['GET /p1', 'GET /p2', 'POST /post', 'GET /next', 'POST /carrier', 'GET /after', 'POST /c', 'GET /c2']);
});

test('a bad request behind good pipelined ones: they are answered, then 400 and close; nothing behind a refusal is handled', async (t) => {
  const s = await setup(t);
  const r = await exchange(s.port, `GET /g1 HTTP/1.1\r\n${H}\r\nGET /g2 HTTP/1.1\r\n${H}\r\nGET /bad HTTP/1.1\r\n${H}X: a\u0000b\r\n\r\n`);
  assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 400]);
  assert.ok(r.closed);

  const refused = await exchange(s.port, `GET /dup HTTP/1.1\r\n${H}${H}\r\nGET /behind HTTP/1.1\r\n${H}\r\n`);
  assert.deepEqual(refused.responses.map((x) => x.status), [400]);
  assert.ok(refused.closed);

  const close = await exchange(s.port, `GET /last HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET /behind2 HTTP/1.1\r\n${H}\r\n`);
  assert.deepEqual(close.responses.map((x) => x.status), [200]);
  assert.ok(close.closed);
  await waitFor(() => false, 50);
  assert.deepEqual(s.origin.requests.map((x) => x.url), ['/g1', '/g2', '/last']);
});

test('the origin gets a request re-serialised from parsed values: CRLF only, trimmed values, no chunk extensions', async (t) => {
  const s = await setup(t);
  const r = await exchange(s.port, `POST /rs HTTP/1.1\r\n${H}X-Spaced:    v  \r\nX-Tab: a\tb\r\nTransfer-Encoding: chunked\r\n\r\n3;secret-ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n`,
    { until: (x) => x.responses.length === 1 && x.responses[0]!.complete });
  assert.equal(r.responses[0]?.body.toString(), 'POST /rs body=abc');
  const raw = s.tap.received();
  assert.ok(raw.length > 0);
  assert.ok(!/[^\r]\n/.test(raw), 'every line ends with CRLF');
  assert.match(raw, /\r\nx-spaced: v\r\n/i);
  assert.match(raw, /\r\nx-tab: a\tb\r\n/i);
  assert.ok(!raw.includes('secret-ext'), 'chunk extensions are not passed on');
  assert.ok(!/x-trailer/i.test(raw), 'trailers are not passed on');
  assert.equal((raw.match(/^host:/gim) ?? []).length, 1);
});

test('absolute-form target: its authority replaces Host for zone, key and forwarding (RFC 9112 §3.2.2)', async (t) => {
  const mk = async (name: string) => startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end(`${name} ${req.headers.host} ${req.url}`);
  });
  const a = await mk('A');
  const b = await mk('B');
  const edge = await startTestEdge(t, { zones: [
    { id: 'a', hosts: ['a.example'], origin: a.url },
    { id: 'b', hosts: ['b.example'], origin: b.url },
  ] });
  const port = edge.edge.port;
  const abs = await exchange(port, `GET http://b.example/abs?q=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
  assert.equal(abs.responses[0]?.body.toString(), 'B b.example /abs?q=1');
  assert.equal(a.requests.length, 0, "the Host field's zone saw nothing");

  const viaB = await exchange(port, `GET /abs?q=1 HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n`);
  assert.equal(viaB.responses[0]?.headers['cf-cache-status']?.[0], 'HIT', 'same key as the absolute-form request');
  const viaA = await exchange(port, `GET /abs?q=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
  assert.equal(viaA.responses[0]?.body.toString(), 'A a.example /abs?q=1', 'zone a was not poisoned');

  const port443 = await exchange(port, `GET https://B.EXAMPLE:443/p HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
  assert.equal(port443.responses[0]?.body.toString(), 'B b.example /p', 'case and default port normalised');
  const noHost = await exchange(port, `GET http://b.example/p10 HTTP/1.0\r\n\r\n`);
  assert.equal(noHost.responses[0]?.body.toString(), 'B b.example /p10', 'HTTP/1.0 absolute-form needs no Host');
  assert.deepEqual(b.requests.map((r) => r.url), ['/abs?q=1', '/p', '/p10']);
});

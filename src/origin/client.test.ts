// Tests for origin error classification and the response-head check (an invalid origin response is a 502: nothing stored, no byte of it passed on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyOriginError, invalidResponse, OriginClient, OriginError } from './client.js';

test('undici failures map to typed OriginErrors with their status', () => {
  const parserError = Object.assign(new Error('Response does not match the HTTP/1.1 protocol (Invalid header value char)'), { name: 'HTTPParserError' });
  assert.equal(classifyOriginError(parserError).code, 'ORIGIN_BAD_RESPONSE', 'undici parser errors often carry no code');
  assert.equal(classifyOriginError(Object.assign(new Error('x'), { code: 'HPE_INVALID_CHUNK_SIZE' })).status, 502);
  assert.equal(classifyOriginError(Object.assign(new Error('x'), { code: 'UND_ERR_BODY_TIMEOUT' })).status, 504);
  assert.equal(classifyOriginError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).code, 'ORIGIN_TIMEOUT');
  assert.equal(classifyOriginError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })).status, 502);
  const e = new OriginError('ORIGIN_ABORTED', 'x');
  assert.equal(classifyOriginError(e), e);
});

test('invalidResponse: statuses outside 200-599, bad names, CTLs in values, transfer codings other than chunked', () => {
  assert.equal(invalidResponse(200, { 'content-type': 'text/plain', 'x-latin1': 'caf\u00e9', 'set-cookie': ['a=1', 'b=2'] }), undefined);
  assert.equal(invalidResponse(200, { 'transfer-encoding': 'chunked' }), undefined);
  assert.match(invalidResponse(600, {}) ?? '', /status/);
  assert.match(invalidResponse(101, {}) ?? '', /status/);
  assert.match(invalidResponse(200, { 'bad name': 'x' }) ?? '', /name/);
  for (const v of ['a\u0000b', 'a\rb', 'a\nb', '\u007f', '\u0100']) assert.match(invalidResponse(200, { 'x-a': v }) ?? '', /x-a/, JSON.stringify(v));
  assert.match(invalidResponse(200, { 'set-cookie': ['ok', 'bad\u0001'] }) ?? '', /set-cookie/);
  assert.match(invalidResponse(200, { 'transfer-encoding': 'gzip' }) ?? '', /gzip/);
  assert.match(invalidResponse(200, { 'transfer-encoding': 'gzip, chunked' }) ?? '', /gzip/);
});

test('what is not the network says so: head overflow, a 101 nobody asked for, the edge\'s own bugs', () => {
  const overflow = classifyOriginError(Object.assign(new Error('Headers Overflow Error'), { name: 'HeadersOverflowError', code: 'UND_ERR_HEADERS_OVERFLOW' }));
  assert.equal(overflow.code, 'ORIGIN_HEADERS_TOO_LARGE');
  assert.equal(overflow.status, 502);
  assert.match(overflow.message, /^origin sent a response head larger than \d+ bytes$/);
  const upgrade = classifyOriginError(Object.assign(new Error('bad upgrade'), { code: 'UND_ERR_SOCKET' }));
  assert.deepEqual([upgrade.code, upgrade.status], ['ORIGIN_UPGRADE', 502]);
  for (const bug of [new TypeError('value.join is not a function'), new RangeError('Maximum call stack size exceeded'),
    Object.assign(new Error('The expression evaluated to a falsy value'), { code: 'ERR_ASSERTION' }), new Error('no code at all'), 'a string']) {
    const e = classifyOriginError(bug);
    assert.deepEqual([e.code, e.status, e.message], ['ORIGIN_INTERNAL', 500, 'internal error'], String(bug));
    assert.equal(e.cause, bug, 'the cause is kept for the log');
  }
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'UND_ERR_CLOSED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT']) {
    assert.equal(classifyOriginError(Object.assign(new Error(code), { code })).code, 'ORIGIN_UNREACHABLE', code);
  }
});

test('close(deadline): a response body that never ends cannot hold the pool past the deadline; the body fails', async (t) => {
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => { held.push(res); res.writeHead(200); res.write('start'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  const client = new OriginClient({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connectMs: 1000, headersMs: 1000, bodyMs: 60_000 });
  const res = await client.request({ method: 'GET', path: '/', headers: {} });
  let failed: unknown;
  res.body.on('data', () => {}).on('error', (err) => { failed = err; });
  const started = Date.now();
  await client.close(200);
  assert.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
  await new Promise((r) => setImmediate(r));
  assert.ok(failed, 'the unfinished body failed');
  assert.ok(res.body.destroyed);
});

test('classifyOriginError: DOMExceptions (numeric codes) never throw; a TimeoutError is a timeout, an AbortError an abort', () => {
  assert.equal(classifyOriginError(new DOMException('timed out', 'TimeoutError')).code, 'ORIGIN_TIMEOUT');
  assert.equal(classifyOriginError(new DOMException('aborted', 'AbortError')).code, 'ORIGIN_ABORTED');
  assert.equal(classifyOriginError(Object.assign(new Error('x'), { code: 42 })).code, 'ORIGIN_INTERNAL');
});

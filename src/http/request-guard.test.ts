// Tests for the request guard: each refusal with its status and code, the check order, and what passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequestHead, checkTransferCodings, headBytes, isValidHost, type RequestHead } from './request-guard.js';
import { DEFAULT_LIMITS } from './limits.js';

const head = (over: Partial<RequestHead> & { headers?: string[] } = {}): RequestHead => ({
  method: over.method ?? 'GET',
  url: over.url ?? '/',
  httpVersion: over.httpVersion ?? '1.1',
  rawHeaders: over.rawHeaders ?? over.headers ?? ['Host', 'a.example'],
});
const verdict = (h: RequestHead, limits = DEFAULT_LIMITS): string => {
  const r = checkRequestHead(h, limits);
  return r ? `${r.status} ${r.code}` : 'ok';
};

test('plain requests pass: origin-form, absolute-form, OPTIONS *, HTTP/1.0 with Host, chunked and sized content', () => {
  assert.equal(verdict(head()), 'ok');
  assert.equal(verdict(head({ url: '/a/%2e%2e//b;c?x=1&y' })), 'ok');
  assert.equal(verdict(head({ url: 'http://b.example:8080/x?y' })), 'ok');
  assert.equal(verdict(head({ url: 'HTTPS://B.example' })), 'ok');
  assert.equal(verdict(head({ method: 'OPTIONS', url: '*' })), 'ok');
  assert.equal(verdict(head({ httpVersion: '1.0' })), 'ok');
  assert.equal(verdict(head({ httpVersion: '1.0', url: 'http://b.example/', headers: [] })), 'ok', 'HTTP/1.0 absolute-form needs no Host');
  assert.equal(verdict(head({ method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', 'chunked'] })), 'ok');
  assert.equal(verdict(head({ method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', 'Chunked'] })), 'ok');
  assert.equal(verdict(head({ method: 'POST', headers: ['Host', 'a', 'Content-Length', '5'] })), 'ok');
  assert.equal(verdict(head({ headers: ['Host', 'a', 'X-Tab', 'a\tb', 'X-Latin1', 'caf\u00e9'] })), 'ok', 'HTAB and obs-text are allowed');
  assert.equal(verdict(head({ headers: ['Host', '[::1]:8080'] })), 'ok');
});

test('version: HTTP/0.9 is 400, HTTP/2+ over this connection is 505 (RFC 9112 §2.3)', () => {
  assert.equal(verdict(head({ httpVersion: '0.9', headers: [] })), '400 UNSUPPORTED_VERSION');
  assert.equal(verdict(head({ httpVersion: '2.0' })), '505 UNSUPPORTED_VERSION');
});

test('Host: missing, repeated, empty or invalid is 400 (RFC 9112 §3.2)', () => {
  assert.equal(verdict(head({ headers: [] })), '400 MISSING_HOST');
  assert.equal(verdict(head({ httpVersion: '1.0', headers: [] })), '400 MISSING_HOST');
  assert.equal(verdict(head({ headers: ['Host', 'a', 'Host', 'a'] })), '400 REPEATED_HOST', 'even equal values');
  assert.equal(verdict(head({ headers: ['Host', 'a', 'host', 'b'] })), '400 REPEATED_HOST');
  assert.equal(verdict(head({ url: 'http://b/', headers: ['Host', 'a', 'HOST', 'b'] })), '400 REPEATED_HOST', 'absolute-form too');
  for (const bad of ['', 'a b', 'a/b', 'a@b', 'u:p@a', 'a:', 'a:99999', 'a:x', 'a,b', '%61', '[zz]', 'a?b']) {
    assert.equal(verdict(head({ headers: ['Host', bad] })), '400 BAD_HOST', JSON.stringify(bad));
  }
  assert.ok(isValidHost('A-b_c.example.:65535'));
});

test('target: fragments, controls, spaces, non-ASCII, userinfo, other schemes and forms are 400', () => {
  for (const url of ['/a#b', '/a\u0000', '/a\u0001', '/a b', '/a\u007f', '/caf\u00e9', 'http://u:p@b/x', 'http://u@b/', 'ftp://b/x',
    'b:80', 'http:/x', 'http://', 'http://b c/', '*', '']) {
    assert.equal(verdict(head({ url })), '400 BAD_TARGET', JSON.stringify(url));
  }
});

test('fields: invalid names or CTLs (CR, LF, NUL, DEL …) in values are 400 (RFC 9110 §5.5)', () => {
  for (const [n, v] of [['Fo o', 'x'], ['Foo:', 'x'], ['', 'x'], ['Foo', 'a\rb'], ['Foo', 'a\nb'], ['Foo', 'a\u0000b'], ['Foo', '\u001f'], ['Foo', '\u007f']]) {
    assert.equal(verdict(head({ headers: ['Host', 'a', n!, v!] })), '400 BAD_FIELD', JSON.stringify([n, v]));
  }
});

test('framing: CL with TE, repeated or odd CL, TE in HTTP/1.0, TE not ending in chunked (RFC 9112 §6.1, §6.3)', () => {
  const post = (headers: string[], httpVersion = '1.1'): string => verdict(head({ method: 'POST', httpVersion, headers: ['Host', 'a', ...headers] }));
  assert.equal(post(['Content-Length', '3', 'Transfer-Encoding', 'chunked']), '400 CONTENT_LENGTH_WITH_TRANSFER_ENCODING');
  assert.equal(post(['Transfer-Encoding', 'chunked', 'Content-Length', '3']), '400 CONTENT_LENGTH_WITH_TRANSFER_ENCODING');
  assert.equal(post(['Content-Length', '3', 'Content-Length', '4']), '400 BAD_CONTENT_LENGTH');
  assert.equal(post(['Content-Length', '3', 'Content-Length', '3']), '400 BAD_CONTENT_LENGTH');
  for (const v of ['3, 3', '+3', '-1', '', ' 3x', '0x10', '99999999999999999']) assert.equal(post(['Content-Length', v]), '400 BAD_CONTENT_LENGTH', v);
  assert.equal(post(['Transfer-Encoding', 'chunked'], '1.0'), '400 TRANSFER_ENCODING_IN_HTTP10');
  assert.equal(post(['Transfer-Encoding', 'gzip']), '400 TRANSFER_ENCODING_NOT_CHUNKED');
  assert.equal(post(['Transfer-Encoding', 'chunked, gzip']), '400 TRANSFER_ENCODING_NOT_CHUNKED');
  assert.equal(post(['Transfer-Encoding', ',']), '400 TRANSFER_ENCODING_NOT_CHUNKED');
  assert.equal(post(['Transfer-Encoding', 'foo']), '501 UNKNOWN_TRANSFER_CODING');
  assert.equal(post(['Transfer-Encoding', 'identity']), '501 UNKNOWN_TRANSFER_CODING');
  assert.equal(post(['Transfer-Encoding', 'xchunked']), '501 UNKNOWN_TRANSFER_CODING');
  assert.equal(post(['Transfer-Encoding', 'chunked, foo']), '501 UNKNOWN_TRANSFER_CODING');
  assert.equal(post(['Transfer-Encoding', 'gzip, chunked']), '501 UNKNOWN_TRANSFER_CODING', 'known, but the edge does not decode it');
  assert.equal(post(['Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked']), '501 UNKNOWN_TRANSFER_CODING', 'lines are one list');
  assert.equal(checkTransferCodings(['chunked']), undefined);
});

test('limits at their defaults: head 16 KiB (431), target 8 KiB (414), declared content 100 MiB (413)', () => {
  const L = DEFAULT_LIMITS;
  const withHead = (bytes: number): RequestHead => {
    const h = head({ headers: ['Host', 'a', 'X-Pad', ''] });
    (h.rawHeaders as string[])[3] = 'p'.repeat(bytes - headBytes(h));
    assert.equal(headBytes(h), bytes);
    return h;
  };
  assert.equal(verdict(withHead(L.maxHeaderBytes)), 'ok');
  assert.equal(verdict(withHead(L.maxHeaderBytes + 1)), '431 HEAD_TOO_LARGE');
  assert.equal(verdict(head({ url: `/${'u'.repeat(L.maxUrlBytes - 1)}` })), 'ok');
  assert.equal(verdict(head({ url: `/${'u'.repeat(L.maxUrlBytes)}` })), '414 URL_TOO_LONG');
  assert.equal(verdict(head({ url: `/${'u'.repeat(L.maxHeaderBytes)}` })), '431 HEAD_TOO_LARGE', 'the whole head over the limit wins over 414');
  const cl = (n: number): string => verdict(head({ method: 'PUT', headers: ['Host', 'a', 'Content-Length', String(n)] }));
  assert.equal(cl(L.maxBodyBytes), 'ok');
  assert.equal(cl(L.maxBodyBytes + 1), '413 BODY_TOO_LARGE');
});

test('limits at configured values', () => {
  const L = { maxHeaderBytes: 2048, maxUrlBytes: 100, maxBodyBytes: 10 };
  assert.equal(verdict(head({ url: `/${'u'.repeat(99)}` }), { ...DEFAULT_LIMITS, ...L }), 'ok');
  assert.equal(verdict(head({ url: `/${'u'.repeat(100)}` }), { ...DEFAULT_LIMITS, ...L }), '414 URL_TOO_LONG');
  assert.equal(verdict(head({ headers: ['Host', 'a', 'X', 'x'.repeat(2048)] }), { ...DEFAULT_LIMITS, ...L }), '431 HEAD_TOO_LARGE');
  assert.equal(verdict(head({ method: 'POST', headers: ['Host', 'a', 'Content-Length', '10'] }), { ...DEFAULT_LIMITS, ...L }), 'ok');
  assert.equal(verdict(head({ method: 'POST', headers: ['Host', 'a', 'Content-Length', '11'] }), { ...DEFAULT_LIMITS, ...L }), '413 BODY_TOO_LARGE');
});

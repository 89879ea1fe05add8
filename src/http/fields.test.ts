// Tests for the shared field grammar: token syntax, the hop-by-hop list, Connection options and request content.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { connectionTokens, hasContent, HOP_BY_HOP_FIELDS, isTchar, isToken, TOKEN_RE } from './fields.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

test('RFC 9110 §5.6.2: tchar is exactly the 15 symbols, DIGIT and ALPHA', () => {
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(isTchar(ch), TCHARS.includes(ch), `U+${c.toString(16)}`);
  }
  assert.equal(isTchar(undefined), false);
  assert.equal(isTchar(''), false);
  assert.equal(isTchar('ab'), false, 'one character only');
  assert.equal(isTchar('\u0100'), false);
});

test('RFC 9110 §5.6.2: token = 1*tchar', () => {
  for (const good of ['GET', 'x-custom', 'Accept-Language', "!#$%&'*+-.^_`|~", 'bytes', 'a1']) assert.equal(isToken(good), true, good);
  for (const bad of ['', 'a b', 'a:b', 'a,b', '"a"', 'a/b', 'a(b)', 'a\tb', 'a\u00e9', 'a\nb', 'a;b', 'a=b', '{a}', 'a@b', 'a[b]', 'a?b', 'a\\b']) {
    assert.equal(isToken(bad), false, JSON.stringify(bad));
  }
  assert.equal(TOKEN_RE.test('x-a'), true);
});

test('property: isToken agrees with isTchar on every character', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }), (s) => {
    assert.equal(isToken(s), [...s].every((ch) => isTchar(ch)));
  }));
});

test('RFC 9110 §7.6.1, RFC 9111 §3.1: one hop-by-hop list, the union of both former lists', () => {
  assert.deepEqual([...HOP_BY_HOP_FIELDS].sort(), [
    'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authentication-info', 'proxy-authorization',
    'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  ]);
  for (const name of HOP_BY_HOP_FIELDS) assert.equal(name, name.toLowerCase());
  assert.equal(HOP_BY_HOP_FIELDS.has('host'), false);
  assert.equal(HOP_BY_HOP_FIELDS.has('content-length'), false);
});

test('RFC 9110 §7.6.1: Connection options are lowercased, trimmed, deduplicated, empty members skipped', () => {
  assert.equal(connectionTokens(undefined), undefined);
  assert.equal(connectionTokens(''), undefined);
  assert.equal(connectionTokens(' , ,'), undefined);
  assert.deepEqual(connectionTokens('Keep-Alive, X-Secret ,,x-secret'), new Set(['keep-alive', 'x-secret']));
  assert.deepEqual(connectionTokens(['close', ' Upgrade ']), new Set(['close', 'upgrade']), 'field lines are combined');
});

test('RFC 9112 §6.3: a request has content iff Transfer-Encoding, or a Content-Length that is not zero', () => {
  const table: [Record<string, string | string[] | undefined>, boolean][] = [
    [{}, false],
    [{ 'content-length': undefined }, false],
    [{ 'content-length': '0' }, false],
    [{ 'content-length': '000' }, false],
    [{ 'content-length': ' 0 ' }, false],
    [{ 'content-length': '1' }, true],
    [{ 'content-length': '10' }, true],
    [{ 'content-length': '01' }, true],
    [{ 'content-length': '' }, true],
    [{ 'content-length': 'abc' }, true],
    [{ 'content-length': ['0', '0'] }, true],
    [{ 'transfer-encoding': 'chunked' }, true],
    [{ 'transfer-encoding': 'chunked', 'content-length': '0' }, true],
    [{ 'transfer-encoding': '' }, true],
  ];
  for (const [headers, expected] of table) assert.equal(hasContent(headers), expected, JSON.stringify(headers));
});

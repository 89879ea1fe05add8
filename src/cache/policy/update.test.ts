// Tests for validation: conditional fields, 304 selection and freshening stored fields (RFC 9111 §3.2, §4.3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideStore } from './storable.js';
import { DEFAULT_POLICY_OPTIONS } from './types.js';
import { selectedByValidators, updateStoredHeaders, validatorsFor } from './update.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toUTCString();
const LM = 'Wed, 01 Jan 2020 00:00:00 GMT';

test('RFC 9111 §3.2: fields of the 304 replace the stored ones; others are kept (suite 304-lm-use-stored-Test-Header)', () => {
  const stored = { 'cache-control': 'max-age=1', 'test-header': 'A', 'x-keep': 'k', date: at(0), etag: '"e"' };
  const updated = updateStoredHeaders(stored, { 'cache-control': 'max-age=3600', 'test-header': 'B', date: at(5) });
  assert.deepEqual(updated, { 'cache-control': 'max-age=3600', 'test-header': 'B', 'x-keep': 'k', date: at(5), etag: '"e"' });
  assert.equal(stored['test-header'], 'A'); // the input is not mutated
});

test('RFC 9111 §3.2: a field with several lines is replaced as a whole', () => {
  const updated = updateStoredHeaders({ link: ['<a>', '<b>'], 'x-a': '1' }, { link: '<c>' });
  assert.deepEqual(updated, { link: '<c>', 'x-a': '1' });
});

test('RFC 9111 §3.2: Content-Length is never updated (suite 304-etag-update-response-Content-Length)', () => {
  const updated = updateStoredHeaders({ 'content-length': '36' }, { 'content-length': '10' });
  assert.equal(updated['content-length'], '36');
});

test('RFC 9111 §3.2: fields describing the stored bytes and hop-by-hop / proxy fields are not updated', () => {
  const stored = { 'content-encoding': 'gzip', 'content-range': 'bytes 0-1/2' };
  const fresh304 = {
    'content-encoding': 'br', 'content-range': 'bytes 0-9/10', 'transfer-encoding': 'chunked', connection: 'x-hop',
    'x-hop': '1', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', upgrade: 'h2c', 'x-new': 'n',
  };
  assert.deepEqual(updateStoredHeaders(stored, fresh304), { ...stored, 'x-new': 'n' });
});

test('RFC 9111 §7.3 (product decision): a 304 cannot add Set-Cookie to a stored response', () => {
  const updated = updateStoredHeaders({ 'x-a': '1' }, { 'set-cookie': ['sid=secret'], 'set-cookie2': 'a=b', 'x-a': '2' });
  assert.deepEqual(updated, { 'x-a': '2' });
});

test('RFC 9111 §4.2.3: the stored Age is dropped unless the 304 carries one', () => {
  assert.equal(updateStoredHeaders({ age: '500', a: '1' }, { a: '2' }).age, undefined);
  assert.equal(updateStoredHeaders({ age: '500' }, { age: '3' }).age, '3');
});

test('RFC 9111 §3.1: fields listed by a qualified no-cache / private in the updated response are removed', () => {
  const updated = updateStoredHeaders({ 'x-secret': 's', 'x-ok': 'o' }, { 'cache-control': 'max-age=60, private="x-secret"' });
  assert.deepEqual(updated, { 'x-ok': 'o', 'cache-control': 'max-age=60, private="x-secret"' });
});

test('RFC 9111 §4.3.4: a freshened response gets the 304\'s freshness (suite 304-etag-update-response-Cache-Control)', () => {
  const stored = { 'cache-control': 'max-age=1', etag: '"v"', date: at(-10) };
  const merged = updateStoredHeaders(stored, { 'cache-control': 'max-age=3600', etag: '"v"', date: at(0) });
  const d = decideStore({ method: 'GET', headers: {} }, { status: 200, headers: merged }, T0, T0, DEFAULT_POLICY_OPTIONS);
  assert.ok(d.storable);
  assert.equal(d.freshness.lifetime, 3600);
  assert.equal(d.freshness.correctedInitialAge, 0);
});

test('RFC 9111 §4.3.1: validators for revalidation: If-None-Match from ETag, If-Modified-Since from Last-Modified', () => {
  assert.deepEqual(validatorsFor({ etag: '"abc"', 'last-modified': LM }), { 'if-none-match': '"abc"', 'if-modified-since': LM });
  assert.deepEqual(validatorsFor({ etag: 'W/"abc"' }), { 'if-none-match': 'W/"abc"' });
  assert.deepEqual(validatorsFor({ 'last-modified': LM }), { 'if-modified-since': LM });
  assert.deepEqual(validatorsFor({ etag: 'abcdef' }), { 'if-none-match': '"abcdef"' }); // unquoted origin ETag
  assert.deepEqual(validatorsFor({ etag: ['"first"', '"second"'] }), { 'if-none-match': '"first"' });
  assert.deepEqual(validatorsFor({ 'last-modified': 'yesterday' }), {}); // an invalid date is not a validator
  assert.deepEqual(validatorsFor({ etag: '  ' }), {});
  assert.deepEqual(validatorsFor({}), {});
});

test('RFC 9111 §4.3.4 / RFC 9110 §8.8.3.2: a strong ETag in the 304 must equal the stored one (strong comparison)', () => {
  assert.equal(selectedByValidators({ etag: '"a"' }, { etag: '"a"' }), true);
  assert.equal(selectedByValidators({ etag: '"a"' }, { etag: '"b"' }), false);
  assert.equal(selectedByValidators({ etag: 'W/"a"' }, { etag: '"a"' }), false);
  assert.equal(selectedByValidators({ 'last-modified': LM }, { etag: '"a"' }), false);
  assert.equal(selectedByValidators({ etag: 'abc' }, { etag: '"abc"' }), true); // unquoted stored ETag
});

test('RFC 9111 §4.3.4: a weak ETag in the 304 uses the weak comparison', () => {
  assert.equal(selectedByValidators({ etag: '"a"' }, { etag: 'W/"a"' }), true);
  assert.equal(selectedByValidators({ etag: 'W/"a"' }, { etag: 'W/"a"' }), true);
  assert.equal(selectedByValidators({ etag: 'W/"a"' }, { etag: 'W/"b"' }), false);
});

test('RFC 9111 §4.3.4: without an ETag, Last-Modified must denote the same instant', () => {
  assert.equal(selectedByValidators({ 'last-modified': LM }, { 'last-modified': LM }), true);
  assert.equal(selectedByValidators({ 'last-modified': LM }, { 'last-modified': 'Wednesday, 01-Jan-20 00:00:00 GMT' }), true);
  assert.equal(selectedByValidators({ 'last-modified': LM }, { 'last-modified': 'Thu, 02 Jan 2020 00:00:00 GMT' }), false);
  assert.equal(selectedByValidators({}, { 'last-modified': LM }), false);
  assert.equal(selectedByValidators({ 'last-modified': 'bad' }, { 'last-modified': 'bad' }), false);
  // An rfc850 two-digit year is placed with the clock passed in (before, a fixed 1970 made "24" read as 1924).
  const lm2024 = 'Wed, 06 Nov 2024 08:49:37 GMT';
  assert.equal(selectedByValidators({ 'last-modified': lm2024 }, { 'last-modified': 'Wednesday, 06-Nov-24 08:49:37 GMT' }, T0), true);
  assert.equal(selectedByValidators({ 'last-modified': lm2024 }, { 'last-modified': 'Wednesday, 06-Nov-24 08:49:37 GMT' }, 0), false);
});

test('RFC 9111 §4.3.4: a 304 without validators selects the one stored response it was asked about', () => {
  assert.equal(selectedByValidators({}, { date: at(0) }), true);
  assert.equal(selectedByValidators({ etag: '"a"' }, {}), true);
});

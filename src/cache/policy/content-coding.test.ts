// Content codings made at the edge: eligibility, the coding a request gets, ETag and Vary of a compressed representation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptedCodings, canCompress, codedEntityTag, compileCodingPolicy, DEFAULT_COMPRESS_TYPES, isCompressibleType, representationFields,
  varyWithAcceptEncoding,
} from './content-coding.js';

const policy = compileCodingPolicy({ types: DEFAULT_COMPRESS_TYPES, minBytes: 100, brotliQuality: 5 });

test('compressible types: exact types and type/* patterns, parameters and case ignored', () => {
  for (const t of ['text/html; charset=utf-8', 'TEXT/CSS', 'application/json', 'image/svg+xml', 'application/wasm']) assert.equal(isCompressibleType(policy, t), true, t);
  for (const t of ['image/png', 'application/octet-stream', 'video/mp4', '', undefined]) assert.equal(isCompressibleType(policy, t), false, String(t));
  const own = compileCodingPolicy({ types: ['application/x-custom'], minBytes: 0, brotliQuality: 5 });
  assert.equal(isCompressibleType(own, 'application/x-custom'), true);
  assert.equal(isCompressibleType(own, 'text/html'), false, 'a configured list replaces the default');
});

test('only 200s in identity, complete, big enough and without no-transform are compressed (RFC 9111 §5.2.2.6)', () => {
  const ok = { 'content-type': 'text/css' };
  assert.equal(canCompress(policy, 200, ok, 500), true);
  assert.equal(canCompress(policy, 200, ok, undefined), true, 'length not known yet');
  assert.equal(canCompress(policy, 200, { ...ok, 'content-encoding': 'identity' }, 500), true);
  assert.equal(canCompress(policy, 200, ok, 99), false, 'under minBytes');
  assert.equal(canCompress(policy, 206, ok, 500), false);
  assert.equal(canCompress(policy, 404, ok, 500), false);
  assert.equal(canCompress(policy, 200, { ...ok, 'content-encoding': 'gzip' }, 500), false, 'already coded');
  assert.equal(canCompress(policy, 200, { ...ok, 'content-range': 'bytes 0-9/10' }, 500), false);
  assert.equal(canCompress(policy, 200, { ...ok, 'cache-control': 'max-age=60, no-transform' }, 500), false);
  assert.equal(canCompress(policy, 200, { 'content-type': 'image/png' }, 500), false);
});

test('Accept-Encoding folds to br and gzip, best first, or none (RFC 9110 §12.5.3)', () => {
  assert.deepEqual(acceptedCodings('gzip, deflate, br'), ['br', 'gzip']);
  assert.deepEqual(acceptedCodings('gzip'), ['gzip']);
  assert.deepEqual(acceptedCodings('x-gzip;q=0.5'), ['gzip']);
  assert.deepEqual(acceptedCodings('br;q=1, gzip;q=0'), ['br']);
  assert.deepEqual(acceptedCodings('*'), ['br', 'gzip']);
  assert.deepEqual(acceptedCodings('identity'), []);
  assert.deepEqual(acceptedCodings('deflate'), []);
  assert.deepEqual(acceptedCodings(undefined), []);
  assert.deepEqual(acceptedCodings(['gzip', 'br']), ['br', 'gzip'], 'field lines combined');
});

test('a compressed representation has its own ETag (RFC 9110 §8.8.3), Content-Encoding, Content-Length and Vary', () => {
  assert.equal(codedEntityTag('"abc"', 'gzip'), '"abc-gzip"');
  assert.equal(codedEntityTag('W/"abc"', 'br'), 'W/"abc-br"');
  assert.equal(codedEntityTag('junk', 'br'), 'junk');
  assert.equal(varyWithAcceptEncoding(undefined), 'Accept-Encoding');
  assert.equal(varyWithAcceptEncoding('Origin'), 'Origin, Accept-Encoding');
  assert.equal(varyWithAcceptEncoding('accept-encoding'), 'accept-encoding');
  assert.equal(varyWithAcceptEncoding('*'), '*');
  const fields: [string, string][] = [['content-type', 'text/css'], ['etag', '"v1"'], ['vary', 'Origin'], ['content-length', '5000']];
  assert.deepEqual(representationFields(fields, 'gzip', 800),
    ['content-type', 'text/css', 'etag', '"v1-gzip"', 'content-encoding', 'gzip', 'content-length', '800', 'vary', 'Origin, Accept-Encoding']);
  assert.deepEqual(representationFields(fields, undefined, 5000),
    ['content-type', 'text/css', 'etag', '"v1"', 'content-length', '5000', 'vary', 'Origin, Accept-Encoding']);
});

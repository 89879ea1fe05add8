// Tests for invalidation after unsafe requests (RFC 9111 §4.4).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalidationTargets } from './invalidation.js';

const target = new URL('http://cdn.example.com/items/1?x=1');
const hrefs = (method: string, status: number, headers: Record<string, string | string[] | undefined> = {}) =>
  invalidationTargets(method, status, target, headers).map((u) => u.href);

test('RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI (suite invalidate-*)', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'M-SEARCH', 'get']) {
    assert.deepEqual(hrefs(method, 200), [target.href], method);
  }
  assert.deepEqual(hrefs('POST', 204), [target.href]);
  assert.deepEqual(hrefs('POST', 303), [target.href]);
});

test('RFC 9111 §4.4: safe methods and error statuses invalidate nothing (suite invalidate-*-failed)', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE']) assert.deepEqual(hrefs(method, 200), [], method);
  for (const status of [100, 400, 404, 500, 503]) assert.deepEqual(hrefs('POST', status), [], String(status));
});

test('RFC 9111 §4.4: same-origin Location and Content-Location are invalidated too (suite invalidate-*-location, -cl)', () => {
  assert.deepEqual(hrefs('POST', 201, { location: '/items/2', 'content-location': 'http://cdn.example.com/items/3?y=2' }), [
    target.href, 'http://cdn.example.com/items/2', 'http://cdn.example.com/items/3?y=2',
  ]);
  assert.deepEqual(hrefs('PUT', 200, { 'content-location': 'sibling' }), [target.href, 'http://cdn.example.com/items/sibling']);
});

test('RFC 9111 §4.4: URIs of another origin are never invalidated; the scheme is not compared', () => {
  assert.deepEqual(hrefs('POST', 200, { location: 'http://evil.example.net/items/1' }), [target.href]);
  assert.deepEqual(hrefs('POST', 200, { location: 'http://cdn.example.com:8080/items/1' }), [target.href]);
  // a TLS-terminating reverse proxy sees http while clients used https
  assert.deepEqual(hrefs('POST', 200, { location: 'https://CDN.example.com/items/9' }),
    [target.href, 'http://cdn.example.com/items/9']);
});

test('RFC 9111 §4.4: malformed or non-HTTP references are skipped; duplicates and fragments removed', () => {
  assert.deepEqual(hrefs('POST', 200, { location: 'http://[bad', 'content-location': 'mailto:a@b.c' }), [target.href]);
  assert.deepEqual(hrefs('POST', 200, { location: '/items/1?x=1#frag', 'content-location': '' }), [target.href]);
  assert.deepEqual(hrefs('POST', 200, { location: ['/a', '/b'] }), [target.href, 'http://cdn.example.com/a']);
});

// Tests for resolving a request target: origin form and absolute form, Host, zone routing, query normalisation, refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../config/load.js';
import { primaryKey, RequestKey } from '../cache/key.js';
import { compileZones } from './zones.js';
import { resolveTarget, TargetRefusal } from './target.js';

const router = compileZones(validateConfig({
  zones: [
    { id: 'sorted', hosts: ['cdn.example'], origin: 'http://127.0.0.1:1', cacheKey: { query: 'sorted' } },
    { id: 'noquery', hosts: ['*.static.example'], origin: 'http://127.0.0.1:1', cacheKey: { query: 'none' } },
  ],
}, 'test'));
test.after(() => router.close());

const keyOf = (url: string | undefined, host: string | undefined) => {
  const k = resolveTarget(url, host, router);
  assert.ok(k instanceof RequestKey, `a key for ${url} on ${host}, got ${JSON.stringify(k)}`);
  return k;
};

test('origin form: Host names the zone, lowercased with a default port dropped; the query normalised as the zone says', () => {
  const k = keyOf('/a/b.js?z=1&a=2', 'CDN.example:80');
  assert.equal(k.zone.id, 'sorted');
  assert.equal(k.host, 'cdn.example');
  assert.equal(k.path, '/a/b.js');
  assert.equal(k.query, 'a=2&z=1');
  assert.equal(k.target, '/a/b.js?a=2&z=1', 'what is keyed is what is forwarded');
  assert.equal(k.objectKey, primaryKey('sorted', 'cdn.example', '/a/b.js', 'a=2&z=1'));
  assert.equal(keyOf('/x?b=1', 'cdn.example').target, '/x?b=1', 'an unchanged query forwards the URL as it came');
  assert.equal(keyOf('/x?', 'cdn.example').target, '/x', 'an empty query forwards no "?"');
  const n = keyOf('/img.png?v=3', 'a.static.example:8080');
  assert.equal(n.zone.id, 'noquery');
  assert.equal(n.host, 'a.static.example:8080', 'another port is another host');
  assert.equal(n.target, '/img.png');
});

test('absolute form: its authority replaces Host (RFC 9112 §3.2.2)', () => {
  // https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
  const k = keyOf('http://CDN.example/p?b=2&a=1', 'elsewhere.example');
  assert.equal(k.host, 'cdn.example');
  assert.equal(k.target, '/p?a=1&b=2');
  assert.equal(keyOf('https://cdn.example', undefined).target, '/');
  assert.equal(keyOf('http://cdn.example?q=1', undefined).path, '/');
});

test('refusals: a target that is neither a path nor an absolute http(s) URL is 400; a host no zone serves is 421', () => {
  for (const url of ['*', 'ftp://cdn.example/x', 'cdn.example/x', 'http://']) {
    const r = resolveTarget(url, 'cdn.example', router);
    assert.ok(r instanceof TargetRefusal && r.status === 400, url);
  }
  const r = resolveTarget('/x', 'nobody.example', router);
  assert.ok(r instanceof TargetRefusal);
  assert.equal(r.status, 421);
  assert.match(r.message, /nobody\.example/);
  const none = resolveTarget('/x', undefined, router);
  assert.ok(none instanceof TargetRefusal && none.status === 421, 'no Host at all');
});

// Tests for the request key: one value per request (object key, preflight key, selector made once, collapse keys).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileQueryNormalizer, objectKeyOf, pathMember, preflightObjectKey, PREFLIGHT_KEY_NAMES, primaryKey, RequestKey, selectorOf,
  zoneScoped, type KeyZone,
} from './key.js';
import { normalizeVaryValue } from './policy/vary.js';

const zone: KeyZone = { id: 'z1', keyHeaders: ['origin'], normalizeQuery: compileQueryNormalizer('sorted') };

test('a request key names its object: zone, host, path and normalised query, as primaryKey composes them', () => {
  const k = new RequestKey(zone, 'cdn.example:8080', '/a.js', 'a=1&b=2', '/a.js?a=1&b=2');
  assert.equal(k.zoneId, 'z1');
  assert.equal(k.objectKey, primaryKey('z1', 'cdn.example:8080', '/a.js', 'a=1&b=2'));
  assert.equal(k.objectKey, zoneScoped('z1', `cdn.example:8080\u0000${pathMember('/a.js', 'a=1&b=2')}`));
  assert.deepEqual(objectKeyOf(k), { zoneId: 'z1', host: 'cdn.example:8080', path: '/a.js', query: 'a=1&b=2', objectKey: k.objectKey });
  assert.equal(k.isPreflight, false);
  assert.equal(k.keyNames, zone.keyHeaders, 'the zone key headers select variants');
});

test('the preflight key: its own object key beside the URL\'s, the preflight selection rule, made once', () => {
  const k = new RequestKey(zone, 'cdn.example', '/api', '', '/api');
  const p = k.preflight();
  assert.equal(p.objectKey, preflightObjectKey(k.objectKey));
  assert.notEqual(p.objectKey, k.objectKey);
  assert.equal(p.isPreflight, true);
  assert.deepEqual(p.keyNames, PREFLIGHT_KEY_NAMES);
  assert.equal(k.preflight(), p, 'one preflight key per request');
  assert.equal(p.preflight(), p);
  assert.equal(p.target, '/api', 'the same target is forwarded');
});

test('the selector is computed once per request, over the key headers (or the preflight names)', () => {
  let calls = 0;
  const counting = (name: string, value: string | string[] | undefined): string | undefined => { calls++; return normalizeVaryValue(name, value); };
  const headers = { origin: 'https://a.example', 'access-control-request-method': 'PUT' };
  const k = new RequestKey(zone, 'cdn.example', '/x', '', '/x');
  assert.equal(k.selector(headers, counting), selectorOf(['origin'], headers, normalizeVaryValue));
  k.selector(headers, counting);
  k.fetchKey(headers, counting);
  k.collapseKey(headers, counting, 7);
  assert.equal(calls, 1, 'one normalisation for every use of the selector');
  const p = k.preflight();
  assert.equal(p.selector(headers, normalizeVaryValue), selectorOf(PREFLIGHT_KEY_NAMES, headers, normalizeVaryValue));
});

test('collapse keys: one per object and selector; a miss and the revalidation of a variant never share one', () => {
  const a = { origin: 'https://a.example' };
  const b = { origin: 'https://b.example' };
  const key = (h: typeof a) => new RequestKey(zone, 'cdn.example', '/x', '', '/x').collapseKey(h, normalizeVaryValue);
  assert.equal(key(a), key({ ...a }), 'identical requests collapse');
  assert.notEqual(key(a), key(b), 'another Origin is another fetch');
  const k = new RequestKey(zone, 'cdn.example', '/x', '', '/x');
  assert.notEqual(k.collapseKey(a, normalizeVaryValue), k.collapseKey(a, normalizeVaryValue, 3));
  assert.notEqual(k.collapseKey(a, normalizeVaryValue, 3), k.collapseKey(a, normalizeVaryValue, 4));
  assert.ok(k.collapseKey(a, normalizeVaryValue).startsWith(k.fetchKey(a, normalizeVaryValue)), 'the cross-node fetch lock is the collapse key without the kind');
  assert.notEqual(k.backgroundKey(3), k.collapseKey(a, normalizeVaryValue, 3));
});

test('a sibling key (an invalidation target on the same host) normalises its query as the zone does', () => {
  const k = new RequestKey(zone, 'cdn.example', '/x', '', '/x');
  const s = k.sibling('/list', 'b=2&a=1');
  assert.equal(s.query, 'a=1&b=2');
  assert.equal(s.target, '/list?a=1&b=2');
  assert.equal(s.objectKey, primaryKey('z1', 'cdn.example', '/list', 'a=1&b=2'));
  assert.equal(k.sibling('/list', '').target, '/list', 'an empty query forwards no "?"');
});

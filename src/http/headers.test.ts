// Tests for proxy header plumbing: hop-by-hop and Connection-listed fields, stripped and edge-owned fields, keyed
// forwarding fields and key-normalised values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { dropConnectionListed, fieldOf, forwardHeaders, responseFields, type ForwardOptions } from './headers.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';

const base: ForwardOptions = { strip: new Set(['x-forwarded-host', 'x-original-url']), host: 'shop.example', proto: 'http', peer: '192.0.2.1', trustPeer: false };

test('hop-by-hop, Connection-listed, stripped and edge-owned fields are not forwarded as sent', () => {
  const out = forwardHeaders({
    host: 'evil.example', connection: 'keep-alive, x-secret', 'keep-alive': 'timeout=5', te: 'trailers', 'transfer-encoding': 'chunked',
    upgrade: 'h2c', 'x-secret': '1', 'x-original-url': '/admin', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'gopher',
    'x-forwarded-for': '6.6.6.6', expect: '100-continue', via: '1.0 other', accept: 'text/css',
  }, base);
  assert.deepEqual(out, {
    accept: 'text/css', host: 'shop.example', 'x-forwarded-for': '192.0.2.1', 'x-forwarded-proto': 'http',
    'x-forwarded-host': 'shop.example', forwarded: 'for=192.0.2.1;host=shop.example;proto=http', via: '1.0 other, 1.1 edgecache',
  });
});

test('RFC 7239: Forwarded names this hop: the client address (IPv6 quoted in brackets), the host and the listener scheme', () => {
  assert.equal(forwardHeaders({ forwarded: 'for=evil;proto=https' }, { ...base, proto: 'https' }).forwarded, 'for=192.0.2.1;host=shop.example;proto=https');
  assert.equal(forwardHeaders({}, { ...base, peer: '::1', host: 'shop.example:8443' }).forwarded, 'for="[::1]";host="shop.example:8443";proto=http');
  assert.equal(forwardHeaders({}, { ...base, proto: 'https' })['x-forwarded-proto'], 'https');
});

test('RFC 7239 §4: a trusted proxy\'s Forwarded elements are kept, ours appended with the scheme of our own hop', () => {
  const out = forwardHeaders({}, { ...base, trustPeer: true, proto: 'https', priorForwarded: 'for=203.0.113.7;proto=https', hopProto: 'http' });
  assert.equal(out.forwarded, 'for=203.0.113.7;proto=https, for=192.0.2.1;host=shop.example;proto=http');
  assert.equal(out['x-forwarded-proto'], 'https');
});

test('X-Forwarded-For is appended to only for a trusted peer', () => {
  assert.equal(forwardHeaders({ 'x-forwarded-for': '203.0.113.7' }, { ...base, trustPeer: true })['x-forwarded-for'], '203.0.113.7, 192.0.2.1');
  assert.equal(forwardHeaders({ 'x-forwarded-for': '203.0.113.7' }, base)['x-forwarded-for'], '192.0.2.1');
});

test('a keyed X-Forwarded-Host / -Proto is forwarded as sent; keyed values are forwarded as the key normalises them', () => {
  const keyed = ['x-forwarded-host', 'accept-language'];
  const strip = new Set(['x-original-url']);
  const lower = (_n: string, v: string | string[] | undefined): string | undefined => (v === undefined ? undefined : String(v).toLowerCase());
  const out = forwardHeaders({ 'x-forwarded-host': 'WWW.shop.example', 'accept-language': 'EN' }, { ...base, strip, keyed, normalize: lower });
  assert.equal(out['x-forwarded-host'], 'www.shop.example');
  assert.equal(out['accept-language'], 'en');
  assert.equal(out['x-forwarded-proto'], 'http', 'unkeyed: replaced');
  assert.equal(forwardHeaders({}, { ...base, strip, keyed })['x-forwarded-host'], 'shop.example', 'keyed but absent: the edge value');
});

test('dropConnectionListed removes the fields a client lists in Connection, never routing or framing fields', () => {
  const h: IncomingHttpHeaders = { connection: 'close, origin, Host, content-length, transfer-encoding, x-a', origin: 'https://a.example', host: 'a', 'content-length': '3', 'x-a': '1', 'x-b': '2' };
  dropConnectionListed(h);
  assert.deepEqual(h, { connection: 'close, origin, Host, content-length, transfer-encoding, x-a', host: 'a', 'content-length': '3', 'x-b': '2' });
});

test('RFC 9110 §7.6.1, RFC 9111 §3.1: the one hop-by-hop list applies to origin responses and client requests alike', () => {
  const fields = responseFields({
    connection: 'X-Hop', 'x-hop': '1', 'keep-alive': 'timeout=5', trailer: 'x-checksum', 'transfer-encoding': 'chunked',
    'proxy-authenticate': 'Basic', 'proxy-authentication-info': 'nextnonce="a"', 'x-drop': '1', 'cache-control': 'max-age=60',
  }, new Set(['x-drop']));
  assert.deepEqual(fields, [['cache-control', 'max-age=60']]);
  const out = forwardHeaders({ 'proxy-authentication-info': 'x', trailer: 'x-checksum', 'proxy-authorization': 'Basic eA==', accept: '*/*' }, base);
  assert.equal(out.accept, '*/*');
  for (const name of ['proxy-authentication-info', 'trailer', 'proxy-authorization']) assert.equal(out[name], undefined, name);
});

test('a cache fetch forwards Accept-Encoding as the key holds it; a pass forwards it as sent', () => {
  const h: IncomingHttpHeaders = { 'accept-encoding': 'gzip, deflate, BR, zstd' };
  const cacheFetch = forwardHeaders(h, { ...base, normalize: normalizeVaryValue, dropForCacheFetch: new Set(['range']) });
  assert.equal(cacheFetch['accept-encoding'], 'br, gzip');
  assert.equal(cacheFetch['accept-encoding'], normalizeVaryValue('accept-encoding', h['accept-encoding']));
  assert.equal(forwardHeaders({ 'accept-encoding': 'x-junk' }, { ...base, normalize: normalizeVaryValue, dropForCacheFetch: new Set() })['accept-encoding'], 'identity');
  assert.equal(forwardHeaders({}, { ...base, normalize: normalizeVaryValue, dropForCacheFetch: new Set() })['accept-encoding'], undefined);
  assert.equal(forwardHeaders(h, { ...base, normalize: normalizeVaryValue })['accept-encoding'], 'gzip, deflate, BR, zstd');
});

test('fieldOf reads own field values only: a name that is an Object.prototype key is absent', () => {
  const h: IncomingHttpHeaders = { origin: 'https://a.example', 'x-list': ['a', 'b'] };
  assert.equal(fieldOf(h, 'origin'), 'https://a.example');
  assert.deepEqual(fieldOf(h, 'x-list'), ['a', 'b']);
  for (const name of [...Object.getOwnPropertyNames(Object.prototype), 'prototype']) assert.equal(fieldOf(h, name), undefined, name);
  assert.equal(fieldOf({ constructor: 'c' }, 'constructor'), 'c');
  // Keyed fields named like Object.prototype keys are forwarded when sent and absent when not, never a crash.
  const out = forwardHeaders({ constructor: 'c' }, { ...base, keyed: ['constructor', '__proto__', 'tostring'], normalize: normalizeVaryValue });
  assert.equal(out.constructor, 'c');
  assert.equal(Object.hasOwn(out, '__proto__'), false);
  assert.equal(Object.hasOwn(out, 'tostring'), false);
});

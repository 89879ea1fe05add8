// Tests for targeted cache-control fields (RFC 9213) and their Structured Field parsing (RFC 8941).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { computeFreshness } from './freshness.js';
import { decideStore } from './storable.js';
import {
  NOT_FORWARDED_TO_CLIENTS, parseSfDictionary, parseTargetedField, selectResponseCacheControl,
} from './targeted.js';
import { DEFAULT_POLICY_OPTIONS, type Headers } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const httpDate = (ms: number): string => new Date(ms).toUTCString();
const GET = { method: 'GET', headers: {} };
const store = (headers: Headers) => decideStore(GET, { status: 200, headers }, T0, T0, DEFAULT_POLICY_OPTIONS);
const lifetime = (headers: Headers) => computeFreshness(GET, { status: 200, headers }, T0, T0, DEFAULT_POLICY_OPTIONS).lifetime;

test('RFC 8941 §4.2.2: a Dictionary parses booleans, integers, decimals, strings, tokens, parameters, inner lists', () => {
  const dict = parseSfDictionary('max-age=60, no-store, a="x\\"y", b=tok/en, c=1.5, d=?0, e=(1 2);p, f=:AQ==:, g=5;q=1');
  assert.ok(dict);
  assert.deepEqual(dict.get('max-age'), { type: 'integer', value: 60, text: '60' });
  assert.deepEqual(dict.get('no-store'), { type: 'boolean', value: true });
  assert.deepEqual(dict.get('a'), { type: 'string', value: 'x"y' });
  assert.deepEqual(dict.get('b'), { type: 'token', value: 'tok/en' });
  assert.deepEqual(dict.get('c'), { type: 'decimal', value: 1.5, text: '1.5' });
  assert.deepEqual(dict.get('d'), { type: 'boolean', value: false });
  assert.deepEqual(dict.get('e'), { type: 'inner-list' });
  assert.deepEqual(dict.get('f'), { type: 'binary', value: 'AQ==' });
  assert.deepEqual(dict.get('g'), { type: 'integer', value: 5, text: '5' });
});

test('RFC 8941 §4.2.2: parse failures (suite cdn-cc-invalid-sh-type-unknown, cdn-max-age-space-*)', () => {
  for (const bad of [
    'max-age=10000, &&&&&', 'MaX-aGe=3600', 'max-age =100', 'max-age= 100', 'max-age=60,', 'max-age=1234567890123456',
    'a="unterminated', 'a="bad\\escape"', 'a=1.2345', '-', 'a=(1 2', 'a=?2',
  ]) {
    assert.equal(parseSfDictionary(bad), undefined, bad);
  }
});

test('RFC 8941 §4.2.2: a repeated key keeps its last value; surrounding spaces are allowed', () => {
  assert.deepEqual(parseSfDictionary('  max-age=1, max-age=2  ')?.get('max-age'), { type: 'integer', value: 2, text: '2' });
});

test('RFC 9213 §2.1: values of the wrong type for a directive are not consumed (suite cdn-cc-invalid-sh-type-wrong)', () => {
  assert.equal(parseTargetedField('max-age="10000"')?.get('max-age'), true); // String where an Integer is expected
  assert.equal(parseTargetedField('max-age=3600.5')?.get('max-age'), true); // Decimal: not coerced to an integer
  assert.equal(parseTargetedField('max-age=60;foo=bar')?.get('max-age'), '60'); // parameters ignored
  assert.equal(parseTargetedField('no-store=?0')?.has('no-store'), false);
  assert.equal(parseTargetedField('private="set-cookie"')?.get('private'), 'set-cookie');
});

test('RFC 9213 §2.1: an empty or unparsable targeted field is ignored', () => {
  assert.equal(parseTargetedField(''), undefined);
  assert.equal(parseTargetedField('   '), undefined);
  assert.equal(parseTargetedField(undefined), undefined);
  assert.equal(parseTargetedField('max-age=1, &&&'), undefined);
});

test('RFC 9213 §2.2: the first valid field of the target list governs, else Cache-Control', () => {
  const all: Headers = {
    'cloudflare-cdn-cache-control': 'max-age=1',
    'cdn-cache-control': 'max-age=2',
    'surrogate-control': 'max-age=3',
    'cache-control': 'max-age=4',
  };
  assert.equal(selectResponseCacheControl(all).source, 'cloudflare-cdn-cache-control');
  assert.equal(selectResponseCacheControl({ ...all, 'cloudflare-cdn-cache-control': '&&' }).source, 'cdn-cache-control');
  assert.equal(selectResponseCacheControl({ ...all, 'cloudflare-cdn-cache-control': undefined, 'cdn-cache-control': '' }).source,
    'surrogate-control');
  assert.equal(selectResponseCacheControl({ 'cache-control': 'max-age=4' }).source, 'cache-control');
  const cc = selectResponseCacheControl({ 'cdn-cache-control': 'MaX-AgE=5', 'cache-control': 'max-age=4' });
  assert.equal(cc.source, 'cache-control'); // uppercase keys are invalid Structured Fields
  assert.equal(cc.directives.get('max-age'), '4');
});

test('RFC 9213 §3.1: "none" is a valid non-empty CDN-Cache-Control that overrides Cache-Control: no-store', () => {
  const selected = selectResponseCacheControl({ 'cdn-cache-control': 'none', 'cache-control': 'no-store' });
  assert.equal(selected.source, 'cdn-cache-control');
  assert.equal(selected.directives.has('no-store'), false);
});

test('Surrogate-Control uses Cache-Control syntax and governs only when it carries caching directives', () => {
  assert.equal(selectResponseCacheControl({ 'surrogate-control': 'content="ESI/1.0"', 'cache-control': 'max-age=4' }).source,
    'cache-control');
  const s = selectResponseCacheControl({ 'surrogate-control': 'max-age=30, content="ESI/1.0"', 'cache-control': 'no-store' });
  assert.equal(s.source, 'surrogate-control');
  assert.equal(s.directives.get('max-age'), '30');
});

test('RFC 9213 §3: CDN-Cache-Control is forwarded; Cloudflare-CDN-Cache-Control and Surrogate-Control are not', () => {
  assert.deepEqual(NOT_FORWARDED_TO_CLIENTS, ['cloudflare-cdn-cache-control', 'surrogate-control']);
  assert.equal(NOT_FORWARDED_TO_CLIENTS.includes('cdn-cache-control'), false);
});

test('RFC 9213 §2.2: a targeted field replaces Cache-Control and Expires for freshness', () => {
  // suite cdn-max-age-expires / cdn-max-age-cc-max-age-invalid-expires
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=3600', expires: httpDate(T0 - 10_000_000), date: httpDate(T0) }), 3600);
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=3600', expires: '0', date: httpDate(T0) }), 3600);
  // suite cdn-max-age-short-cc-max-age / cdn-max-age-long-cc-max-age
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=3600', 'cache-control': 'max-age=1' }), 3600);
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=1', 'cache-control': 'max-age=3600' }), 1);
  // suite cdn-max-age-0-expires: Expires is ignored, max-age=0 stands
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=0', expires: httpDate(T0 + 10_000_000), date: httpDate(T0) }), 0);
  // suite cdn-max-age-max-plus
  assert.equal(lifetime({ 'cdn-cache-control': 'max-age=99999999999' }), 2147483648);
});

test('RFC 9213 §2.2: storage follows the targeted field, not Cache-Control', () => {
  const future = { expires: httpDate(T0 + 10_000_000), date: httpDate(T0) };
  // suite cdn-no-store-cc-fresh
  assert.deepEqual(store({ 'cache-control': 'max-age=10000', 'cdn-cache-control': 'no-store', ...future }),
    { storable: false, reason: 'no-store' });
  // suite cdn-fresh-cc-nostore
  assert.equal(store({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=10000' }).storable, true);
  // suite cdn-private
  assert.deepEqual(store({ 'cdn-cache-control': 'private', 'cache-control': 'max-age=10000', ...future }),
    { storable: false, reason: 'private' });
  // suite cdn-no-cache: no validator, so nothing to store
  assert.deepEqual(store({ 'cdn-cache-control': 'no-cache', 'cache-control': 'max-age=10000', ...future }),
    { storable: false, reason: 'no-cache-no-validator' });
  // suite cdn-cc-invalid-sh-type-unknown: the invalid field is ignored, Cache-Control: no-store applies
  assert.deepEqual(store({ 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' }),
    { storable: false, reason: 'no-store' });
  // suite cdn-cc-invalid-sh-type-wrong: a String max-age is not consumed; nothing else gives freshness
  assert.equal(store({ 'cdn-cache-control': 'max-age="10000"', 'cache-control': 'no-store' }).storable, false);
});

test('property: the SF parser never throws and rejects any input containing a non-ASCII character', () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (input) => {
    const dict = parseSfDictionary(input);
    if (/[^\x00-\x7f]/.test(input)) assert.equal(dict, undefined);
  }));
});

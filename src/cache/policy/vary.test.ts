// Tests for Vary parsing and selecting-header normalisation (RFC 9111 §4.1, RFC 9110 §12.5.5).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isVaryStar, normalizeVaryValue, parseVary } from './vary.js';

test('RFC 9110 §12.5.5: Vary lists field names case-insensitively; trimmed, deduplicated, in order', () => {
  assert.deepEqual(parseVary('Foo, BAR ,foo'), ['foo', 'bar']);
  assert.deepEqual(parseVary(['Accept-Encoding', 'Origin, accept-encoding']), ['accept-encoding', 'origin']);
  assert.deepEqual(parseVary(' , '), []);
  assert.deepEqual(parseVary(undefined), []);
  assert.deepEqual(parseVary([]), []);
});

test('RFC 9111 §4.1: a "*" member anywhere always fails to match (suite vary-syntax-*)', () => {
  for (const value of ['*', '*, *', ', *', 'Foo, *', '*, Foo', ['', '*'], ['*', '*'], ['Foo', ' * ']]) {
    assert.equal(parseVary(value), '*', JSON.stringify(value));
  }
});

test('RFC 9111 §4.1: absent and empty are different selecting values', () => {
  assert.equal(normalizeVaryValue('foo', undefined), undefined);
  assert.equal(normalizeVaryValue('foo', []), undefined);
  assert.equal(normalizeVaryValue('foo', ''), '');
  assert.notEqual(normalizeVaryValue('foo', ''), normalizeVaryValue('foo', undefined));
});

test('RFC 9111 §4.1: combining field lines matches one combined line (suite vary-normalise-combine)', () => {
  assert.equal(normalizeVaryValue('foo', ['1', '2']), normalizeVaryValue('foo', '1, 2'));
});

test('RFC 9111 §4.1: whitespace around commas is folded (suite vary-normalise-space)', () => {
  assert.equal(normalizeVaryValue('foo', ' 1, 2 '), normalizeVaryValue('foo', '1,2'));
  assert.equal(normalizeVaryValue('foo', 'a ,\tb'), 'a, b');
  assert.equal(normalizeVaryValue('foo', '"x , y", z'), '"x , y", z'); // quoted strings untouched
  assert.notEqual(normalizeVaryValue('foo', 'A'), normalizeVaryValue('foo', 'a')); // unknown fields keep case
  assert.notEqual(normalizeVaryValue('foo', '1, 2'), normalizeVaryValue('foo', '2, 1')); // and order
});

test('RFC 9110 §12.5.3: Accept-Encoding is folded to the codings the cache tells apart (br, gzip, identity)', () => {
  const ae = (v: string | string[]): string | undefined => normalizeVaryValue('accept-encoding', v);
  assert.equal(ae('GZIP, br;q=0.50, Deflate ; Q=1.0, gzip'), 'br, gzip');
  assert.equal(ae('br, gzip'), ae('gzip,br'));
  assert.equal(ae('gzip, deflate, br, zstd'), 'br, gzip');
  assert.equal(ae(['gzip', 'br']), 'br, gzip'); // field lines combined
  assert.equal(ae('gzip'), 'gzip');
  assert.equal(ae('x-gzip'), 'gzip'); // RFC 9110 §8.4.1.3
  assert.equal(ae('br'), 'br');
  assert.equal(ae('gzip;q=0'), 'identity');
  assert.equal(ae('gzip;q=0, br;q=0.001'), 'br');
  assert.equal(ae('*'), 'br, gzip');
  assert.equal(ae('*, br;q=0'), 'gzip');
  assert.equal(ae('*;q=0, gzip'), 'gzip');
  assert.equal(ae('gzip;q=2'), 'identity'); // an invalid weight: the member is ignored
  assert.equal(ae('deflate'), 'identity');
  assert.equal(ae(''), 'identity'); // empty: no coding wanted (RFC 9110 §12.5.3)
  assert.equal(ae('brotli, gzipx, xgzip, br2'), 'identity');
  assert.equal(ae([]), undefined); // absent stays absent
  // Forty junk values are one variant (they were forty before Accept-Encoding was normalised).
  const junk = new Set(Array.from({ length: 40 }, (_, i) => ae(`gzip, x-junk-${i};q=0.${i % 10}, deflate`)));
  assert.deepEqual([...junk], ['gzip']);
});

test('RFC 9110 §12.5.4: Accept-Language ignores order, case and whitespace (suite vary-normalise-lang-*)', () => {
  const base = normalizeVaryValue('accept-language', 'en, de');
  assert.equal(normalizeVaryValue('accept-language', 'de, en'), base);
  assert.equal(normalizeVaryValue('accept-language', 'eN, De'), base);
  assert.equal(normalizeVaryValue('accept-language', ' en ,   de'), base);
  assert.notEqual(normalizeVaryValue('accept-language', 'en;q=0.5, de'), base);
});

test('property: normalisation is idempotent', () => {
  fc.assert(fc.property(fc.constantFrom('foo', 'accept-encoding', 'accept-language'), fc.string({ maxLength: 40 }),
    (name, value) => {
      const once = normalizeVaryValue(name, value);
      assert.equal(normalizeVaryValue(name, once), once);
    }));
});

test('isVaryStar: a `*` member in any line, as parseVary says; no `*` at all is not', () => {
  for (const v of [undefined, '', 'accept', 'Accept-Encoding, Origin', ['origin', 'accept'], 'x-*-y', '"*"']) {
    assert.equal(isVaryStar(v), parseVary(v) === '*', String(v));
  }
  for (const v of ['*', ' * ', 'accept, *', ['origin', '*'], ['origin, *']]) assert.equal(isVaryStar(v), true, String(v));
  assert.equal(isVaryStar('accept'), false);
});

// Tests for Vary parsing and selecting-header normalisation (RFC 9111 §4.1, RFC 9110 §12.5.5).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { normalizeVaryValue, parseVary } from './vary.js';

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

test('RFC 9110 §12.5.3: Accept-Encoding codings are lowercased, sorted, deduplicated; q-values kept canonically', () => {
  assert.equal(normalizeVaryValue('accept-encoding', 'GZIP, br;q=0.50, Deflate ; Q=1.0, gzip'), 'br;q=0.5, deflate, gzip');
  assert.equal(normalizeVaryValue('accept-encoding', 'br, gzip'), normalizeVaryValue('accept-encoding', 'gzip,br'));
  assert.notEqual(normalizeVaryValue('accept-encoding', 'gzip;q=0'), normalizeVaryValue('accept-encoding', 'gzip'));
  assert.equal(normalizeVaryValue('Accept-Encoding', 'gzip;q=2'), 'gzip;q=2'); // invalid weight kept verbatim
  assert.equal(normalizeVaryValue('accept-encoding', ''), '');
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

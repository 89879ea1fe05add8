// Tests for Cache-Control parsing, delta-seconds and field lists (RFC 9111 §1.2.2, §4.2.1, §5.2).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  combineFieldLines, DELTA_SECONDS_MAX, deltaSeconds, fieldNameList, firstFieldLine, parseCacheControl, splitList,
} from './cache-control.js';

test('RFC 9111 §5.2: directive names are case-insensitive and lowercased', () => {
  const cc = parseCacheControl('MaX-aGe=3600, No-StOrE');
  assert.equal(cc.get('max-age'), '3600');
  assert.equal(cc.get('no-store'), true);
});

test('RFC 9111 §5.2: arguments may be tokens or quoted-strings; quoted ones are unescaped', () => {
  const cc = parseCacheControl('max-age="3600", private="set-cookie, x-a", ext="a\\"b"');
  assert.equal(cc.get('max-age'), '3600');
  assert.equal(cc.get('private'), 'set-cookie, x-a');
  assert.equal(cc.get('ext'), 'a"b');
});

test('RFC 9111 §5.2: commas inside a quoted argument do not split directives (suite freshness-max-age-ignore-quoted)', () => {
  assert.equal(parseCacheControl('extension="max-age=3600", max-age=1').get('max-age'), '1');
  assert.equal(parseCacheControl('max-age=1, extension="max-age=3600"').get('max-age'), '1');
  assert.equal(parseCacheControl('extension="max-age=3600", max-age=1').get('extension'), 'max-age=3600');
});

test('RFC 9110 §5.3: several field lines are combined as one list', () => {
  const cc = parseCacheControl(['max-age=3600', 's-maxage=1']);
  assert.equal(cc.get('max-age'), '3600');
  assert.equal(cc.get('s-maxage'), '1');
  assert.equal(combineFieldLines(['a', 'b']), 'a, b');
  assert.equal(combineFieldLines([]), undefined);
  assert.equal(firstFieldLine({ age: ['7', '8'] }, 'age'), '7');
});

test('RFC 9111 §4.2.1: a repeated directive uses its first occurrence (same line and separate lines)', () => {
  assert.equal(parseCacheControl('max-age=1800, max-age=1').get('max-age'), '1800');
  assert.equal(parseCacheControl(['max-age=1', 'max-age=1800']).get('max-age'), '1');
});

test('RFC 9111 §4.2.1: conflicting no-cache / private honour the most restrictive (unqualified) form', () => {
  assert.equal(parseCacheControl('no-cache="a", no-cache').get('no-cache'), true);
  assert.equal(parseCacheControl('private, private="a"').get('private'), true);
  assert.equal(parseCacheControl('no-cache="a", no-cache="b"').get('no-cache'), 'a, b');
});

test('RFC 9111 §5.2: a malformed argument keeps the directive without a usable value', () => {
  assert.equal(parseCacheControl('max-age =3600').get('max-age'), true); // space before '='
  assert.equal(parseCacheControl('max-age= 3600').get('max-age'), true); // space after '='
  assert.equal(parseCacheControl('max-age="3600').get('max-age'), true); // unterminated quoted-string
  assert.equal(parseCacheControl('max-age=3600 junk, public').get('max-age'), true);
  assert.equal(parseCacheControl('max-age=3600 junk, public').get('public'), true);
});

test('RFC 9110 §5.6.1: empty list elements and whitespace are tolerated; non-token elements are skipped', () => {
  const cc = parseCacheControl(' , ,\tmax-age=5 ,, "quoted", no-cache ,');
  assert.deepEqual([...cc.entries()], [['max-age', '5'], ['no-cache', true]]);
  assert.equal(parseCacheControl(undefined).size, 0);
  assert.equal(parseCacheControl('').size, 0);
});

test('RFC 9111 §1.2.2: delta-seconds accepts 1*DIGIT (leading zeros included) and rejects everything else', () => {
  assert.equal(deltaSeconds('3600'), 3600);
  assert.equal(deltaSeconds('003600'), 3600);
  assert.equal(deltaSeconds('0'), 0);
  for (const bad of ['-3600', '3600.0', '3600.5', 'a3600', '3600a', "'3600'", '', ' 1', '+1', '1e3']) {
    assert.equal(deltaSeconds(bad), undefined, bad);
  }
  assert.equal(deltaSeconds(true), undefined);
  assert.equal(deltaSeconds(undefined), undefined);
});

test('RFC 9111 §1.2.2: delta-seconds beyond 2^31 saturate to 2147483648', () => {
  assert.equal(deltaSeconds('2147483647'), 2147483647);
  assert.equal(deltaSeconds('2147483648'), DELTA_SECONDS_MAX);
  assert.equal(deltaSeconds('2147483649'), DELTA_SECONDS_MAX);
  assert.equal(deltaSeconds('99999999999'), DELTA_SECONDS_MAX);
  assert.equal(deltaSeconds('9'.repeat(400)), DELTA_SECONDS_MAX);
  assert.equal(deltaSeconds('0000000000000000000042'), 42);
});

test('RFC 9111 §5.2.2.4 / §5.2.2.7: field-name lists are lowercased, trimmed and deduplicated', () => {
  assert.deepEqual(fieldNameList('Set-Cookie, x-A ,x-a,, bad name'), ['set-cookie', 'x-a']);
  assert.deepEqual(fieldNameList(true), []);
  assert.deepEqual(fieldNameList(undefined), []);
});

test('RFC 9110 §5.6.1: splitList respects quoted strings', () => {
  assert.deepEqual(splitList('a, "b, c" ,d,,'), ['a', '"b, c"', 'd']);
  assert.deepEqual(splitList(''), []);
});

test('property: parseCacheControl never throws and yields lowercase token names', () => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (input) => {
    for (const name of parseCacheControl(input).keys()) {
      assert.match(name, /^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
    }
  }));
});

test('property: deltaSeconds reads any non-negative integer, saturating at 2^31', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), (n) => {
    const expected = n > BigInt(DELTA_SECONDS_MAX) ? DELTA_SECONDS_MAX : Number(n);
    assert.equal(deltaSeconds(n.toString()), expected);
  }));
});

test('property: a directive value survives quoting with escapes', () => {
  fc.assert(fc.property(fc.string({ maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)), (value) => {
    const quoted = `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    assert.equal(parseCacheControl(`x-ext=${quoted}, max-age=7`).get('x-ext'), value);
    assert.equal(parseCacheControl(`x-ext=${quoted}, max-age=7`).get('max-age'), '7');
  }));
});

test('RFC 9111 §5.2: a value parsed again gives the same directives (parses are shared, never changed by a reader)', () => {
  const a = parseCacheControl('public, max-age=60, private="x-a"');
  const b = parseCacheControl('public, max-age=60, private="x-a"');
  assert.deepEqual([...b], [['public', true], ['max-age', '60'], ['private', 'x-a']]);
  assert.deepEqual([...a], [...b]);
  assert.equal(parseCacheControl(undefined).size, 0);
  assert.equal(parseCacheControl(['max-age=5', 'no-store']).get('max-age'), '5');
  // Longer values than are remembered parse alike.
  const long = `max-age=7, ${'x'.repeat(300)}`;
  assert.equal(parseCacheControl(long).get('max-age'), '7');
});

// Tests for entity-tags (RFC 9110 §8.8.3): strict parsing, the lenient reading of origin ETags, lists, comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEntityTag, isStrongMatch, isWeakMatch, parseEntityTag, parseEntityTagList, readOriginEntityTag } from './entity-tag.js';

test('RFC 9110 §8.8.3.2: strong and weak comparison table', () => {
  const t = (s: string) => parseEntityTag(s)!;
  assert.deepEqual([isStrongMatch(t('W/"1"'), t('W/"1"')), isWeakMatch(t('W/"1"'), t('W/"1"'))], [false, true]);
  assert.deepEqual([isStrongMatch(t('W/"1"'), t('W/"2"')), isWeakMatch(t('W/"1"'), t('W/"2"'))], [false, false]);
  assert.deepEqual([isStrongMatch(t('W/"1"'), t('"1"')), isWeakMatch(t('W/"1"'), t('"1"'))], [false, true]);
  assert.deepEqual([isStrongMatch(t('"1"'), t('"1"')), isWeakMatch(t('"1"'), t('"1"'))], [true, true]);
});

test('RFC 9110 §8.8.3: entity-tag syntax (weak prefix is case-sensitive, obs-text allowed)', () => {
  assert.deepEqual(parseEntityTag('""'), { weak: false, opaque: '""' });
  assert.deepEqual(parseEntityTag('"abcdef\u00fc"'), { weak: false, opaque: '"abcdef\u00fc"' });
  assert.deepEqual(parseEntityTag(' W/"x" '), { weak: true, opaque: '"x"' });
  assert.equal(parseEntityTag('abc'), undefined);
  assert.equal(parseEntityTag('w/"abc"'), undefined);
  assert.equal(parseEntityTag('"a"b"'), undefined);
  assert.equal(parseEntityTag('"a b"'), undefined, 'SP is not etagc');
  assert.equal(parseEntityTag('"'), undefined);
  assert.equal(parseEntityTag(undefined), undefined);
});

test('origin ETags are read leniently: unquoted as quoted, invalid characters kept, the rest verbatim', () => {
  const table: [string | undefined, ReturnType<typeof readOriginEntityTag>][] = [
    ['"abc"', { weak: false, opaque: '"abc"' }],
    ['W/"abc"', { weak: true, opaque: '"abc"' }],
    ['abc', { weak: false, opaque: '"abc"' }],
    ['  abc  ', { weak: false, opaque: '"abc"' }],
    ['"a b"', { weak: false, opaque: '"a b"' }],
    ['W/"a b"', { weak: true, opaque: '"a b"' }],
    ['"abc', { weak: false, opaque: '"abc' }],
    ['W\\"abc"', { weak: false, opaque: 'W\\"abc"' }],
    ['', undefined],
    ['  ', undefined],
    [undefined, undefined],
  ];
  for (const [input, expected] of table) assert.deepEqual(readOriginEntityTag(input), expected, JSON.stringify(input));
  assert.equal(formatEntityTag(readOriginEntityTag('abc')!), '"abc"');
  assert.equal(formatEntityTag(readOriginEntityTag('W/"abc"')!), 'W/"abc"');
});

test('RFC 9110 §5.6.1.2: entity-tag lists split on commas outside quotes; empty members skipped; malformed kept raw', () => {
  assert.deepEqual(parseEntityTagList(' "a", ,W/"b,c"\t, junk ,"d"'), [
    { raw: '"a"', tag: { weak: false, opaque: '"a"' } },
    { raw: 'W/"b,c"', tag: { weak: true, opaque: '"b,c"' } },
    { raw: 'junk', tag: undefined },
    { raw: '"d"', tag: { weak: false, opaque: '"d"' } },
  ]);
  assert.deepEqual(parseEntityTagList('"a"x, "b"'), [{ raw: '"a"x', tag: undefined }, { raw: '"b"', tag: { weak: false, opaque: '"b"' } }]);
  assert.deepEqual(parseEntityTagList(''), []);
});

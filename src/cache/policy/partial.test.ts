// Partial content rules: what a Range asks of a miss, Content-Range parsing, spans, and when pieces combine
// (RFC 9111 §3.3, §3.4; RFC 9110 §14).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSpan, canCombine, ifRangeFor, missingSpans, parseContentRange, rangeAsk, rangeValue, resolveSpec } from './partial.js';

const NOW = Date.parse('2026-01-02T00:00:00Z');

test('rangeAsk: none, ignored (RFC 9110 §14.2), from byte 0 or several, or one range elsewhere', () => {
  assert.equal(rangeAsk('GET', {}).kind, 'none');
  assert.equal(rangeAsk('HEAD', { range: 'bytes=5-' }).kind, 'none', 'only GET has range semantics');
  for (const bad of ['bytes=5-2', 'items=0-1', 'bytes=abc', 'bytes=', 'bytes 0-1', 'bytes=--1']) assert.equal(rangeAsk('GET', { range: bad }).kind, 'ignored', bad);
  assert.equal(rangeAsk('GET', { range: ['bytes=0-1', 'bytes=2-3'] }).kind, 'ignored', 'two Range fields');
  for (const z of ['bytes=0-', 'bytes=0-1', 'bytes=00-5', 'BYTES=0-9', 'bytes=5-6,0-1']) assert.equal(rangeAsk('GET', { range: z }).kind, 'from-zero', z);
  const s = rangeAsk('GET', { range: 'bytes=-5' });
  assert.equal(s.kind, 'single');
  assert.equal(rangeAsk('GET', { range: 'bytes=10-' }).kind, 'single');
});

test('resolveSpec clamps, and finds unsatisfiable specs (RFC 9110 §14.1.2)', () => {
  assert.deepEqual(resolveSpec({ kind: 'suffix', length: '5' }, 10), { start: 5, end: 9 });
  assert.deepEqual(resolveSpec({ kind: 'suffix', length: '50' }, 10), { start: 0, end: 9 });
  assert.equal(resolveSpec({ kind: 'suffix', length: '0' }, 10), undefined);
  assert.deepEqual(resolveSpec({ kind: 'int', first: '3', last: '99' }, 10), { start: 3, end: 9 });
  assert.equal(resolveSpec({ kind: 'int', first: '10', last: undefined }, 10), undefined);
  assert.deepEqual(resolveSpec({ kind: 'int', first: '3', last: '99999999999999999999999' }, 10), { start: 3, end: 9 });
});

test('parseContentRange: bytes a-b/length only (RFC 9110 §14.4)', () => {
  assert.deepEqual(parseContentRange('bytes 4-9/10'), { start: 4, end: 9, length: 10 });
  for (const bad of [undefined, 'bytes 4-9/*', 'bytes */10', 'bytes 9-4/10', 'bytes 4-10/10', 'items 1-2/3', 'bytes 1-2/3, bytes 4-5/6']) {
    assert.equal(parseContentRange(bad), undefined, String(bad));
  }
});

test('spans merge when they overlap or touch; the missing parts of a span', () => {
  let s = addSpan([], { start: 10, end: 19 });
  s = addSpan(s, { start: 30, end: 39 });
  assert.deepEqual(s, [{ start: 10, end: 19 }, { start: 30, end: 39 }]);
  assert.deepEqual(addSpan(s, { start: 20, end: 29 }), [{ start: 10, end: 39 }]);
  assert.deepEqual(addSpan(s, { start: 0, end: 5 }), [{ start: 0, end: 5 }, { start: 10, end: 19 }, { start: 30, end: 39 }]);
  assert.deepEqual(addSpan(s, { start: 15, end: 35 }), [{ start: 10, end: 39 }]);
  assert.deepEqual(missingSpans(s, { start: 0, end: 49 }), [{ start: 0, end: 9 }, { start: 20, end: 29 }, { start: 40, end: 49 }]);
  assert.deepEqual(missingSpans(s, { start: 12, end: 18 }), []);
  assert.deepEqual(missingSpans(s, { start: 15, end: 34 }), [{ start: 20, end: 29 }]);
  assert.equal(rangeValue([{ start: 5, end: 9 }], 10), 'bytes=5-');
  assert.equal(rangeValue([{ start: 0, end: 4 }], 10), 'bytes=0-4');
});

test('canCombine: same strong validator, or none on either side (RFC 9111 §3.4)', () => {
  assert.equal(canCombine({ etag: '"a"' }, { etag: '"a"' }, NOW), true);
  assert.equal(canCombine({ etag: '"a"' }, { etag: '"b"' }, NOW), false);
  assert.equal(canCombine({ etag: 'W/"a"' }, { etag: 'W/"a"' }, NOW), false, 'weak tags never combine');
  assert.equal(canCombine({ etag: '"a"' }, {}, NOW), false);
  assert.equal(canCombine({}, {}, NOW), true);
  const lm = 'Thu, 01 Jan 2026 00:00:00 GMT';
  const later = 'Thu, 01 Jan 2026 00:10:00 GMT';
  assert.equal(canCombine({ 'last-modified': lm, date: later }, { 'last-modified': lm, date: later }, NOW), true);
  assert.equal(canCombine({ 'last-modified': lm, date: lm }, { 'last-modified': lm, date: later }, NOW), false, 'a weak date validator');
  assert.equal(ifRangeFor({ etag: '"a"' }, NOW), '"a"');
  assert.equal(ifRangeFor({ etag: 'W/"a"' }, NOW), undefined);
  assert.equal(ifRangeFor({ 'last-modified': lm, date: later }, NOW), lm);
  assert.equal(ifRangeFor({}, NOW), undefined);
});

// Tests for stream-format.ts: id ordering, XINFO parsing, and the continuity verdict behind onReset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareStreamIds, decodeMessage, encodeMessage, isStreamId, judgeCursor, parseStreamInfo, parseXreadReply, streamIdMs, type StreamInfo,
} from './stream-format.js';

const info = (over: Partial<StreamInfo>): StreamInfo => ({
  length: 0, firstId: null, lastGeneratedId: '0-0', maxDeletedId: '0-0', entriesAdded: 0, ...over,
});

test('stream ids order by milliseconds, then by sequence, beyond 2^53', () => {
  assert.equal(compareStreamIds('1-0', '1-0'), 0);
  assert.equal(compareStreamIds('1-1', '1-0'), 1);
  assert.equal(compareStreamIds('2-0', '10-0'), -1); // numeric, not lexicographic
  assert.equal(compareStreamIds('5-18446744073709551615', '5-18446744073709551614'), 1);
  assert.equal(streamIdMs('1700000000123-7'), 1700000000123);
  assert.equal(isStreamId('0-0'), true);
  assert.deepEqual(['$', '12', '1-2-3', '>'].map(isStreamId), [false, false, false, false]);
  assert.throws(() => compareStreamIds('x', '1-0'), TypeError);
});

test('parseStreamInfo reads the Redis 7 XINFO STREAM fields, and defaults what Redis 6 lacks', () => {
  const seven = parseStreamInfo([
    'length', 2, 'radix-tree-keys', 1, 'radix-tree-nodes', 2, 'last-generated-id', '9-1',
    'max-deleted-entry-id', '3-0', 'entries-added', 7, 'recorded-first-entry-id', '8-0', 'groups', 0,
    'first-entry', ['8-0', ['v', '1']], 'last-entry', ['9-1', ['v', '1']],
  ]);
  assert.deepEqual(seven, { length: 2, firstId: '8-0', lastGeneratedId: '9-1', maxDeletedId: '3-0', entriesAdded: 7 });
  const six = parseStreamInfo(['length', 0, 'last-generated-id', '4-0', 'groups', 0, 'first-entry', null, 'last-entry', null]);
  assert.deepEqual(six, { length: 0, firstId: null, lastGeneratedId: '4-0', maxDeletedId: '0-0', entriesAdded: null });
  assert.throws(() => parseStreamInfo('OK'));
});

test('a missing stream is a reset only for a consumer that has history', () => {
  assert.equal(judgeCursor({ id: '0-0', offset: 0 }, null).isContinuous, true);
  const v = judgeCursor({ id: '5-0', offset: null }, null);
  assert.equal(v.isContinuous, false);
  assert.match(!v.isContinuous ? v.reason : '', /missing/);
});

test('a brand-new stream read from 0-0 is continuous; one that lost entries before being read is not', () => {
  const fresh = info({ length: 3, firstId: '10-0', lastGeneratedId: '12-0', entriesAdded: 3 });
  assert.equal(judgeCursor({ id: '0-0', offset: 0 }, fresh).isContinuous, true);
  const trimmed = info({ length: 3, firstId: '10-0', lastGeneratedId: '12-0', entriesAdded: 9 });
  assert.equal(judgeCursor({ id: '0-0', offset: 0 }, trimmed).isContinuous, false);
});

test('the cursor is continuous while an entry at or before it is still in the stream', () => {
  const s = info({ length: 50, firstId: '100-0', lastGeneratedId: '200-0', entriesAdded: 1000 });
  assert.equal(judgeCursor({ id: '100-0', offset: null }, s).isContinuous, true);
  assert.equal(judgeCursor({ id: '150-3', offset: null }, s).isContinuous, true);
  assert.equal(judgeCursor({ id: '200-0', offset: null }, s).isContinuous, true);
});

test('a cursor older than the first entry is a reset (trimmed), unless its ordinal proves nothing after it went', () => {
  const s = info({ length: 50, firstId: '100-0', lastGeneratedId: '200-0', entriesAdded: 1000 });
  const v = judgeCursor({ id: '90-0', offset: null }, s);
  assert.equal(v.isContinuous, false);
  assert.match(!v.isContinuous ? v.reason : '', /no longer in the stream.*first entry is 100-0/);
  // 950 removed; a cursor whose ordinal is 950 is the last removed entry: its successor is still there.
  assert.equal(judgeCursor({ id: '90-0', offset: 950 }, s).isContinuous, true);
  assert.equal(judgeCursor({ id: '90-0', offset: 949 }, s).isContinuous, false);
});

test('an emptied stream (XTRIM MAXLEN 0) is a reset only if something was added after the cursor', () => {
  const emptied = info({ length: 0, firstId: null, lastGeneratedId: '300-0', entriesAdded: 40 });
  assert.equal(judgeCursor({ id: '300-0', offset: null }, emptied).isContinuous, true);
  const v = judgeCursor({ id: '299-0', offset: null }, emptied);
  assert.equal(v.isContinuous, false);
  assert.match(!v.isContinuous ? v.reason : '', /stream is empty/);
});

test('a cursor past the last id, XDEL after the cursor, or a shrunken entries-added count are resets', () => {
  const s = info({ length: 5, firstId: '10-0', lastGeneratedId: '20-0', entriesAdded: 5 });
  assert.match(reasonOf(judgeCursor({ id: '21-0', offset: null }, s)), /recreated/);
  assert.match(reasonOf(judgeCursor({ id: '12-0', offset: null }, { ...s, maxDeletedId: '15-0' })), /deleted/);
  assert.equal(judgeCursor({ id: '12-0', offset: null }, { ...s, maxDeletedId: '11-0' }).isContinuous, true);
  assert.match(reasonOf(judgeCursor({ id: '5-0', offset: 30 }, s)), /recreated/);
});

test('messages round-trip through stream fields; unreadable entries are refused, not guessed', () => {
  const msg = { zoneId: 'z1', origin: 'node-a', request: { tags: ['a', 'b'], purge_everything: false } };
  const fields = encodeMessage(msg);
  assert.deepEqual(decodeMessage(fields), msg);
  assert.throws(() => encodeMessage({ ...msg, request: undefined }), TypeError);
  assert.throws(() => encodeMessage({ ...msg, zoneId: '' }), TypeError);
  assert.throws(() => decodeMessage(['garbage', 'x']), /format version/);
  assert.throws(() => decodeMessage(['v', '1', 'zone', 'z1', 'origin', 'n', 'request', '{oops']), SyntaxError);
  assert.throws(() => decodeMessage(null), /no fields/);
  assert.deepEqual(parseXreadReply(null), []);
  assert.deepEqual(parseXreadReply([['s', [['1-0', fields]]]]), [['1-0', fields]]);
  assert.throws(() => parseXreadReply('OK'), /unexpected XREAD reply/);
});

function reasonOf(v: ReturnType<typeof judgeCursor>): string {
  return v.isContinuous ? '(continuous)' : v.reason;
}

test('a large purge travels deflated: a 500-URL request costs a fraction of its JSON and reads back the same', () => {
  const files = Array.from({ length: 500 }, (_, i) => ({ host: 'cdn.example.com', path: `/assets/build-2026/chunk-${i}.js`, query: `v=${1000 + i}` }));
  const msg = { zoneId: 'zone-1', origin: 'node-a', request: { kind: 'files', soft: false, files } };
  const fields = encodeMessage(msg);
  const bytes = fields.reduce((n, f) => n + Buffer.byteLength(f), 0);
  const json = Buffer.byteLength(JSON.stringify(msg.request));
  assert.ok(fields.includes('requestz'), 'compressed');
  assert.ok(bytes * 4 < json, `${bytes} bytes for ${json} bytes of JSON`);
  assert.deepEqual(decodeMessage(fields), msg);
  const small = { zoneId: 'z', origin: 'n', request: { kind: 'tags', tags: ['a'] } };
  assert.ok(encodeMessage(small).includes('request'), 'a small request stays readable JSON');
  assert.deepEqual(decodeMessage(encodeMessage(small)), small);
  assert.throws(() => decodeMessage(['v', '1', 'zone', 'z', 'origin', 'n', 'requestz', 'bm90IGRlZmxhdGU=']), 'a corrupt one is an error (a reset), not a crash');
});

// The disk index's binary records: a round trip of every field, frames used whole or not at all, the last operation on a seq deciding, the radix order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { primaryKey } from '../cache/key.js';
import { FrameEncoder, IndexRecords, radixOrder, type IndexRecord } from './disk-index-record.js';

const record = (seq: number, over: Partial<IndexRecord> = {}): IndexRecord => {
  const zoneId = over.zoneId ?? 'z';
  const host = over.host ?? 'cdn.example';
  const path = over.path ?? `/o/${seq}`;
  const query = over.query ?? '';
  return {
    seq, zoneId, host, path, query, objectKey: primaryKey(zoneId, host, path, query), keyNames: ['origin'], selector: 'https://a.example',
    status: 200, tags: [], forcedStale: false, storedAt: 1_780_000_000_123, bodyLength: 100, file: seq + 1_000_000,
    freshness: {
      lifetime: 86_400.5, correctedInitialAge: 3, responseTime: 1_780_000_000_000, staleWhileRevalidate: 60, staleIfError: 0,
      noStaleServing: false, alwaysRevalidate: true, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
    },
    ...over,
  };
};

function read(...payloads: Buffer[]): IndexRecords {
  const r = new IndexRecords();
  for (const p of payloads) assert.equal(r.addFrame(p, 0, p.length), true);
  r.seal();
  return r;
}

test('every field survives the round trip: non-Latin-1 strings, lists, an object key of its own, flags, fractional numbers', () => {
  const enc = new FrameEncoder();
  const odd = record(7, {
    path: '/caf\u00e9/\u{1f600}/\ud800', query: 'q=\u4e2d', host: 'h\u00fcst:8443', keyNames: ['origin', 'accept-encoding'], tags: ['a', 'b c', '\u00e9'],
    objectKey: 'preflight\u0000own key', forcedStale: true, status: 206, selector: '',
  });
  const plain = record(3);
  enc.put(odd, false);
  enc.put(plain, true);
  const got = read(enc.finish());
  assert.deepEqual([...got.seqs], [3, 7]);
  assert.deepEqual(got.record(0, primaryKey), plain);
  assert.deepEqual(got.record(1, primaryKey), odd);
  assert.equal(got.maxSeq, 1_000_007, 'body file ids count toward the highest seq');
});

test('the last operation on a seq in read order decides; a delete in a later frame removes a put; a clean record is noted only when last', () => {
  const a = new FrameEncoder();
  for (const s of [5, 1, 9, 3]) a.put(record(s), true);
  a.delete(9);
  const b = new FrameEncoder();
  b.delete(1);
  b.put(record(2), true);
  b.clean(40);
  const got = read(a.finish(), b.finish());
  assert.deepEqual([...got.seqs], [2, 3, 5]);
  assert.equal(got.cleanSeq, 40);
  assert.equal(got.maxSeq, 1_000_009);
  const c = new FrameEncoder();
  c.clean(40);
  c.delete(3);
  const again = new IndexRecords();
  const p = c.finish();
  again.addFrame(p, 0, p.length);
  assert.equal(again.cleanSeq, undefined, 'a record after the clean close: the index was written to since');
});

test('a malformed frame is refused whole: a string number past the table, a cut record, an unknown kind, a seq that is not an id', () => {
  const enc = new FrameEncoder();
  enc.put(record(1), true);
  enc.put(record(2), true);
  const good = enc.finish();
  const r = new IndexRecords();
  assert.equal(r.addFrame(good, 0, good.length - 1), false, 'cut');
  const badString = Buffer.from(good);
  badString.writeUInt32LE(9999, badString.length - 4);
  assert.equal(r.addFrame(badString, 0, badString.length), false);
  const unknown = Buffer.concat([good, Buffer.from([7])]);
  assert.equal(r.addFrame(unknown, 0, unknown.length), false);
  enc.put(record(0.5), true);
  const fractional = enc.finish();
  assert.equal(r.addFrame(fractional, 0, fractional.length), false);
  r.seal();
  assert.equal(r.size, 0, 'nothing of a refused frame is used');
});

test('radixOrder is a stable ascending order, also across 2^32 and with equal keys', () => {
  const keys = [5, 2 ** 40 + 1, 3, 2 ** 40, 5, 0, 2 ** 32, 2 ** 32 - 1, 7, 3];
  const order = radixOrder(Float64Array.from(keys), keys.length);
  const expected = keys.map((k, i) => [k, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]).map(([, i]) => i);
  assert.deepEqual([...order], expected);
  const many = Float64Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5003 + 1_000_000);
  const o = radixOrder(many, many.length);
  for (let i = 1; i < o.length; i++) assert.ok(many[o[i - 1]!]! <= many[o[i]!]!);
});

test('fileIds lists the body files the live records name, and those more than one names', () => {
  const enc = new FrameEncoder();
  enc.put(record(1, { file: 50 }), true);
  enc.put(record(2, { file: 50 }), true);
  enc.put(record(3, { file: 51 }), true);
  enc.put(record(4, { file: 52 }), true);
  enc.put(record(5, { file: 52 }), true);
  enc.delete(5);
  const ids = read(enc.finish()).fileIds();
  assert.deepEqual([...ids.sorted], [50, 50, 51, 52]);
  assert.deepEqual([...ids.shared], [50]);
});

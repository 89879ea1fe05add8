// Tests for the dashboard's ring buffer and history sampler: wrap-around, counter deltas (with restarts), `since`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counterDeltas, createHistory, RingBuffer, type Figures } from './history.js';
import { createRecentEvents, mergeEventGroups } from './recent-events.js';

test('RingBuffer keeps the newest `capacity` items, oldest first', () => {
  const r = new RingBuffer<number>(3);
  assert.deepEqual(r.toArray(), []);
  assert.equal(r.last(), undefined);
  for (let i = 1; i <= 7; i++) r.push(i);
  assert.deepEqual(r.toArray(), [5, 6, 7]);
  assert.equal(r.size, 3);
  assert.equal(r.last(), 7);
  assert.throws(() => new RingBuffer(0), RangeError);
});

test('counterDeltas: growth since the last reading; a counter that went down restarted (its new value is the delta)', () => {
  assert.deepEqual(counterDeltas(undefined, { a: 5, b: 0 }), { a: 5 });
  assert.deepEqual(counterDeltas({ a: 5, b: 2 }, { a: 9, b: 2 }), { a: 4 });
  assert.deepEqual(counterDeltas({ a: 50 }, { a: 3 }), { a: 3 });
});

test('history: one sample per reading, deltas per source, gauges as read, capacity from keepMs / intervalMs', async () => {
  let t = 1_000;
  let figures: Record<string, Figures> = {};
  const h = createHistory({ read: async () => figures, intervalMs: 1000, keepMs: 3000, now: () => t });
  assert.equal(h.capacity, 3);
  figures = { w0: { counters: { 'requests:HIT': 10 }, gauges: { objects: 1 } }, w1: { counters: { 'requests:HIT': 1 }, gauges: { objects: 2 } } };
  t = 2_000; await h.sample();
  figures = { w0: { counters: { 'requests:HIT': 15 }, gauges: { objects: 3 } }, w1: { counters: { 'requests:HIT': 1 }, gauges: { objects: 2 } } };
  t = 3_000; await h.sample();
  const [first, second] = h.samples();
  assert.deepEqual(first, { t: 2_000, dt: 1_000, sources: { w0: { c: { 'requests:HIT': 10 }, g: { objects: 1 } }, w1: { c: { 'requests:HIT': 1 }, g: { objects: 2 } } } });
  assert.deepEqual(second!.sources, { w0: { c: { 'requests:HIT': 5 }, g: { objects: 3 } }, w1: { c: {}, g: { objects: 2 } } });
  assert.deepEqual(h.samples(2_000).map((s) => s.t), [3_000], 'since: strictly later samples only');
  for (t = 4_000; t <= 6_000; t += 1_000) await h.sample();
  assert.deepEqual(h.samples().map((s) => s.t), [4_000, 5_000, 6_000], 'the oldest samples fall out');
});

test('history: a failed reading is skipped and reported; readings never overlap', async () => {
  const errors: unknown[] = [];
  let calls = 0;
  let release!: () => void;
  const h = createHistory({
    read: async () => { calls++; if (calls === 1) throw new Error('workers did not answer'); await new Promise<void>((r) => { release = r; }); return {}; },
    onError: (e) => errors.push(e),
  });
  assert.equal(await h.sample(), undefined);
  assert.equal(errors.length, 1);
  const a = h.sample();
  const b = h.sample();
  assert.equal(a, b, 'a second call while one runs joins it');
  release();
  await a;
  assert.equal(calls, 2);
  assert.equal(h.samples().length, 1);
});

test('recent events: grouped with counts, most recent first, bounded; merged across workers', () => {
  let t = 0;
  const e = createRecentEvents(2, () => ++t);
  e.record('origin-error', 'shop', 'ORIGIN_TIMEOUT', 'GET /a');
  e.record('refused', '', '431', 'HPE_HEADER_OVERFLOW');
  e.record('origin-error', 'shop', 'ORIGIN_TIMEOUT', 'GET /a');
  assert.deepEqual(e.list().map((g) => [g.code, g.count, g.first, g.last]), [['ORIGIN_TIMEOUT', 2, 1, 3], ['431', 1, 2, 2]]);
  e.record('cors', 'shop', 'reflected-without-vary', '/x');
  assert.deepEqual(e.list().map((g) => g.code), ['reflected-without-vary', 'ORIGIN_TIMEOUT'], 'the group seen least recently went');
  const merged = mergeEventGroups([e.list(), [{ kind: 'origin-error', zone: 'shop', code: 'ORIGIN_TIMEOUT', detail: 'GET /a', count: 5, first: 0, last: 10 }]]);
  assert.deepEqual(merged.map((g) => [g.code, g.count, g.first, g.last]), [['ORIGIN_TIMEOUT', 7, 0, 10], ['reflected-without-vary', 1, 4, 4]]);
});

// Tests for src/edge/heap-growth.ts and its config field: the default, validation, and applying it in a live process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { validateConfig } from '../config/load.js';
import { applyHeapGrowth, growthPercentFor } from './heap-growth.js';

type Hold = 'none' | 'held' | 'released';

const zones = [{ id: 'a', hosts: ['*'], origin: 'http://127.0.0.1:9' }];

test('cache.heapGrowthPercent defaults to 25, accepts 0 (V8 heuristic) to 400, and refuses anything else by name', () => {
  assert.equal(validateConfig({ zones }, 't').cache.heapGrowthPercent, 25);
  assert.equal(validateConfig({ zones, cache: {} }, 't').cache.heapGrowthPercent, 25);
  assert.equal(validateConfig({ zones, cache: { heapGrowthPercent: 0 } }, 't').cache.heapGrowthPercent, 0);
  for (const bad of [-1, 401, 2.5, '25']) {
    assert.throws(() => validateConfig({ zones, cache: { heapGrowthPercent: bad } }, 't'), /cache\.heapGrowthPercent/);
  }
});

test('cache.heapMinHeadroomBytes defaults to 32 MiB, accepts 0 (no floor), and refuses anything else by name', () => {
  assert.equal(validateConfig({ zones }, 't').cache.heapMinHeadroomBytes, 32 * 1024 * 1024);
  assert.equal(validateConfig({ zones, cache: { heapMinHeadroomBytes: 0 } }, 't').cache.heapMinHeadroomBytes, 0);
  for (const bad of [-1, 1.5, '64', 17 * 1024 ** 3]) {
    assert.throws(() => validateConfig({ zones, cache: { heapMinHeadroomBytes: bad } }, 't'), /cache\.heapMinHeadroomBytes/);
  }
});

test('the growth percent is the larger of the percent and the floor, capped at V8\'s own ×4; 0 keeps V8\'s heuristic', () => {
  const MiB = 1024 * 1024;
  assert.equal(growthPercentFor(25, 64 * MiB, 1024 * MiB), 25); // a large heap: the percent bounds it
  assert.equal(growthPercentFor(25, 64 * MiB, 128 * MiB), 50); // 64 MiB past 128 MiB live
  assert.equal(growthPercentFor(25, 64 * MiB, 18 * MiB), 300); // a small heap: capped at ×4
  assert.equal(growthPercentFor(25, 64 * MiB, 0), 300);
  assert.equal(growthPercentFor(25, 0, 18 * MiB), 25); // no floor
  assert.equal(growthPercentFor(0, 64 * MiB, 18 * MiB), 0); // V8's heuristic
  assert.equal(growthPercentFor(400, 64 * MiB, 18 * MiB), 400); // a percent above the cap is the operator's
});

/**
 * Full GCs in a child that keeps ~15 MiB live and churns ~300 MiB of objects that live long enough to be promoted
 * (its young generation held at 1 MiB, so that they are, whatever this machine's defaults).
 */
function majorGcs(percent: number, minHeadroom: number, hold: Hold): number {
  const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', '-e', `
    const { applyHeapGrowth, holdHeadroom } = await import(${JSON.stringify(new URL('./heap-growth.ts', import.meta.url).href)});
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    let majors = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; }).observe({ entryTypes: ['gc'] });
    applyHeapGrowth(${percent}, ${minHeadroom});
    const hold = ${JSON.stringify(hold)};
    if (hold !== 'none') { const release = holdHeadroom(); if (hold === 'released') { release(); release(); } }
    const live = Array.from({ length: 8 * 1024 }, (_, i) => ({ i, s: 'x'.repeat(1000) + i }));
    const ring = new Array(64).fill(null);
    for (let round = 0; round < 3200; round++) {
      ring[round % 64] = Array.from({ length: 1000 }, (_, i) => ({ round, i, a: [i, round] }));
      if (round % 100 === 0) await new Promise((r) => setImmediate(r)); // let the observer run
    }
    await new Promise((r) => setTimeout(r, 50));
    console.log('majors', majors, live.length, ring.length);
  `], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = /majors (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]);
}

test('while a large body streams, the headroom floor spares a small heap most of its full GCs; released, it is gone', (t) => {
  const MiB64 = 64 * 1024 * 1024;
  const without = majorGcs(25, 0, 'held');
  const held = majorGcs(25, MiB64, 'held');
  const released = majorGcs(25, MiB64, 'released');
  t.diagnostic(`full GCs: ${without} at 25%, ${held} with a 64 MiB floor held, ${released} once released`);
  assert.ok(without >= 10, `25% of a small heap collects often: ${without} full GCs`);
  assert.ok(held * 2 <= without, `a 64 MiB floor held: ${held} full GCs, against ${without} without`);
  assert.ok(released * 2 > without, `released (twice: the second is a no-op), the floor is gone: ${released} full GCs, against ${without} without`);
});

test('applyHeapGrowth refuses a negative or fractional percent, and sets the V8 flag in a running process', () => {
  assert.throws(() => applyHeapGrowth(-5), RangeError);
  assert.throws(() => applyHeapGrowth(1.5), RangeError);
  assert.throws(() => applyHeapGrowth(25, -1), RangeError);
  assert.throws(() => applyHeapGrowth(25, 0.5), RangeError);
  // In a child, so this test process keeps its own GC settings: the flag reads back through V8's flag parser
  // (an unknown flag would make node print a warning and the child would say so).
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { applyHeapGrowth } = await import(${JSON.stringify(new URL('./heap-growth.ts', import.meta.url).href)});
    applyHeapGrowth(30);
    const keep = []; for (let i = 0; i < 200000; i++) keep.push({ i });
    console.log('applied', keep.length);
  `], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /applied 200000/);
  assert.doesNotMatch(r.stderr, /unknown|Error/i);
});

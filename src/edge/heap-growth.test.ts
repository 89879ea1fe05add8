// Tests for src/edge/heap-growth.ts and its config field: the default, validation, and applying it in a live process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { validateConfig } from '../config/load.js';
import { applyHeapGrowth } from './heap-growth.js';

const zones = [{ id: 'a', hosts: ['*'], origin: 'http://127.0.0.1:9' }];

test('cache.heapGrowthPercent defaults to 25, accepts 0 (V8 heuristic) to 400, and refuses anything else by name', () => {
  assert.equal(validateConfig({ zones }, 't').cache.heapGrowthPercent, 25);
  assert.equal(validateConfig({ zones, cache: {} }, 't').cache.heapGrowthPercent, 25);
  assert.equal(validateConfig({ zones, cache: { heapGrowthPercent: 0 } }, 't').cache.heapGrowthPercent, 0);
  for (const bad of [-1, 401, 2.5, '25']) {
    assert.throws(() => validateConfig({ zones, cache: { heapGrowthPercent: bad } }, 't'), /cache\.heapGrowthPercent/);
  }
});

test('applyHeapGrowth refuses a negative or fractional percent, and sets the V8 flag in a running process', () => {
  assert.throws(() => applyHeapGrowth(-5), RangeError);
  assert.throws(() => applyHeapGrowth(1.5), RangeError);
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

// Tests for bench/report.ts: medians and ranges, percentiles, the table's ratios to nginx, and target verdicts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeTargets, emptyRow, percentile, renderScenario, renderTargets, stat, type ScenarioResult } from './report.js';

test('stat gives the median (even and odd counts), min and max, ignoring non-finite values', () => {
  assert.deepEqual(stat([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(stat([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.deepEqual(stat([5, Number.NaN]), { median: 5, min: 5, max: 5, n: 1 });
  assert.equal(stat([]), null);
});

test('percentile is nearest-rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile([7], 90), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

function scenario(id: string, rows: Array<[string, number, number, number]>): ScenarioResult {
  return {
    id,
    title: 't',
    reference: rows.some(([n]) => n.startsWith('nginx')) ? (rows.find(([n]) => n.startsWith('nginx'))?.[0] ?? null) : null,
    notes: [],
    rows: rows.map(([name, rps, p50, p99]) => ({ ...emptyRow(name), rps: stat([rps]), p50Ms: stat([p50]), p99Ms: stat([p99]) })),
  };
}

test('renderScenario prints each figure with its ratio to nginx and the range', () => {
  const s = scenario('hit-1k', [['nginx', 10_000, 2, 8], ['edgecache', 12_000, 1, 4]]);
  s.rows[1]!.rps = stat([11_000, 12_000, 13_000]);
  const text = renderScenario(s);
  assert.match(text, /edgecache\s+12,000 \[11,000–13,000\]\s+×1\.20\s+1\.00\s+×0\.50\s+4\.00\s+×0\.50/);
  assert.match(text, /nginx\s+10,000\s+×1\.00/);
});

test('renderScenario drops ratio columns when there is no reference', () => {
  const s = scenario('purge-fanout', [['edgecache ×4 nodes', 0, 10, 20]]);
  assert.doesNotMatch(renderScenario(s), /×ref/);
});

test('computeTargets judges each target and says N/A when a figure is missing', () => {
  const results: ScenarioResult[] = [
    scenario('hit-1k', [['nginx', 20_000, 2, 8], ['edgecache', 19_000, 2, 8], ['bare node', 20_000, 2, 8]]),
    scenario('hit-1k-workers', [['nginx ×2w', 30_000, 2, 8], ['edgecache ×2w', 31_000, 2, 9]]),
    scenario('miss-latency', [['nginx', 900, 0.9, 3], ['edgecache', 800, 1.1, 3], ['origin direct', 2000, 0.3, 2]]),
  ];
  const mem = emptyRow('edgecache');
  mem.extra = { overheadBytesPerObject: 1500 };
  results.push({ id: 'memory', title: 'm', reference: null, rows: [mem], notes: [] });
  const byId = Object.fromEntries(computeTargets(results, 2).map((t) => [t.id, t]));
  assert.equal(byId['hit-1k-vs-bare']?.status, 'PASS'); // 0.95 ≥ 0.9
  assert.equal(byId['workers-vs-nginx']?.status, 'MISS'); // faster, but p99 9 > 8
  assert.equal(byId['miss-added-p50']?.status, 'PASS'); // +0.8 ms
  assert.equal(byId['memory-overhead']?.status, 'PASS');
  assert.equal(byId['purge-fanout']?.status, 'N/A');
  assert.equal(byId['shared-bodies']?.status, 'N/A');
  assert.match(renderTargets(Object.values(byId)), /\[MISS\]\s+#7\s+edgecache --workers 2/);
});

test('large-1g targets: one origin request and whole bodies pass; RSS growth during the fill and the slow readers\' trend are judged', () => {
  const MiB = 1048576;
  const large = (extra: Record<string, number>): ScenarioResult => ({ id: 'large-1g', title: 't', reference: null, notes: [], rows: [{ ...emptyRow('edgecache'), extra }] });
  const ok = { originRequests: 1, incompleteFills: 0, firstByteMs: 5, originFirstByteMs: 4, rssBeforeBytes: 80 * MiB, rssPeakFillBytes: 100 * MiB, rssSlowStartBytes: 100 * MiB, rssSlowMaxBytes: 120 * MiB, rssSlowSwingBytes: 15 * MiB, rssSlowTrendBytesPer10s: 1 * MiB };
  const status = (extra: Record<string, number>): Record<string, string> => Object.fromEntries(computeTargets([large(extra)], 2).filter((t) => t.issue === 15).map((t) => [t.id, t.status]));
  assert.deepEqual(status(ok), { 'large-1g-origin': 'PASS', 'large-1g-first-byte': 'INFO', 'large-1g-fill-rss': 'PASS', 'large-1g-slow-readers': 'PASS' });
  assert.equal(status({ ...ok, originRequests: 2 })['large-1g-origin'], 'MISS');
  assert.equal(status({ ...ok, incompleteFills: 1 })['large-1g-origin'], 'MISS');
  assert.equal(status({ ...ok, rssPeakFillBytes: 200 * MiB })['large-1g-fill-rss'], 'MISS');
  assert.equal(status({ ...ok, rssSlowTrendBytesPer10s: 8 * MiB })['large-1g-slow-readers'], 'MISS', 'a steady climb is a leak');
  assert.equal(computeTargets([], 2).find((t) => t.id === 'large-1g-origin')?.status, 'N/A');
});

test('renderScenario prints a scenario\'s own table in place of the usual columns', () => {
  const text = renderScenario({ id: 'large-1g', title: 't', reference: null, notes: ['n'], rows: [emptyRow('edgecache')], table: { header: ['contender', 'first byte ms'], rows: [['edgecache', '4.20']] } });
  assert.match(text, /contender\s+first byte ms\nedgecache\s+4\.20\n   · n/);
  assert.doesNotMatch(text, /req\/s/);
});

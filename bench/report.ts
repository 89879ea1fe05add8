// Bench results: the result types, medians and ranges, the text table with ratios to nginx, the targets, the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface Row {
  contender: string;
  rps: Stat | null;
  p50Ms: Stat | null;
  p99Ms: Stat | null;
  /** CPU microseconds the server's processes used per request served (wrk scenarios). */
  cpuUs: Stat | null;
  originRequests: Stat | null;
  memMB: number | null;
  errors: number;
  note: string;
  /** Scenario-specific figures (bytes per object, store bytes, …), also in the JSON. */
  extra: Record<string, number>;
  /** Per-round raw figures, for the JSON file. */
  rounds: Array<Record<string, number>>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** Contender name the ×ratio columns divide by (nginx, or nginx ×Nw); null for no ratios. */
  reference: string | null;
  rows: Row[];
  /** Lines printed under the table: missing contenders, pinning caveats, expectations. */
  notes: string[];
  /** A scenario whose figures are not the usual columns prints this table instead (its rows still go to the JSON). */
  table?: { header: string[]; rows: string[][] };
}

export type TargetStatus = 'PASS' | 'MISS' | 'N/A' | 'INFO';

export interface Target {
  issue: number;
  id: string;
  text: string;
  measured: string;
  status: TargetStatus;
}

/** Nearest-rank percentile of unsorted values (NaN for none). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** Median (mean of the middle two for an even count), min and max; null for no finite values. */
export function stat(values: number[]): Stat | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { median, min: v[0] as number, max: v[v.length - 1] as number, n: v.length };
}

export function emptyRow(contender: string, note = ''): Row {
  return { contender, rps: null, p50Ms: null, p99Ms: null, cpuUs: null, originRequests: null, memMB: null, errors: 0, note, extra: {}, rounds: [] };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

function fmtRps(s: Stat | null): string {
  if (s === null) return '–';
  return s.n > 1 ? `${int(s.median)} [${int(s.min)}–${int(s.max)}]` : int(s.median);
}

function fmtRatio(value: number | null | undefined, ref: number | null | undefined): string {
  if (value === null || value === undefined || ref === null || ref === undefined || !Number.isFinite(value) || !(ref > 0)) return '–';
  return `×${(value / ref).toFixed(2)}`;
}

function pad(cells: string[][]): string[] {
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return cells.map((row) =>
    row
      .map((c, i) => (i === 0 || i === row.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** One scenario as a text table (req/s median [min–max], p50, p99, origin requests, memory, each with ×ref). */
export function renderScenario(s: ScenarioResult): string {
  const ref = s.reference === null ? undefined : s.rows.find((r) => r.contender === s.reference);
  const rl = s.reference === null ? 'ref' : s.reference.split(' ')[0] ?? 'ref';
  const header = ['contender', 'req/s median [min–max]', `×${rl}`, 'p50 ms', `×${rl}`, 'p99 ms', `×${rl}`, 'CPU µs/req', `×${rl}`, 'origin req', `×${rl}`, 'mem MB', `×${rl}`, 'note'];
  // Without a reference contender the ratio columns (even indexes 2…12) are dropped; CPU columns only where measured.
  const hasCpu = s.rows.some((r) => r.cpuUs !== null);
  const keep = (_: string, i: number): boolean => (s.reference !== null || !(i >= 2 && i <= 12 && i % 2 === 0)) && (hasCpu || (i !== 7 && i !== 8));
  const cells = [header.filter(keep)];
  for (const r of s.rows) {
    cells.push([
      r.contender,
      fmtRps(r.rps),
      fmtRatio(r.rps?.median, ref?.rps?.median),
      r.p50Ms ? ms(r.p50Ms.median) : '–',
      fmtRatio(r.p50Ms?.median, ref?.p50Ms?.median),
      r.p99Ms ? ms(r.p99Ms.median) : '–',
      fmtRatio(r.p99Ms?.median, ref?.p99Ms?.median),
      r.cpuUs ? r.cpuUs.median.toFixed(1) : '–',
      fmtRatio(r.cpuUs?.median, ref?.cpuUs?.median),
      r.originRequests ? (r.originRequests.n > 1 && r.originRequests.min !== r.originRequests.max ? `${int(r.originRequests.median)} [${int(r.originRequests.min)}–${int(r.originRequests.max)}]` : int(r.originRequests.median)) : '–',
      fmtRatio(r.originRequests?.median, ref?.originRequests?.median),
      r.memMB === null ? '–' : r.memMB.toFixed(1),
      fmtRatio(r.memMB, ref?.memMB),
      [r.errors > 0 ? `${int(r.errors)} errors` : '', r.note].filter((x) => x !== '').join('; '),
    ].filter(keep));
  }
  const lines = [`== ${s.id}: ${s.title}`];
  if (s.table !== undefined) lines.push(...pad([s.table.header, ...s.table.rows]));
  else if (s.rows.length > 0) lines.push(...pad(cells));
  for (const n of s.notes) lines.push(`   · ${n}`);
  return lines.join('\n');
}

export function renderTargets(targets: Target[]): string {
  const w = Math.max(0, ...targets.map((t) => t.text.length));
  const lines = targets.map((t) => `   ${`[${t.status}]`.padEnd(6)}  #${t.issue}  ${t.text.padEnd(w)}  ${t.measured}`);
  return ['== targets', ...lines].join('\n');
}

function row(results: ScenarioResult[], scenario: string, contender: string): Row | undefined {
  return results.find((s) => s.id === scenario)?.rows.find((r) => r.contender === contender);
}

function judge(ok: boolean | null): TargetStatus {
  return ok === null ? 'N/A' : ok ? 'PASS' : 'MISS';
}

/** The speed and memory targets, from the scenario results (N/A when a figure is missing). */
export function computeTargets(results: ScenarioResult[], workers: number): Target[] {
  const out: Target[] = [];
  const na = (what: string): string => `not measured (${what})`;

  const e1 = row(results, 'hit-1k', 'edgecache')?.rps;
  const b1 = row(results, 'hit-1k', 'bare node')?.rps;
  const ec = row(results, 'hit-1k', 'edgecache')?.cpuUs;
  const bc = row(results, 'hit-1k', 'bare node')?.cpuUs;
  // The same comparison in CPU per request (bare ÷ edgecache), steadier than req/s on a shared machine.
  const cpu = ec && bc ? `; CPU/request ${bc.median.toFixed(1)} vs ${ec.median.toFixed(1)} µs = ×${(bc.median / ec.median).toFixed(2)}` : '';
  out.push({
    issue: 7,
    id: 'hit-1k-vs-bare',
    text: 'edgecache 1 KiB hits ≥ 0.9 × bare Node req/s',
    measured: e1 && b1 ? `${int(e1.median)} / ${int(b1.median)} = ×${(e1.median / b1.median).toFixed(2)}${cpu}` : na(e1 ? 'no bare row' : 'no edgecache row'),
    status: judge(e1 && b1 ? e1.median >= 0.9 * b1.median : null),
  });

  const ew = row(results, 'hit-1k-workers', `edgecache ×${workers}w`);
  const nw = row(results, 'hit-1k-workers', `nginx ×${workers}w`);
  const bw = row(results, 'hit-1k-workers', `bare node ×${workers}w`);
  const haveW = ew?.rps && nw?.rps && ew.p99Ms && nw.p99Ms;
  // The Node ceiling beside it: what node:cluster answering a preallocated buffer reaches against the same nginx.
  const ceiling = haveW && bw?.rps && bw.p99Ms ? `; bare node ×${workers}w: req/s ×${(bw.rps.median / nw.rps!.median).toFixed(2)}, p99 ${ms(bw.p99Ms.median)} ms` : '';
  out.push({
    issue: 7,
    id: 'workers-vs-nginx',
    text: `edgecache --workers ${workers} ≥ 1.0 × nginx ${workers} workers on 1 KiB hits, p99 no worse`,
    measured: haveW
      ? `req/s ×${(ew.rps!.median / nw.rps!.median).toFixed(2)}, p99 ${ms(ew.p99Ms!.median)} vs ${ms(nw.p99Ms!.median)} ms${ceiling}`
      : na('needs both multi-worker rows'),
    status: judge(haveW ? ew.rps!.median >= nw.rps!.median && ew.p99Ms!.median <= nw.p99Ms!.median : null),
  });

  const em = row(results, 'miss-latency', 'edgecache')?.p50Ms;
  const om = row(results, 'miss-latency', 'origin direct')?.p50Ms;
  const nm = row(results, 'miss-latency', 'nginx')?.p50Ms;
  out.push({
    issue: 7,
    id: 'miss-added-p50',
    text: 'misses add ≤ 1 ms p50 over the origin directly (1 connection)',
    measured:
      em && om
        ? `+${(em.median - om.median).toFixed(2)} ms (${ms(em.median)} vs ${ms(om.median)})${nm ? `; nginx +${(nm.median - om.median).toFixed(2)} ms` : ''}`
        : na('needs edgecache and origin-direct rows'),
    status: judge(em && om ? em.median - om.median <= 1 : null),
  });

  // Issue 19: hits at nginx's speed (a fast path in front of node:http), misses near nginx and near a bare Node proxy.
  const n1 = row(results, 'hit-1k', 'nginx');
  const e1r = row(results, 'hit-1k', 'edgecache');
  const cpuOf = (r: Row | undefined): string => (r?.cpuUs ? `${r.cpuUs.median.toFixed(1)} µs` : '–');
  out.push({
    issue: 19,
    id: 'hit-1k-vs-nginx',
    text: 'edgecache 1 KiB hits ≥ 0.9 × nginx 1 worker',
    measured: e1 && n1?.rps ? `${int(e1.median)} / ${int(n1.rps.median)} = ×${(e1.median / n1.rps.median).toFixed(2)}; CPU/request ${cpuOf(e1r)} vs ${cpuOf(n1)}` : na('needs edgecache and nginx rows'),
    status: judge(e1 && n1?.rps ? e1.median >= 0.9 * n1.rps.median : null),
  });
  out.push({
    issue: 19,
    id: 'hit-1k-vs-bare-1.5',
    text: 'edgecache 1 KiB hits ≥ 1.5 × bare node:http',
    measured: e1 && b1 ? `×${(e1.median / b1.median).toFixed(2)}; CPU/request ${cpuOf(e1r)} vs ${cpuOf(row(results, 'hit-1k', 'bare node'))}` : na('needs edgecache and bare rows'),
    status: judge(e1 && b1 ? e1.median >= 1.5 * b1.median : null),
  });
  // Before/after in the same run: edgecache with and without its fast path.
  const off = row(results, 'hit-1k', 'edgecache (no fast path)');
  out.push({
    issue: 19,
    id: 'fast-path-gain',
    text: 'fast path on ÷ off, 1 KiB hits (before/after, same run)',
    measured: e1 && off?.rps ? `${int(e1.median)} / ${int(off.rps.median)} = ×${(e1.median / off.rps.median).toFixed(2)}; CPU/request ${cpuOf(e1r)} vs ${cpuOf(off)}` : na('needs both edgecache rows'),
    status: 'INFO',
  });
  const ep = e1r?.p99Ms;
  const np = n1?.p99Ms;
  out.push({
    issue: 19,
    id: 'hit-1k-p99',
    text: 'p99 of 1 KiB hits ≤ 1.5 × nginx p99',
    measured: ep && np ? `${ms(ep.median)} vs ${ms(np.median)} ms = ×${(ep.median / np.median).toFixed(2)}` : na('needs edgecache and nginx rows'),
    status: judge(ep && np ? ep.median <= 1.5 * np.median : null),
  });
  out.push({
    issue: 19,
    id: 'workers-vs-nginx-19',
    text: `edgecache --workers ${workers} 1 KiB hits ≥ 1.0 × nginx ${workers} workers`,
    measured: haveW ? `×${(ew.rps!.median / nw.rps!.median).toFixed(2)}; CPU/request ${cpuOf(ew)} vs ${cpuOf(nw)}` : na('needs both multi-worker rows'),
    status: judge(haveW ? ew.rps!.median >= nw.rps!.median : null),
  });
  const emh = row(results, 'miss-heavy', 'edgecache');
  const nmh = row(results, 'miss-heavy', 'nginx');
  const pmh = row(results, 'miss-heavy', 'bare Node proxy');
  const ratio = (a: Row | undefined, b: Row | undefined): number | null => (a?.rps && b?.rps ? a.rps.median / b.rps.median : null);
  const vsN = ratio(emh, nmh);
  const vsP = ratio(emh, pmh);
  out.push({
    issue: 19,
    id: 'miss-heavy',
    text: 'misses (unique URLs, 1 KiB) ≥ 0.8 × nginx and ≥ 0.8 × bare Node proxy',
    measured: vsN !== null || vsP !== null
      ? `×${vsN?.toFixed(2) ?? '–'} of nginx, ×${vsP?.toFixed(2) ?? '–'} of the bare Node proxy; CPU/request ${cpuOf(emh)} vs nginx ${cpuOf(nmh)}, proxy ${cpuOf(pmh)}`
      : na('needs edgecache, nginx and bare proxy rows'),
    status: judge(vsN !== null && vsP !== null ? vsN >= 0.8 && vsP >= 0.8 : null),
  });

  const memRow = row(results, 'memory', 'edgecache');
  const mem = memRow?.extra.overheadBytesPerObject;
  const objects = memRow?.extra.objects ?? 0;
  out.push({
    issue: 7,
    id: 'memory-overhead',
    text: 'memory ≤ 2 KiB overhead per cached 1 KiB object beyond its body',
    measured: mem === undefined ? na('no edgecache memory row') : `${int(mem)} B/object over the body (${int(objects)} objects)`,
    status: judge(mem === undefined ? null : mem <= 2048),
  });

  const pf = row(results, 'purge-fanout', 'edgecache ×4 nodes');
  const pMed = pf?.extra.medianMs;
  out.push({
    issue: 6,
    id: 'purge-fanout',
    text: 'purge reaches nodes 2–4 within 150 ms (median)',
    measured: pMed === undefined ? na('scenario not run or edgecache not runnable') : `median ${ms(pMed)} ms, p90 ${ms(pf?.extra.p90Ms ?? Number.NaN)} ms`,
    status: judge(pMed === undefined ? null : pMed <= 150 && (pf?.extra.timeouts ?? 0) === 0),
  });

  const sb = row(results, 'shared-bodies', 'edgecache')?.extra.storeBytes;
  out.push({
    issue: 5,
    id: 'shared-bodies',
    text: '50 Origins × one 1 MiB asset: edgecache_store_bytes ≤ 1.1 MiB',
    measured: sb === undefined ? na('no edgecache row') : `${(sb / 1048576).toFixed(2)} MiB`,
    status: judge(sb === undefined ? null : sb <= 1.1 * 1048576),
  });

  // Issue 15: a 1 GiB object through the disk tier.
  const lg = row(results, 'large-1g', 'edgecache')?.extra;
  const lgN = row(results, 'large-1g', 'nginx')?.extra;
  const noLarge = na('large-1g not run or no edgecache row');
  out.push({
    issue: 15,
    id: 'large-1g-origin',
    text: 'large object: one origin fetch for 20 concurrent clients during the fill',
    measured: lg?.originRequests === undefined ? noLarge : `${lg.originRequests} origin request(s), ${lg.incompleteFills ?? 0} incomplete bodies${lgN?.originRequests !== undefined ? `; nginx ${lgN.originRequests}` : ''}`,
    status: judge(lg?.originRequests === undefined ? null : lg.originRequests === 1 && lg.incompleteFills === 0),
  });
  out.push({
    issue: 15,
    id: 'large-1g-first-byte',
    text: 'large object: first byte of a miss about the origin\'s',
    measured: lg?.firstByteMs === undefined ? noLarge : `${ms(lg.firstByteMs)} ms vs the origin's ${ms(lg.originFirstByteMs ?? Number.NaN)} ms${lgN?.firstByteMs !== undefined ? `; nginx ${ms(lgN.firstByteMs)} ms` : ''}`,
    status: 'INFO',
  });
  const growth = lg?.rssPeakFillBytes !== undefined ? lg.rssPeakFillBytes - (lg.rssBeforeBytes ?? 0) : undefined;
  out.push({
    issue: 15,
    id: 'large-1g-fill-rss',
    text: 'large object: RSS grows < 100 MiB during the fill',
    measured: growth === undefined ? noLarge : `+${(growth / 1048576).toFixed(1)} MiB (peak ${(lg!.rssPeakFillBytes! / 1048576).toFixed(1)} MiB)`,
    status: judge(growth === undefined ? null : growth < 100 * 1048576),
  });
  const slow = lg?.rssSlowMaxBytes !== undefined ? lg.rssSlowMaxBytes - (lg.rssSlowStartBytes ?? 0) : undefined;
  const trend = lg?.rssSlowTrendBytesPer10s;
  out.push({
    issue: 15,
    id: 'large-1g-slow-readers',
    text: 'large object: 100 slow readers keep RSS flat (< 50 MiB growth, trend < 5 MiB per 10 s once started)',
    measured: slow === undefined ? noLarge : `+${(slow / 1048576).toFixed(1)} MiB over the readers' run; second half: swing ${((lg!.rssSlowSwingBytes ?? 0) / 1048576).toFixed(1)} MiB, trend ${((trend ?? 0) / 1048576).toFixed(1)} MiB per 10 s`,
    status: judge(slow === undefined ? null : slow < 50 * 1048576 && (trend ?? 0) < 5 * 1048576),
  });
  return out;
}

export function writeJson(file: string, data: { meta: Record<string, unknown>; scenarios: ScenarioResult[]; targets: Target[] }): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

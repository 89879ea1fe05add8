// Bench scenarios on one machine: interleaved wrk runs (hits, rotating Origins, misses), the cold start, memory per object.
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { OriginHandle, Running } from './contenders.js';
import { httpRequest, sleep } from './proc.js';
import { emptyRow, percentile, stat, type Row, type ScenarioResult } from './report.js';
import { runWrk, type WrkLoad, type WrkResult } from './wrk.js';

/** The Origin header values the loads send (the first one for single-Origin loads). */
export const ORIGINS = ['https://app0.example', 'https://app1.example', 'https://app2.example', 'https://app3.example'];

export interface RunConfig {
  wrk: string;
  rounds: number;
  durationS: number;
  connections: number;
  /** taskset list for wrk (undefined: not pinned). */
  wrkCpus?: string;
  workDir: string;
  /** Nonce that keeps unique URLs unique across runs against long-lived servers. */
  nonce: string;
  /** Seconds of unrecorded wrk load the first time a contender is used (JIT warm-up). */
  warmupS: number;
}

export interface WrkScenario {
  id: string;
  title: string;
  path: string;
  origins: string[];
  unique: boolean;
  connections?: number;
  durationS?: number;
}

const MB = 1024 * 1024;
const slug = (s: string): string => s.replace(/[^a-z0-9]+/gi, '-').toLowerCase();

/** Contenders in round r: rotated so no one always runs first or right after another's load. */
export function rotate<T>(items: T[], r: number): T[] {
  if (items.length === 0) return items;
  const k = r % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function loadFor(sc: WrkScenario, c: Running, cfg: RunConfig, round: number): WrkLoad {
  return {
    path: sc.path,
    origins: sc.origins,
    uniquePrefix: sc.unique ? `/unique/${cfg.nonce}-${sc.id}-${slug(c.name)}-r${round}-` : undefined,
  };
}

/** Fill the cache for each variant the load asks for; returns an error text or null. */
async function prime(c: Running, sc: WrkScenario): Promise<string | null> {
  for (const origin of sc.origins) {
    for (let i = 0; i < 2; i++) {
      try {
        const r = await httpRequest(`${c.url}${sc.path}`, { headers: { origin } });
        if (r.status !== 200) return `priming ${sc.path} answered ${r.status}`;
      } catch (err) {
        return `priming failed: ${(err as Error).message}`;
      }
    }
  }
  return null;
}

/** Seconds of unrecorded miss load a Node contender gets before its first miss scenario (JIT of the whole miss path). */
const MISS_WARMUP_S = 5;
const warmedForMisses = new WeakSet<Running>();

/** One wrk scenario, every contender, `rounds` interleaved rounds. */
export async function runWrkScenario(sc: WrkScenario, contenders: Running[], origin: OriginHandle, cfg: RunConfig, warmed: Set<Running>): Promise<ScenarioResult> {
  const durationS = sc.durationS ?? cfg.durationS;
  const connections = sc.connections ?? cfg.connections;
  const per = new Map<Running, { runs: WrkResult[]; origin: number[]; mem: number[]; cpuUs: number[]; gcUs: number[]; gcPer1k: number[]; failure: string | null }>();
  for (const c of contenders) per.set(c, { runs: [], origin: [], mem: [], cpuUs: [], gcUs: [], gcPer1k: [], failure: sc.unique ? null : await prime(c, sc) });

  for (const c of contenders) {
    const p = per.get(c);
    // Only Node servers need a JIT warm-up; nginx, Varnish and the origin-direct baseline don't. A miss load runs code
    // a hit load never reached (the origin client, the fill, the store's insert): it gets its own, longer warm-up.
    const done = sc.unique ? warmedForMisses.has(c) : warmed.has(c);
    if (done || p?.failure || cfg.warmupS <= 0 || (c.kind !== 'edgecache' && c.kind !== 'bare' && c.kind !== 'bare-proxy')) continue;
    const warmS = sc.unique ? Math.max(cfg.warmupS, MISS_WARMUP_S) : cfg.warmupS;
    try {
      await runWrk({ wrk: cfg.wrk, url: `${c.url}${sc.path}`, load: loadFor(sc, c, cfg, -1), connections, threads: 1, durationS: warmS, cpus: cfg.wrkCpus, workDir: cfg.workDir, tag: `warm-${slug(c.name)}` });
      warmed.add(c);
      if (sc.unique) warmedForMisses.add(c);
    } catch (err) {
      if (p) p.failure = (err as Error).message;
    }
  }

  for (let round = 0; round < cfg.rounds; round++) {
    for (const c of rotate(contenders, round)) {
      const p = per.get(c);
      if (!p || p.failure) continue;
      try {
        // GC figures are read outside the CPU window (the metrics request is not the load's).
        const gcBefore = sc.unique ? await gcFigures(c) : undefined;
        const before = (await origin.count()).total;
        const cpuBefore = c.cpuSeconds();
        const res = await runWrk({
          wrk: cfg.wrk,
          url: `${c.url}${sc.path}`,
          load: loadFor(sc, c, cfg, round),
          connections,
          threads: 1,
          durationS,
          cpus: cfg.wrkCpus,
          workDir: cfg.workDir,
          tag: `${sc.id}-${slug(c.name)}-r${round}`,
        });
        const cpuUsed = c.cpuSeconds() - cpuBefore;
        const after = (await origin.count()).total;
        p.runs.push(res);
        if (res.requests > 0) p.cpuUs.push((cpuUsed * 1e6) / res.requests);
        p.origin.push(after - before);
        p.mem.push(c.memoryBytes());
        const gcAfter = gcBefore ? await gcFigures(c) : undefined;
        if (gcBefore && gcAfter && res.requests > 0) {
          p.gcUs.push(((gcAfter.seconds - gcBefore.seconds) * 1e6) / res.requests);
          p.gcPer1k.push(((gcAfter.count - gcBefore.count) * 1000) / res.requests);
        }
      } catch (err) {
        p.failure = (err as Error).message;
      }
    }
  }

  const rows: Row[] = [];
  for (const c of contenders) {
    const p = per.get(c);
    if (!p) continue;
    const row = emptyRow(c.name, p.failure ? `FAILED: ${p.failure.slice(0, 160)}` : '');
    row.rps = stat(p.runs.map((r) => r.rps));
    row.p50Ms = stat(p.runs.map((r) => r.p50Ms));
    row.p99Ms = stat(p.runs.map((r) => r.p99Ms));
    row.cpuUs = stat(p.cpuUs);
    row.originRequests = stat(p.origin);
    row.memMB = p.mem.length > 0 ? (p.mem[p.mem.length - 1] as number) / MB : null;
    row.errors = p.runs.reduce((a, r) => a + r.errors, 0);
    row.rounds = p.runs.map((r, i) => ({ cpuUsPerRequest: p.cpuUs[i] ?? Number.NaN, rps: r.rps, p50Ms: r.p50Ms, p90Ms: r.p90Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, requests: r.requests, errors: r.errors, originRequests: p.origin[i] ?? 0 }));
    if (!sc.unique && p.origin.some((n) => n > 0)) row.note = [row.note, 'hits went to the origin'].filter(Boolean).join('; ');
    if (row.rps && row.rps.n > 1 && row.rps.max > 1.5 * row.rps.min) row.note = [row.note, `noisy: rounds differ ×${(row.rps.max / row.rps.min).toFixed(1)}`].filter(Boolean).join('; ');
    rows.push(row);
  }
  const ref = contenders.find((c) => c.kind === 'nginx')?.name ?? null;
  const notes: string[] = [];
  for (const c of contenders) {
    const p = per.get(c);
    if (!p || p.gcUs.length === 0) continue;
    const us = stat(p.gcUs);
    const n = stat(p.gcPer1k);
    if (us && n) notes.push(`${c.name} GC per request: ${us.median.toFixed(1)} µs paused (${n.median.toFixed(1)} collections per 1,000 requests; nodejs_gc_duration_seconds, wall time)`);
  }
  return { id: sc.id, title: `${sc.title} — ${connections} connection${connections === 1 ? '' : 's'}, ${cfg.rounds} × ${durationS} s interleaved`, reference: ref, rows, notes };
}

/** edgecache's garbage collection so far (prom-client's nodejs_gc_duration_seconds on its admin /metrics), summed over kinds. */
async function gcFigures(c: Running): Promise<{ seconds: number; count: number } | undefined> {
  if (c.kind !== 'edgecache' || !c.adminUrl) return undefined;
  try {
    const r = await httpRequest(`${c.adminUrl}/metrics`, { headers: { authorization: `Bearer ${c.adminToken ?? ''}` } });
    let seconds = 0;
    let count = 0;
    for (const line of r.body.toString('utf8').split('\n')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('nodejs_gc_duration_seconds_sum')) seconds += value;
      else if (line.startsWith('nodejs_gc_duration_seconds_count')) count += value;
    }
    return { seconds, count };
  } catch {
    return undefined;
  }
}

/** `clients` simultaneous requests on fresh connections for one never-seen URL on a slow origin path. */
async function coldOnce(c: Running, origin: OriginHandle, path: string, clients: number, variants: number): Promise<{ wallMs: number; lat: number[]; failed: number; originRequests: number }> {
  const t0 = performance.now();
  const lat: number[] = [];
  let failed = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const s = performance.now();
      try {
        const r = await httpRequest(`${c.url}${path}`, { headers: { origin: ORIGINS[i % variants] as string }, timeoutMs: 15_000 });
        if (r.status !== 200) failed += 1;
      } catch {
        failed += 1;
      }
      lat.push(performance.now() - s);
    }),
  );
  const wallMs = performance.now() - t0;
  return { wallMs, lat, failed, originRequests: (await origin.count(path)).path };
}

/** Cold start: 50 clients at once on an uncached URL whose origin answers after 200 ms, two Origins (2 variants). */
export async function runColdScenario(contenders: Running[], origin: OriginHandle, rounds: number, nonce: string): Promise<ScenarioResult> {
  const clients = 50;
  const variants = 2;
  const rows: Row[] = [];
  const per = new Map<Running, Array<{ wallMs: number; lat: number[]; failed: number; originRequests: number }>>();
  for (const c of contenders) per.set(c, []);
  for (let round = 0; round < rounds; round++) {
    for (const c of rotate(contenders, round)) {
      const path = `/slow/cold-${nonce}-${slug(c.name)}-r${round}?delay=200`;
      per.get(c)?.push(await coldOnce(c, origin, path, clients, variants));
      await sleep(100);
    }
  }
  for (const c of contenders) {
    const runs = per.get(c) ?? [];
    const row = emptyRow(c.name);
    row.rps = stat(runs.map((r) => (clients * 1000) / r.wallMs));
    row.p50Ms = stat(runs.map((r) => percentile(r.lat, 50)));
    row.p99Ms = stat(runs.map((r) => percentile(r.lat, 99)));
    row.originRequests = stat(runs.map((r) => r.originRequests));
    row.errors = runs.reduce((a, r) => a + r.failed, 0);
    row.memMB = c.memoryBytes() / MB;
    const ok = runs.every((r) => r.originRequests === variants);
    row.note = ok ? `collapsed: ${variants} origin requests per run (1 per variant)` : `NOT collapsed: ${runs.map((r) => r.originRequests).join(', ')} origin requests (want ${variants})`;
    row.rounds = runs.map((r) => ({ wallMs: r.wallMs, p50Ms: percentile(r.lat, 50), p99Ms: percentile(r.lat, 99), originRequests: r.originRequests, failed: r.failed }));
    rows.push(row);
  }
  return {
    id: 'cold-50',
    title: `cold start — ${clients} clients at once on a new URL (origin answers in 200 ms), ${variants} Origins, ${rounds} round${rounds === 1 ? '' : 's'}`,
    reference: contenders.find((c) => c.kind === 'nginx')?.name ?? null,
    rows,
    notes: ['req/s here = 50 / wall time of the burst; p50/p99 include the 200 ms origin delay'],
  };
}

/**
 * Memory per cached object: memory of a server before and after caching `n` distinct 1 KiB objects, the server having
 * cached a warm-up set of min(2000, n/5) objects first (PSS of the process group, plus nginx's cache files on tmpfs).
 */
export async function measureMemory(c: Running, origin: OriginHandle, n: number, nonce: string, budgetMs: number): Promise<Row> {
  const row = emptyRow(c.name);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const url = (tag: string, i: number): string => `${c.url}/unique/mem-${nonce}-${slug(c.name)}-${tag}-${i}`;
  /** Caches objects tag-0 … tag-(count-1) on 16 connections until `deadline`; returns how many were sent and failed. */
  const fill = async (tag: string, count: number, deadline: number): Promise<{ sent: number; failed: number }> => {
    let next = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < count && performance.now() < deadline) {
        const i = next++;
        try {
          const r = await httpRequest(url(tag, i), { headers: { origin: ORIGINS[0] as string }, agent });
          if (r.status !== 200) failed += 1;
        } catch {
          failed += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return { sent: next, failed };
  };
  try {
    // Warm-up: the same miss load on a smaller scale first, so that what a server grows once when it starts working
    // (connection pools, JIT code, a garbage-collected heap's young generation) is in the baseline, not in the
    // per-object figure. Every contender gets the same warm-up.
    const warm = Math.min(2000, Math.ceil(n / 5));
    await fill('warm', warm, performance.now() + budgetMs);
    await sleep(500);
    const before = c.memoryBytes();
    const originBefore = (await origin.count()).total;
    const { sent: next, failed } = await fill('obj', n, performance.now() + budgetMs);
    const stored = next; // requests sent; fewer than n when the time budget ran out
    const filled = (await origin.count()).total - originBefore;
    await sleep(1000);
    const after = c.memoryBytes();
    // Re-request a sample: these must be hits (no new origin requests) for the figure to mean "cached".
    const sampleBefore = (await origin.count()).total;
    const step = Math.max(1, Math.floor(stored / 100));
    let samples = 0;
    for (let i = 0; i < stored; i += step, samples++) await httpRequest(url('obj', i), { headers: { origin: ORIGINS[0] as string }, agent });
    const sampleMisses = (await origin.count()).total - sampleBefore;
    const perObject = stored > 0 ? (after - before) / stored : Number.NaN;
    row.memMB = after / MB;
    row.originRequests = stat([filled]);
    row.errors = failed;
    row.extra = { objects: stored, warmupObjects: warm, bytesBefore: before, bytesAfter: after, bytesPerObject: perObject, overheadBytesPerObject: perObject - 1024, sampleMisses };
    row.note = `${Math.round(perObject).toLocaleString('en-US')} B/object (${Math.round(perObject - 1024).toLocaleString('en-US')} over the 1 KiB body), +${((after - before) / MB).toFixed(1)} MB`;
    if (stored < n) row.note += `; only ${stored.toLocaleString('en-US')} objects within the ${Math.round(budgetMs / 1000)} s budget${stored < n / 2 ? ' (too few: start-up allocations weigh in)' : ''}`;
    if (sampleMisses > 0) row.note += `; ${sampleMisses} of ${samples} re-requests missed`;
  } catch (err) {
    row.note = `FAILED: ${(err as Error).message.slice(0, 160)}`;
  } finally {
    agent.destroy();
  }
  return row;
}

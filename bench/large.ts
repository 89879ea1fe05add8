// The large-object scenario (`large-1g`): a 1 GiB miss through a disk cache, edgecache beside nginx proxy_cache —
// first byte against the origin's own, origin requests for 20 concurrent clients during the fill, peak RSS during the
// fill, and RSS while 100 clients read the cached object at ~1 MiB/s each.
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { groupPids, sleep } from './proc.js';
import { emptyRow, stat, type Row, type ScenarioResult } from './report.js';
import type { OriginHandle, Running } from './contenders.js';

export interface LargeOptions {
  /** Object size in bytes (the origin generates it: /large/<size>). */
  size: number;
  /** Clients reading the object during its fill: the first (reads it all), then the rest once it has its first byte. */
  fillClients: number;
  /** Bytes each of the clients after the first reads before it closes (the whole object when not below it). */
  joinerBytes: number;
  slowReaders: number;
  /** Bytes per second each slow reader takes. */
  slowRate: number;
  slowSeconds: number;
  nonce: string;
}

const MiB = 1024 * 1024;
const HOST = 'large.bench.example';

/** Resident memory of a process group (sum of VmRSS), bytes. */
export function groupRssBytes(pgid: number): number {
  let total = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return total;
}

/** Samples a process group's RSS every `everyMs` until stopped: the samples, in bytes. */
function rssSampler(pgid: number, everyMs: number): { stop(): number[] } {
  const samples = [groupRssBytes(pgid)];
  const t = setInterval(() => samples.push(groupRssBytes(pgid)), everyMs);
  return { stop: () => { clearInterval(t); samples.push(groupRssBytes(pgid)); return samples; } };
}

/** Small fills before the measured one (each its own URL: a miss, stored). */
const WARM_FILLS = 200;

interface Read { status: number; firstByteMs: number; totalMs: number; bytes: number; complete: boolean; cache: string }

/** A GET read to its end (bytes counted, not kept), or until `stopAfter` bytes when given (then the connection is closed). */
function readAll(url: string, stopAfter = Infinity, onFirstByte?: () => void, timeoutMs = 600_000): Promise<Read> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let firstByteMs = Number.NaN;
    let bytes = 0;
    let status = 0;
    let cache = '';
    let done = false;
    const finish = (complete: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, firstByteMs, totalMs: performance.now() - t0, bytes, complete, cache });
    };
    const req = request(url, { headers: { host: HOST }, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      cache = String(res.headers['cf-cache-status'] ?? res.headers['x-cache'] ?? '');
      res.on('data', (c: Buffer) => {
        if (bytes === 0) { firstByteMs = performance.now() - t0; onFirstByte?.(); }
        bytes += c.length;
        if (bytes >= stopAfter) { finish(true); req.destroy(); }
      });
      res.on('end', () => finish(res.complete));
      res.on('error', () => finish(false));
      res.on('close', () => finish(res.complete));
    });
    const timer = setTimeout(() => { req.destroy(); finish(false); }, timeoutMs);
    req.on('error', () => finish(false));
    req.end();
  });
}

/** Clients reading one URL at `rate` bytes/s each over raw sockets (the client paces with pause/resume). */
function slowReaders(base: string, path: string, n: number, rate: number): { bytes(): number; errors(): number; stop(): void } {
  const { hostname, port } = new URL(base);
  const sockets: Socket[] = [];
  let total = 0;
  let errors = 0;
  const timers = new Set<NodeJS.Timeout>();
  for (let i = 0; i < n; i++) {
    const s = connect(Number(port), hostname);
    const t0 = performance.now();
    let got = 0;
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => {
      got += c.length;
      total += c.length;
      // A bucket of `rate` bytes per second (64 KiB of burst): past it the socket waits until it is due again.
      const due = ((got - 64 * 1024) / rate) * 1000 - (performance.now() - t0);
      if (due > 0) {
        s.pause();
        const t = setTimeout(() => { timers.delete(t); s.resume(); }, due);
        timers.add(t);
      }
    });
    s.on('error', () => { errors++; });
    sockets.push(s);
  }
  return {
    bytes: () => total,
    errors: () => errors,
    stop: () => { for (const t of timers) clearTimeout(t); for (const s of sockets) s.destroy(); },
  };
}

/** The origin's own first byte for an object of this size (a URL nobody caches), then the connection is closed. */
async function originFirstByte(origin: OriginHandle, size: number, tag: string): Promise<number> {
  const r = await readAll(`${origin.url}/large/${size}?direct=${tag}`, 1);
  return r.firstByteMs;
}

const swing = (xs: number[]): number => (xs.length === 0 ? 0 : Math.max(...xs) - Math.min(...xs));

/** The least-squares slope of samples taken every `everyS` seconds, per 10 s. */
function trendPer10s(ys: number[], everyS: number): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = ((n - 1) * everyS) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => { const dx = i * everyS - mx; num += dx * (y - my); den += dx * dx; });
  return (num / den) * 10;
}
const mb = (b: number): string => (b / MiB).toFixed(1);
const msf = (n: number): string => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '–');

/** One contender through the three phases; its cache directory is the caller's to remove. */
async function measure(c: Running, origin: OriginHandle, o: LargeOptions): Promise<Row> {
  const row = emptyRow(c.name);
  const path = `/large/${o.size}?n=${o.nonce}-${c.kind}`;
  const url = `${c.url}${path}`;
  const pgid = c.proc.pid;
  // Small fills through the same path first (origin connection open, and code compiled: a JIT compiles a path that has
  // run many times, not once), so the figure is the 1 GiB's own, as on a server that has been serving for a while.
  for (let i = 0; i < WARM_FILLS; i++) await readAll(`${c.url}/large/65536?warm=${o.nonce}-${i}`);
  await sleep(500);
  const originTtfb = await originFirstByte(origin, o.size, `${o.nonce}-${c.kind}`);
  const before = groupRssBytes(pgid);
  const cpu0 = c.cpuSeconds();
  // The fill: one client, then the others as soon as it has its first byte (they join the fill in progress).
  const fillRss = rssSampler(pgid, 50);
  let leaderFirst!: () => void;
  const first = new Promise<void>((r) => { leaderFirst = r; });
  const t0 = performance.now();
  const leader = readAll(url, Infinity, leaderFirst);
  void leader.then(() => leaderFirst()); // a leader that fails before any byte does not hold the others back
  await first;
  const joinerBytes = Math.min(o.joinerBytes, o.size);
  const joiners = Array.from({ length: o.fillClients - 1 }, () => readAll(url, joinerBytes < o.size ? joinerBytes : Infinity));
  const reads = await Promise.all([leader, ...joiners]);
  const fillMs = performance.now() - t0;
  const fillCpu = c.cpuSeconds() - cpu0;
  const fillSamples = fillRss.stop();
  const originRequests = (await origin.count(path)).path;
  const bad = reads.filter((r, i) => r.status !== 200 || !r.complete || r.bytes < (i === 0 ? o.size : joinerBytes)).length;

  // The cached object, read slowly by many clients: RSS sampled for a bounded time, then the readers are stopped.
  const check = await readAll(url, 1);
  await sleep(1000);
  const slowStart = groupRssBytes(pgid);
  const readers = slowReaders(c.url, path, o.slowReaders, o.slowRate);
  const slowSamples: number[] = [];
  const until = performance.now() + o.slowSeconds * 1000;
  while (performance.now() < until) {
    await sleep(500);
    slowSamples.push(groupRssBytes(pgid));
  }
  const slowBytes = readers.bytes();
  const slowErrors = readers.errors();
  readers.stop();

  const leaderRead = reads[0]!;
  const joinerFirst = stat(reads.slice(1).map((r) => r.firstByteMs));
  const peak = Math.max(...fillSamples);
  row.originRequests = stat([originRequests]);
  row.memMB = peak / MiB;
  row.errors = bad + slowErrors;
  row.extra = {
    firstByteMs: leaderRead.firstByteMs,
    originFirstByteMs: originTtfb,
    joinerFirstByteMedianMs: joinerFirst?.median ?? Number.NaN,
    joinerFirstByteMaxMs: joinerFirst?.max ?? Number.NaN,
    fillSeconds: fillMs / 1000,
    fillMiBps: o.size / MiB / (leaderRead.totalMs / 1000),
    originRequests,
    rssBeforeBytes: before,
    rssPeakFillBytes: peak,
    rssSlowStartBytes: slowStart,
    rssSlowMaxBytes: Math.max(slowStart, ...slowSamples),
    rssSlowEndBytes: slowSamples[slowSamples.length - 1] ?? slowStart,
    // Flatness over the second half of the readers' run (their buffers filled by then): the swing (max - min, garbage
    // collection's sawtooth included) and the trend (least-squares slope, bytes per 10 s: what a leak would show).
    rssSlowSwingBytes: swing(slowSamples.slice(Math.floor(slowSamples.length / 2))),
    rssSlowTrendBytesPer10s: trendPer10s(slowSamples.slice(Math.floor(slowSamples.length / 2)), 0.5),
    fillCpuSeconds: fillCpu,
    slowReaderMiBps: slowBytes / MiB / o.slowSeconds / o.slowReaders,
    incompleteFills: bad,
  };
  row.note = `after the fill: ${check.cache || '?'}`;
  return row;
}

/** The scenario: each contender started by `start` (one at a time), measured, stopped; `cleanup` removes its files. */
export async function runLargeScenario(
  contenders: Array<() => Promise<Running | null>>, origin: OriginHandle, o: LargeOptions, cleanup: () => void, log: (m: string) => void,
): Promise<ScenarioResult> {
  const id = 'large-1g';
  const size = o.size >= 1024 * MiB ? `${o.size / (1024 * MiB)} GiB` : `${o.size / MiB} MiB`;
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const start of contenders) {
    const c = await start();
    if (c === null) continue;
    log(`${id}: ${c.name}`);
    try {
      rows.push(await measure(c, origin, o));
    } catch (err) {
      rows.push(emptyRow(c.name, `FAILED: ${(err as Error).message.slice(0, 200)}`));
    } finally {
      await c.stop();
      cleanup();
    }
  }
  const table = {
    header: ['contender', 'first byte ms', 'origin\'s ms', `${o.fillClients - 1} joiners' first byte ms (median/max)`, '1st client MiB/s', 'CPU s (fill)', 'origin req', 'RSS MB before→peak (fill)', `RSS MB ${o.slowReaders} slow readers start→max→end`, '2nd half: swing MB, trend MB/10 s', 'reader MiB/s', 'errors', 'note'],
    rows: rows.map((r) => {
      const x = r.extra;
      if (x.firstByteMs === undefined) return [r.contender, '–', '–', '–', '–', '–', '–', '–', '–', '–', '–', String(r.errors), r.note];
      return [
        r.contender, msf(x.firstByteMs), msf(x.originFirstByteMs!), `${msf(x.joinerFirstByteMedianMs!)} / ${msf(x.joinerFirstByteMaxMs!)}`,
        x.fillMiBps!.toFixed(0), x.fillCpuSeconds!.toFixed(1), String(x.originRequests), `${mb(x.rssBeforeBytes!)}→${mb(x.rssPeakFillBytes!)}`,
        `${mb(x.rssSlowStartBytes!)}→${mb(x.rssSlowMaxBytes!)}→${mb(x.rssSlowEndBytes!)}`, `${mb(x.rssSlowSwingBytes!)}, ${(x.rssSlowTrendBytesPer10s! / MiB).toFixed(1)}`, x.slowReaderMiBps!.toFixed(2), String(r.errors), r.note,
      ];
    }),
  };
  notes.push(
    `a ${size} object generated by the origin as fast as it can; both caches on disk (the temp dir), removed after each contender`,
    `fill: 1 client reads the whole object, ${o.fillClients - 1} more join once it has its first byte and read its first ${mb(Math.min(o.joinerBytes, o.size))} MB, all as fast as they can; RSS = the process group's VmRSS sampled every 50 ms; CPU s = the server's CPU time during the fill`,
    `slow readers: ${o.slowReaders} clients of the cached object, each paced at ${(o.slowRate / MiB).toFixed(1)} MiB/s for ${o.slowSeconds} s, RSS sampled every 500 ms, then closed`,
    'nginx: proxy_cache_lock holds joiners until the fill ends (or proxy_cache_lock_timeout 10 s, then they go to the origin uncached)',
  );
  return { id, title: `a ${size} object through a disk cache: first byte, one origin fetch for ${o.fillClients} clients, RSS during the fill and under ${o.slowReaders} slow readers`, reference: null, rows, notes, table };
}

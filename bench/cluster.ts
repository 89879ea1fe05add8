// Bench scenarios for CORS and clusters: shared bodies across 50 Origins, and purge fan-out through Redis to 4 nodes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEdgecache, type OriginHandle, type Running, type StartOptions } from './contenders.js';
import { BenchError, dirAllocatedBytes, freePort, httpRequest, sleep, spawnTracked, stopProcess, type SpawnedProcess } from './proc.js';
import { emptyRow, percentile, stat, type Row } from './report.js';

const MIB = 1024 * 1024;

/** Sum of every sample of a metric in Prometheus text (labels or not); null when absent. */
export function parseMetric(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1] === name && m[3] !== undefined) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

/** How many bytes a contender's cache holds: edgecache's metric, nginx's files, Varnish's malloc storage. */
async function storeBytes(c: Running, varnishstat: string | null): Promise<number | null> {
  if (c.kind === 'edgecache' && c.adminUrl) {
    const r = await httpRequest(`${c.adminUrl}/metrics`, { headers: { authorization: `Bearer ${c.adminToken ?? ''}` } });
    return parseMetric(r.body.toString('utf8'), 'edgecache_store_bytes');
  }
  if (c.kind === 'nginx' && c.cacheDir) return dirAllocatedBytes(c.cacheDir);
  if (c.kind === 'varnish' && c.workDir && varnishstat) {
    const r = spawnSync(varnishstat, ['-n', c.workDir, '-1', '-f', 'SMA.s0.g_bytes'], { encoding: 'utf8', timeout: 5000 });
    const m = /SMA\.s0\.g_bytes\s+(\d+)/.exec(r.stdout ?? '');
    return m?.[1] ? Number(m[1]) : null;
  }
  return null;
}

/** 50 Origins fetch the same 1 MiB asset; how much does the cache's store (and memory) grow? */
export async function sharedBodies(c: Running, origin: OriginHandle, varnishstat: string | null, nonce: string): Promise<Row> {
  const row = emptyRow(c.name);
  const bytesBefore = await storeBytes(c, varnishstat).catch(() => null);
  const memBefore = c.memoryBytes();
  const path = `/asset/1m?shared=${nonce}-${c.name.replace(/[^a-z0-9]+/gi, '-')}`;
  const origins = Array.from({ length: 50 }, (_, i) => `https://site${i}.example`);
  let failed = 0;
  for (let i = 0; i < origins.length; i += 5) {
    await Promise.all(
      origins.slice(i, i + 5).map(async (o) => {
        const r = await httpRequest(`${c.url}${path}`, { headers: { origin: o }, timeoutMs: 15_000 }).catch(() => null);
        if (r?.status !== 200 || r.body.length !== MIB || r.headers['access-control-allow-origin'] !== o) failed += 1;
      }),
    );
  }
  await sleep(300);
  const bytesAfter = await storeBytes(c, varnishstat).catch(() => null);
  const bytes = bytesAfter === null || bytesBefore === null ? null : bytesAfter - bytesBefore;
  row.originRequests = stat([(await origin.count(path)).path]);
  row.memMB = (c.memoryBytes() - memBefore) / MIB;
  row.errors = failed;
  if (bytes !== null) row.extra = { storeBytes: bytes };
  const how = c.kind === 'edgecache' ? 'edgecache_store_bytes' : c.kind === 'nginx' ? 'cache files on tmpfs' : 'SMA.s0.g_bytes';
  row.note = bytes === null ? `store size unknown (${how} unavailable)` : `store +${(bytes / MIB).toFixed(2)} MiB (${how})`;
  if (failed > 0) row.note += `; ${failed} responses wrong (status, size or ACAO)`;
  return row;
}

/** Start redis-server on a free loopback port in a temp dir, no persistence; resolves once it answers PING. */
export async function startRedis(redis: string, tmpDir: string): Promise<{ url: string; proc: SpawnedProcess }> {
  const dir = mkdtempSync(join(tmpDir, 'redis-'));
  const port = await freePort();
  const proc = spawnTracked('redis', redis, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], {
    logFile: join(dir, 'redis.log'),
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.hasExited()) break;
    const pong = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'));
      s.setTimeout(500, () => s.destroy());
      s.once('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        s.destroy();
      });
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(false));
    });
    if (pong) return { url: `redis://127.0.0.1:${port}`, proc };
    await sleep(50);
  }
  await stopProcess(proc, 1000);
  throw new BenchError('REDIS_NOT_READY', `redis-server did not answer PING on ${port}`);
}

const HOST = 'bench.test';

function cacheStatus(r: { headers: Record<string, string | string[] | undefined> }): string {
  const v = r.headers['cf-cache-status'];
  return (Array.isArray(v) ? v[0] : v ?? '').toUpperCase();
}

/** Until a node stops serving the entry as a HIT: ms since t0, or NaN after timeoutMs. */
async function waitUntilGone(c: Running, path: string, origin: string, t0: number, timeoutMs: number): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    const r = await httpRequest(`${c.url}${path}`, { headers: { host: HOST, origin, 'cache-control': 'only-if-cached' }, timeoutMs: 2000 }).catch(() => null);
    if (r !== null && (r.status !== 200 || cacheStatus(r) !== 'HIT')) return performance.now() - t0;
    await sleep(1);
  }
  return Number.NaN;
}

/**
 * Purge fan-out: 4 edgecache nodes joined through Redis; each purge goes to node 1's admin API and we time,
 * per purge, how long until nodes 2–4 all stop serving the entry (the slowest of the three).
 */
export async function purgeFanout(start: StartOptions, redis: string, purges: number, nonce: string, timeoutMs: number): Promise<{ row: Row; notes: string[] }> {
  const row = emptyRow('edgecache ×4 nodes');
  const notes: string[] = [];
  const r = await startRedis(redis, start.tmpDir);
  const nodes: Running[] = [];
  try {
    const started = await Promise.allSettled(Array.from({ length: 4 }, () => startEdgecache({ ...start, workers: 1, cluster: r.url })));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const [first, ...rest] = nodes as [Running, ...Running[]];
    const origin = 'https://app0.example';
    const times: number[] = [];
    let timeouts = 0;
    let warmFailures = 0;
    for (let i = 0; i < purges; i++) {
      if (times.length === 0 && timeouts + warmFailures >= 3) {
        notes.push(`stopped after ${i} purges: none reached nodes 2–4 (is --cluster wired up?)`);
        break;
      }
      const path = `/asset/1k?purge=${nonce}-${i}`;
      let warm = true;
      for (const n of nodes) {
        await httpRequest(`${n.url}${path}`, { headers: { host: HOST, origin } });
        const again = await httpRequest(`${n.url}${path}`, { headers: { host: HOST, origin } });
        if (cacheStatus(again) !== 'HIT') warm = false;
      }
      if (!warm) {
        warmFailures += 1;
        continue;
      }
      const t0 = performance.now();
      const waits = rest.map((n) => waitUntilGone(n, path, origin, t0, timeoutMs));
      const res = await httpRequest(`${first.adminUrl}/client/v4/zones/default/purge_cache`, {
        method: 'POST',
        headers: { authorization: `Bearer ${first.adminToken ?? ''}`, 'content-type': 'application/json' },
        body: JSON.stringify({ files: [`http://${HOST}${path}`] }),
      });
      if (res.status !== 200) throw new BenchError('PURGE_FAILED', `purge API answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
      const got = await Promise.all(waits);
      if (got.some((t) => Number.isNaN(t))) timeouts += 1;
      else times.push(Math.max(...got));
    }
    row.p50Ms = stat([percentile(times, 50)]);
    row.p99Ms = stat([percentile(times, 99)]);
    row.rounds = times.map((t) => ({ ms: t }));
    if (times.length > 0) {
      row.extra = { purges, measured: times.length, medianMs: percentile(times, 50), p90Ms: percentile(times, 90), maxMs: Math.max(...times), timeouts, warmFailures };
      row.note = `${times.length} purges timed: median ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms (target 150 ms)`;
    } else {
      row.extra = { purges, measured: 0, timeouts, warmFailures };
      row.note = 'no purge was seen on nodes 2–4';
    }
    if (timeouts > 0) row.note += `; ${timeouts} not gone after ${timeoutMs} ms`;
    if (warmFailures > 0) row.note += `; ${warmFailures} entries never became HIT on every node`;
    notes.push('nodes 2–4 are polled with `cache-control: only-if-cached` until they stop answering HIT; time = slowest node');
    notes.push('4 nodes and redis share the machine, pinned to no core');
  } finally {
    for (const n of nodes) await n.stop();
    await stopProcess(r.proc);
  }
  return { row, notes };
}

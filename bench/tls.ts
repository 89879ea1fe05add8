// Bench over TLS: 1 KiB cache hits over TLS + HTTP/2 (h2load, 50 clients × 10 streams) and TLS + HTTP/1.1
// (wrk), edgecache beside nginx (`listen … ssl http2`) and bare Node https / http2 servers; TLS handshakes per second
// without and with session resumption. Same certificate (EC P-256, made here with openssl) for every server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { get as httpsGet } from 'node:https';
import { randomBytes } from 'node:crypto';
import { BenchError, findExecutable, freePort, groupCpuSeconds, sleep, spawnTracked, stopProcess, waitForHttp, type SpawnedProcess } from './proc.js';
import type { OriginHandle } from './contenders.js';
import { nginxConfig } from './contenders.js';
import { emptyRow, stat, type Row, type ScenarioResult } from './report.js';
import { runWrk } from './wrk.js';
import { ORIGINS } from './scenarios.js';

export interface TlsBenchOptions {
  tmpDir: string;
  memDir: string;
  repoRoot: string;
  origin: OriginHandle;
  /** Cores for the servers and for the load generators (taskset lists), when pinning. */
  serverCpus?: string;
  loadCpus?: string;
  wrk: string | null;
  nginx: string | null;
  rounds: number;
  durationS: number;
  edgecache: boolean;
  bare: boolean;
  want: { h2: boolean; h1: boolean; handshakes: boolean };
}

interface TlsServer { name: string; kind: 'edgecache' | 'nginx' | 'bare-h1' | 'bare-h2'; url: string; port: number; proc: SpawnedProcess }

const PATH = '/asset/1k';

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'bench-cert.pem');
  const key = join(dir, 'bench-key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new BenchError('NO_CERT', `openssl could not make a certificate: ${r.stderr}`);
  return { cert, key };
}

/** Polls an https URL (any certificate) until it answers 200. */
async function waitForHttps(url: string, proc: SpawnedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new BenchError('EXITED', `${proc.name} exited during start-up`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsGet(url, { rejectUnauthorized: false, agent: false, headers: { origin: ORIGINS[0]! } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.setTimeout(1000, () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (err) { last = (err as Error).message; }
    await sleep(50);
  }
  throw new BenchError('NOT_READY', `${proc.name} not ready over TLS (${last})`);
}

async function startServers(o: TlsBenchOptions, cert: { cert: string; key: string }, skipped: string[]): Promise<TlsServer[]> {
  const out: TlsServer[] = [];
  const start = async (name: string, kind: TlsServer['kind'], fn: (port: number) => Promise<SpawnedProcess>): Promise<void> => {
    const port = await freePort();
    try {
      const proc = await fn(port);
      const url = `https://127.0.0.1:${port}`;
      await waitForHttps(`${url}${PATH}`, proc, 20_000);
      out.push({ name, kind, url, port, proc });
    } catch (err) { skipped.push(`${name}: failed to start (${(err as Error).message.slice(0, 200)})`); }
  };
  if (o.edgecache) {
    await start('edgecache', 'edgecache', async (port) => {
      const adminPort = await freePort();
      const proc = spawnTracked('edgecache tls', process.execPath, [join(o.repoRoot, 'bin/edgecache.js'), 'serve', '--origin', o.origin.url,
        '--listen', `127.0.0.1:${port}`, '--tls-cert', cert.cert, '--tls-key', cert.key, '--admin-listen', `127.0.0.1:${adminPort}`,
        '--admin-token', randomBytes(12).toString('hex'), '--log-level', 'silent'], { cpus: o.serverCpus, cwd: o.repoRoot, logFile: join(o.tmpDir, `edgecache-tls-${port}.log`) });
      await waitForHttp(`http://127.0.0.1:${adminPort}/healthz`, proc, 20_000);
      return proc;
    });
  }
  if (o.nginx !== null) {
    await start('nginx', 'nginx', async (port) => {
      const dir = mkdtempSync(join(o.tmpDir, 'nginx-tls-'));
      const cacheDir = mkdtempSync(join(o.memDir, 'nginx-tls-cache-'));
      const conf = join(dir, 'nginx.conf');
      const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
      writeFileSync(conf, nginxConfig({ dir, cacheDir, port, originPort: Number(new URL(o.origin.url).port), workers: 1, asRoot, tls: cert }));
      return spawnTracked('nginx tls', o.nginx!, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { cpus: o.serverCpus, logFile: join(dir, 'stdout.log') });
    });
  } else skipped.push('nginx: NOT INSTALLED, skipped');
  if (o.bare) {
    for (const proto of ['h1', 'h2'] as const) {
      await start(proto === 'h1' ? 'bare node https' : 'bare node http2', proto === 'h1' ? 'bare-h1' : 'bare-h2', async (port) => spawnTracked(`bare ${proto}`, process.execPath,
        ['--import', 'tsx', join(o.repoRoot, 'bench/bare-tls.ts'), '--proto', proto, '--port', String(port), '--cert', cert.cert, '--key', cert.key],
        { cpus: o.serverCpus, cwd: o.repoRoot, logFile: join(o.tmpDir, `bare-tls-${proto}-${port}.log`) }));
    }
  }
  return out;
}

interface LoadResult { rps: number; requests: number; errors: number; cpuUs: number; p50Ms?: number; p99Ms?: number }

/** One h2load run: `clients` connections × `streams` concurrent streams each, for `durationS`. */
async function runH2load(h2load: string, s: TlsServer, o: TlsBenchOptions, tag: string, count?: number): Promise<LoadResult> {
  const out = join(o.tmpDir, `h2load-${tag}-${s.port}.out`);
  const cpu0 = groupCpuSeconds(s.proc.pid);
  // A request count, not -D/--warm-up-time: h2load 1.52's timed mode hung at its end against node:http2 servers here.
  const amount = ['-n', String(count ?? o.durationS * 8000)];
  const proc = spawnTracked(`h2load ${tag}`, h2load, ['-c', '50', '-m', '10', '-t', '1', ...amount,
    '-H', `origin: ${ORIGINS[0]}`, `${s.url}${PATH}`], { cpus: o.loadCpus, logFile: out });
  const code = await Promise.race([proc.exited, sleep((o.durationS + 30) * 1000).then(() => 'timeout')]);
  await stopProcess(proc, 500);
  const cpu = groupCpuSeconds(s.proc.pid) - cpu0;
  const text = readFileSync(out, 'utf8');
  if (code !== '0') throw new BenchError('H2LOAD_FAILED', `h2load ended with ${code}: ${text.slice(0, 300)}`);
  if (!/Application protocol: h2/.test(text)) throw new BenchError('H2LOAD_NOT_H2', `${s.name} did not negotiate h2: ${text.slice(0, 300)}`);
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(text);
  const succeeded = Number(m?.[4] ?? 0);
  const status2xx = Number(/status codes: (\d+) 2xx/.exec(text)?.[1] ?? 0);
  return { rps, requests: succeeded, errors: Number(m?.[5] ?? 0) + Number(m?.[6] ?? 0) + (succeeded - status2xx), cpuUs: (cpu * 1e6) / Math.max(1, Number(m?.[3] ?? succeeded)) };
}

async function runWrkTls(wrk: string, s: TlsServer, o: TlsBenchOptions, tag: string): Promise<LoadResult> {
  const cpu0 = groupCpuSeconds(s.proc.pid);
  const r = await runWrk({ wrk, url: s.url, load: { path: PATH, origins: ORIGINS.slice(0, 1) }, connections: 50, threads: 1, durationS: o.durationS, cpus: o.loadCpus, workDir: o.tmpDir, tag });
  const cpu = groupCpuSeconds(s.proc.pid) - cpu0;
  return { rps: r.rps, requests: r.requests, errors: r.errors, cpuUs: (cpu * 1e6) / Math.max(1, r.requests), p50Ms: r.p50Ms, p99Ms: r.p99Ms };
}

/** TLS handshakes per second from this process (4 at a time, for `ms`): full ones, or resuming the last session. */
async function handshakes(s: TlsServer, ms: number, resume: boolean): Promise<{ perS: number; resumed: number; cpuUs: number }> {
  const cpu0 = groupCpuSeconds(s.proc.pid);
  const deadline = Date.now() + ms;
  let n = 0;
  let resumed = 0;
  let session: Buffer | undefined;
  const one = (keepTicket = false): Promise<void> => new Promise((resolve, reject) => {
    const sock: TLSSocket = tlsConnect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], session: resume ? session : undefined }, () => {
      n++;
      if (sock.isSessionReused()) resumed++;
      if (!keepTicket) { sock.destroy(); resolve(); }
    });
    // TLS 1.3 sends its ticket after the handshake: the first connection waits for it (the others reuse it).
    if (keepTicket) sock.once('session', (b: Buffer) => { session = b; sock.destroy(); resolve(); });
    sock.on('error', reject);
  });
  if (resume) { await one(true); n = 0; resumed = 0; }
  const started = Date.now();
  await Promise.all([0, 1, 2, 3].map(async () => { while (Date.now() < deadline) await one(); }));
  const seconds = (Date.now() - started) / 1000;
  return { perS: n / seconds, resumed, cpuUs: ((groupCpuSeconds(s.proc.pid) - cpu0) * 1e6) / Math.max(1, n) };
}

function row(name: string, results: LoadResult[]): Row {
  const r = emptyRow(name);
  r.rps = stat(results.map((x) => x.rps));
  r.cpuUs = stat(results.map((x) => x.cpuUs));
  r.p50Ms = stat(results.flatMap((x) => (x.p50Ms === undefined ? [] : [x.p50Ms])));
  r.p99Ms = stat(results.flatMap((x) => (x.p99Ms === undefined ? [] : [x.p99Ms])));
  r.errors = results.reduce((a, x) => a + x.errors, 0);
  r.rounds = results.map((x) => ({ rps: x.rps, cpuUs: x.cpuUs, requests: x.requests, errors: x.errors }));
  return r;
}

/** "edgecache / bare = 0.93 (target ≥ 0.9: PASS)". */
function targetNote(rows: Row[], bare: string, what: string): string {
  const e = rows.find((r) => r.contender === 'edgecache')?.rps?.median;
  const b = rows.find((r) => r.contender === bare)?.rps?.median;
  if (e === undefined || b === undefined) return `target ${what} ≥ 0.9 × ${bare}: N/A (not both measured)`;
  const ratio = e / b;
  return `target ${what} ≥ 0.9 × ${bare}: ${ratio.toFixed(2)} — ${ratio >= 0.9 ? 'PASS' : 'MISS'}`;
}

export async function runTlsScenarios(o: TlsBenchOptions, log: (s: string) => void): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const h2load = findExecutable('h2load');
  const cert = makeCertificate(o.tmpDir);
  const notes: string[] = [];
  log('tls: starting edgecache, nginx, bare node https and http2 over TLS');
  const servers = await startServers(o, cert, notes);
  try {
    const by = (kinds: TlsServer['kind'][]): TlsServer[] => servers.filter((s) => kinds.includes(s.kind));
    if (o.want.h2) {
      const title = 'cache hits over TLS + HTTP/2, GET /asset/1k, h2load 50 clients × 10 streams';
      if (h2load === null) results.push({ id: 'tls-h2-1k', title, reference: null, rows: [], notes: ['SKIPPED: h2load not installed (apt-get install nghttp2-client)'] });
      else {
        const set = by(['edgecache', 'nginx', 'bare-h2']);
        const runs = new Map<TlsServer, LoadResult[]>(set.map((s) => [s, []]));
        for (const s of set) await runH2load(h2load, s, o, 'warm', 2000).catch(() => undefined);
        for (let round = 0; round < o.rounds; round++) {
          for (const s of round % 2 ? [...set].reverse() : set) {
            log(`tls-h2-1k round ${round + 1}: ${s.name}`);
            try { runs.get(s)!.push(await runH2load(h2load, s, o, `r${round}`)); } catch (err) { notes.push(`${s.name}: ${(err as Error).message.slice(0, 200)}`); }
          }
        }
        const rows = set.map((s) => row(s.name, runs.get(s)!));
        results.push({ id: 'tls-h2-1k', title, reference: 'nginx', rows, notes: [...notes, targetNote(rows, 'bare node http2', 'HTTP/2 hits'), 'bare node http2 = node:http2 secure server answering a preallocated buffer (allowHTTP1): the ceiling for Node here', 'CPU µs/req = the server process group\'s CPU over the run / requests done'] });
      }
    }
    if (o.want.h1) {
      const title = 'cache hits over TLS + HTTP/1.1, GET /asset/1k, wrk 50 connections';
      if (o.wrk === null) results.push({ id: 'tls-h1-1k', title, reference: null, rows: [], notes: ['SKIPPED: no wrk'] });
      else {
        const set = by(['edgecache', 'nginx', 'bare-h1']);
        const runs = new Map<TlsServer, LoadResult[]>(set.map((s) => [s, []]));
        for (const s of set) await runWrkTls(o.wrk, s, { ...o, durationS: 1 }, 'warm').catch(() => undefined);
        for (let round = 0; round < o.rounds; round++) {
          for (const s of round % 2 ? [...set].reverse() : set) {
            log(`tls-h1-1k round ${round + 1}: ${s.name}`);
            try { runs.get(s)!.push(await runWrkTls(o.wrk, s, o, `tls-r${round}`)); } catch (err) { notes.push(`${s.name}: ${(err as Error).message.slice(0, 200)}`); }
          }
        }
        const rows = set.map((s) => row(s.name, runs.get(s)!));
        results.push({ id: 'tls-h1-1k', title, reference: 'nginx', rows, notes: [targetNote(rows, 'bare node https', 'HTTP/1.1-over-TLS hits'), 'bare node https = node:https answering a preallocated buffer'] });
      }
    }
    if (o.want.handshakes) {
      const set = by(['edgecache', 'nginx', 'bare-h1']);
      const rows: Row[] = [];
      for (const resume of [false, true]) {
        for (const s of set) {
          log(`tls-handshakes ${resume ? 'resumed' : 'full'}: ${s.name}`);
          const rs: { perS: number; resumed: number; cpuUs: number }[] = [];
          for (let round = 0; round < o.rounds; round++) rs.push(await handshakes(s, o.durationS * 1000, resume));
          const r = emptyRow(`${s.name}${resume ? ' (resumed)' : ' (full)'}`);
          r.rps = stat(rs.map((x) => x.perS));
          r.cpuUs = stat(rs.map((x) => x.cpuUs));
          r.extra = { resumedShare: rs.reduce((a, x) => a + x.resumed, 0) / Math.max(1, rs.reduce((a, x) => a + x.perS * o.durationS, 0)) };
          r.note = resume ? `${Math.round(r.extra.resumedShare! * 100)}% resumed` : '';
          r.rounds = rs.map((x) => ({ ...x }));
          rows.push(r);
        }
      }
      results.push({ id: 'tls-handshakes', title: 'TLS handshakes per second (req/s column), 4 at a time from one Node client: full, then resuming a session (tickets)', reference: null, rows,
        notes: ['the client is a single Node process on the load core: its own handshake cost bounds these figures; CPU µs = server CPU per handshake'] });
    }
  } finally {
    await Promise.all(servers.map((s) => stopProcess(s.proc)));
  }
  return results;
}

// `npm run bench`: edgecache vs nginx proxy_cache vs Varnish vs a bare Node ceiling, interleaved, on loopback.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { purgeFanout, sharedBodies } from './cluster.js';
import {
  buildEdgecache,
  detectTools,
  hasEdgecacheBuild,
  isBuildCurrent,
  originDirect,
  startBare,
  startBareNet,
  startBareProxy,
  startEdgecache,
  startNginx,
  startOrigin,
  startVarnish,
  toolVersion,
  type OriginHandle,
  type Running,
  type StartOptions,
} from './contenders.js';
import { beginShutdown, canPin, cpuCores, killAllSync, pinSelf, stopAll } from './proc.js';
import { computeTargets, emptyRow, renderScenario, renderTargets, writeJson, type Row, type ScenarioResult } from './report.js';
import { runTlsScenarios } from './tls.js';
import { runIndexScenario } from './index-scenario.js';
import { runLargeScenario } from './large.js';
import { ORIGINS, measureMemory, runColdScenario, runWrkScenario, type RunConfig, type WrkScenario } from './scenarios.js';

const SCENARIOS = ['hit-1k', 'hit-100k', 'hit-4-origins', 'cold-50', 'miss-heavy', 'miss-latency', 'hit-1k-workers', 'tls-h2-1k', 'tls-h1-1k', 'tls-handshakes', 'memory', 'shared-bodies', 'purge-fanout', 'hit-100k-disk', 'index-1m', 'large-1g'] as const;
type ScenarioId = (typeof SCENARIOS)[number];

interface Args {
  quick: boolean;
  only: Set<ScenarioId> | null;
  rounds: number;
  durationS: number;
  connections: number;
  workers: number;
  json: string | null;
  cluster: boolean;
  build: boolean;
  keep: boolean;
  memoryObjects: number;
  purges: number;
  without: Set<string>;
}

const WITHOUT = ['edgecache', 'nginx', 'varnish', 'bare', 'wrk', 'redis'];

const USAGE = `usage: npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}] [--rounds N] [--duration S]
       [--connections N] [--workers N] [--memory-objects N] [--without LIST] [--json FILE] [--cluster] [--no-build] [--keep]
  --quick       smoke run (~1 min): 1 round of 1 s, 3,000 objects for memory, 5 purges, a 256 MiB large object
  --only        comma-separated scenarios (default: all; purge-fanout when redis-server exists or --cluster)
  --rounds N    interleaved rounds per scenario (default 3); --duration S seconds per wrk run (default 2)
  --cluster     run purge-fanout (needs redis-server)
  --without X   leave out contenders or tools, comma-separated: ${WITHOUT.join(', ')}
  --no-build    don't run npm run build (use dist/ as it is); --keep keeps the temp dir (configs, logs)`;

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const a: Args = { quick, only: null, rounds: quick ? 1 : 3, durationS: quick ? 1 : 2, connections: 50, workers: 2, json: null, cluster: false, build: true, keep: false, memoryObjects: quick ? 3_000 : 10_000, purges: quick ? 5 : 20, without: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const count = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer ≥ ${min}`);
      return n;
    };
    switch (flag) {
      case '--quick':
        break;
      case '--only': {
        const ids = value().split(',').map((s) => s.trim());
        const bad = ids.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
        if (bad.length > 0) throw new Error(`unknown scenario ${bad.join(', ')}; known: ${SCENARIOS.join(', ')}`);
        a.only = new Set(ids as ScenarioId[]);
        break;
      }
      case '--rounds':
        a.rounds = count(1);
        break;
      case '--duration':
        a.durationS = count(1);
        break;
      case '--connections':
        a.connections = count(1);
        break;
      case '--workers':
        a.workers = count(2);
        break;
      case '--without': {
        const names = value().split(',').map((x) => x.trim());
        const bad = names.filter((x) => !WITHOUT.includes(x));
        if (bad.length > 0) throw new Error(`--without takes ${WITHOUT.join(', ')}; not ${bad.join(', ')}`);
        for (const n of names) a.without.add(n);
        break;
      }
      case '--memory-objects':
        a.memoryObjects = count(100);
        break;
      case '--json':
        a.json = resolve(value());
        break;
      case '--cluster':
        a.cluster = true;
        break;
      case '--no-build':
        a.build = false;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return a;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function tryStart(what: string, skipped: string[], fn: () => Promise<Running>): Promise<Running | null> {
  try {
    return await fn();
  } catch (err) {
    skipped.push(`${what}: not runnable (${(err as Error).message.slice(0, 300)})`);
    return null;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const tools = detectTools();
  const wants = (id: ScenarioId): boolean => (args.only === null ? id !== 'purge-fanout' || args.cluster || tools.redis !== null : args.only.has(id));
  const pin = canPin();
  const serverCpus = pin ? '1' : undefined;
  const multiCpus = pin ? '0,1' : undefined;
  if (pin) pinSelf('0');
  const header: string[] = [];
  const global: string[] = [];
  header.push(`edgecache bench — node ${process.version}, ${cpuCores()} cores, ${new Date().toISOString()}`);
  const load = loadavg()[0] ?? 0;
  if (load > 0.5) header.push(`!! machine busy before start: load average ${load.toFixed(2)}; other work competes with the servers, figures are noisy`);
  header.push(pin ? 'pinning: wrk and this runner on core 0; servers and the origin on core 1 (multi-worker runs on cores 0,1)' : `pinning: OFF (${cpuCores() < 2 ? 'fewer than 2 cores' : 'taskset not installed'}); figures are noisier`);
  // One header line per outside tool: its version, or that it is missing (and the contender skipped), or left out.
  const describe = (name: string, key: keyof typeof tools, versionArgs: string[], missing: string): void => {
    const path = tools[key];
    if (args.without.has(name)) {
      tools[key] = null;
      header.push(`${name}: skipped (--without ${name})`);
    } else header.push(`${name}: ${path ? toolVersion(path, versionArgs) : missing}`);
  };
  describe('nginx', 'nginx', ['-v'], 'NOT INSTALLED — skipped (apt-get install nginx)');
  describe('varnish', 'varnishd', ['-V'], 'NOT INSTALLED — skipped (apt-get install varnish)');
  describe('wrk', 'wrk', ['-v'], 'NOT INSTALLED — load scenarios skipped (apt-get install wrk)');
  describe('redis', 'redis', ['--version'], 'redis-server not installed — purge-fanout skipped (apt-get install redis-server)');
  if (args.without.has('bare')) header.push('bare node: skipped (--without bare)');

  // edgecache: build first (or use an existing dist/), and say plainly when it can't run yet.
  let edgecacheReason: string | null = args.without.has('edgecache') ? 'skipped by --without edgecache' : null;
  if (edgecacheReason !== null) global.push(`edgecache: ${edgecacheReason}`);
  else if (args.build && isBuildCurrent(repoRoot)) log('dist/ is newer than src/: skipping npm run build');
  else if (args.build) {
    log('npm run build …');
    edgecacheReason = buildEdgecache(repoRoot);
    if (edgecacheReason !== null) global.push(`edgecache: NOT RUNNABLE YET — ${edgecacheReason}`);
  } else if (!hasEdgecacheBuild(repoRoot)) {
    edgecacheReason = 'dist/ missing and --no-build given';
    global.push(`edgecache: NOT RUNNABLE YET — ${edgecacheReason}`);
  }

  const tmpDir = mkdtempSync(join(tmpdir(), 'edgecache-bench-'));
  const memDir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/edgecache-bench-') : tmpDir;
  if (!args.keep) tempDirs.push(tmpDir, memDir);
  const nonce = randomBytes(4).toString('hex');
  const results: ScenarioResult[] = [];
  let origin: OriginHandle | null = null;
  try {
    log(`temp dir ${tmpDir}; starting the origin`);
    origin = await startOrigin({ tmpDir, repoRoot, cpus: serverCpus });
    const base: StartOptions = { tmpDir, memDir, repoRoot, origin, cpus: serverCpus, workers: 1 };
    const cfg: RunConfig = { wrk: tools.wrk ?? '', rounds: args.rounds, durationS: args.durationS, connections: args.connections, wrkCpus: pin ? '0' : undefined, workDir: tmpDir, nonce, warmupS: 1 };

    // Starts the kinds in parallel (Varnish compiling its VCL is the slow one); returns those that run, in order.
    const startSet = async (o: StartOptions, skipped: string[], kinds: Array<'edgecache' | 'edgecache-nofast' | 'nginx' | 'varnish' | 'bare' | 'bare-net' | 'bare-proxy'>): Promise<Running[]> => {
      const w = o.workers === 1 ? '' : ` ×${o.workers}w`;
      const one = async (k: (typeof kinds)[number]): Promise<Running | null> => {
        let r: Running | null = null;
        if (k === 'edgecache' || k === 'edgecache-nofast') {
          // Once edgecache can't run, the "!!" line at the top says why; don't repeat it per scenario.
          if (edgecacheReason === null) {
            const failed: string[] = [];
            r = await tryStart(`edgecache${w}`, failed, () => startEdgecache(k === 'edgecache' ? o : { ...o, fastPath: false }));
            if (r === null) {
              edgecacheReason = failed[0] ?? 'failed to start';
              global.push(`edgecache: NOT RUNNABLE YET — ${edgecacheReason}`);
            }
          }
        } else if (k === 'nginx') {
          if (args.without.has('nginx')) return null;
          if (tools.nginx === null) skipped.push('nginx: NOT INSTALLED, skipped');
          else r = await tryStart(`nginx${w}`, skipped, () => startNginx(tools.nginx as string, o));
        } else if (k === 'varnish') {
          if (args.without.has('varnish')) return null;
          if (tools.varnishd === null) skipped.push('varnish: NOT INSTALLED, skipped');
          else r = await tryStart('varnish', skipped, () => startVarnish(tools.varnishd as string, o));
        } else if (k === 'bare-net') {
          if (!args.without.has('bare')) r = await tryStart('bare node:net', skipped, () => startBareNet(o));
        } else if (k === 'bare-proxy') {
          if (!args.without.has('bare')) r = await tryStart('bare Node proxy', skipped, () => startBareProxy(o));
        } else if (!args.without.has('bare')) {
          r = await tryStart(`bare node${w}`, skipped, () => startBare(o));
        }
        return r;
      };
      return (await Promise.all(kinds.map(one))).filter((r): r is Running => r !== null);
    };

    const wrkScenarios: WrkScenario[] = [
      { id: 'hit-1k', title: 'cache hits, GET /asset/1k, 1 Origin', path: '/asset/1k', origins: ORIGINS.slice(0, 1), unique: false },
      { id: 'hit-100k', title: 'cache hits, GET /asset/100k, 1 Origin', path: '/asset/100k', origins: ORIGINS.slice(0, 1), unique: false },
      { id: 'hit-4-origins', title: 'cache hits, GET /asset/1k rotating over 4 Origins (4 variants)', path: '/asset/1k', origins: ORIGINS, unique: false },
      { id: 'miss-heavy', title: 'misses, a new URL every request (/unique/…, 1 KiB, cacheable)', path: '/unique/x', origins: ORIGINS.slice(0, 1), unique: true },
      { id: 'miss-latency', title: 'misses, unloaded latency: one connection, a new URL every request', path: '/unique/x', origins: ORIGINS.slice(0, 1), unique: true, connections: 1, durationS: 1 },
    ];
    const single = wrkScenarios.some((s) => wants(s.id as ScenarioId)) || wants('cold-50');
    if (single) {
      const skipped: string[] = [];
      log('starting edgecache, nginx, varnish, bare node, bare node:net, bare Node proxy (1 worker each)');
      const set = await startSet(base, skipped, ['edgecache', 'edgecache-nofast', 'nginx', 'varnish', 'bare', 'bare-net', 'bare-proxy']);
      global.push(...skipped);
      const warmed = new Set<Running>();
      for (const sc of wrkScenarios) {
        if (!wants(sc.id as ScenarioId)) continue;
        if (tools.wrk === null) {
          results.push({ id: sc.id, title: sc.title, reference: null, rows: [], notes: [`SKIPPED: no wrk (${args.without.has('wrk') ? '--without wrk' : 'not installed: apt-get install wrk'})`] });
          continue;
        }
        // Misses compare with the origin itself; the bare server ignores Origin, so it sits out hit-4-origins (same as hit-1k).
        // The bare Node proxy stores nothing: it runs the miss scenarios only (their ceiling for a Node proxy).
        // edgecache without its fast path (the before figure) runs the 1 KiB scenarios only.
        const beforeToo = sc.id === 'hit-1k' || sc.id === 'miss-heavy';
        const inSet = set.filter((c) => beforeToo || !c.name.endsWith('(no fast path)'));
        const hits = inSet.filter((c) => c.kind !== 'bare-proxy');
        const contenders = sc.unique ? [...inSet.filter((c) => c.kind !== 'bare'), originDirect(origin)] : sc.id === 'hit-4-origins' ? hits.filter((c) => c.kind !== 'bare') : hits;
        log(`${sc.id}: ${contenders.map((c) => c.name).join(', ')}`);
        results.push(await runWrkScenario(sc, contenders, origin, cfg, warmed));
        if (sc.unique) results[results.length - 1]?.notes.push('origin direct = wrk straight at the origin (the baseline); the origin shares the server core, so a miss pays for both', 'bare Node proxy = node:http forwarding with the same undici Pool, storing nothing: the ceiling for a Node miss path');
        if (sc.id === 'hit-1k') results[results.length - 1]?.notes.push('bare node = node:http answering a preallocated buffer: the ceiling for a Node server on this machine', 'bare node:net = node:net finding each head\'s end and writing one preassembled answer: the ceiling for a fast path');
      }
      if (wants('cold-50')) {
        const contenders = set.filter((c) => c.kind !== 'bare' && c.kind !== 'bare-proxy' && !c.name.endsWith('(no fast path)'));
        log(`cold-50: ${contenders.map((c) => c.name).join(', ')}`);
        results.push(await runColdScenario(contenders, origin, args.rounds, nonce));
      }
      await Promise.all(set.map((c) => c.stop()));
    }

    if (wants('hit-1k-workers')) {
      const id = 'hit-1k-workers';
      const title = `cache hits, GET /asset/1k, ${args.workers} workers each (nginx worker_processes ${args.workers}, edgecache --workers ${args.workers})`;
      if (tools.wrk === null) results.push({ id, title, reference: null, rows: [], notes: ['SKIPPED: no wrk'] });
      else {
        const skipped: string[] = [];
        log(`${id}: starting nginx, edgecache and bare Node with ${args.workers} workers`);
        const set = await startSet({ ...base, workers: args.workers, cpus: multiCpus }, skipped, ['edgecache', 'nginx', 'bare']);
        const sc: WrkScenario = { id, title: `cache hits, GET /asset/1k, ${args.workers} workers each`, path: '/asset/1k', origins: ORIGINS.slice(0, 1), unique: false };
        const res = await runWrkScenario(sc, set, origin, cfg, new Set());
        res.notes.push(...skipped, pin ? 'multi-worker servers can\'t have a core of their own: pinned to cores 0,1, sharing core 0 with wrk' : 'not pinned');
        res.notes.push(`bare node ×${args.workers}w = node:cluster processes answering a preallocated buffer: the ceiling for Node here`);
        results.push(res);
        await Promise.all(set.map((c) => c.stop()));
      }
    }

    // Hits from the disk tier: edgecache with a memory tier too small for any body (each hit reads its body file) beside
    // nginx proxy_cache, whose cache is on disk; both directories on the same file system, the page cache warm.
    if (wants('hit-100k-disk')) {
      const id = 'hit-100k-disk';
      const title = 'cache hits from the disk tier, GET /asset/100k (edgecache cache.disk with cache.memory.maxBytes 1; nginx proxy_cache)';
      if (tools.wrk === null) results.push({ id, title, reference: null, rows: [], notes: ['SKIPPED: no wrk'] });
      else {
        const skipped: string[] = [];
        const config = join(tmpDir, 'edgecache-disk.yaml');
        writeFileSync(config, `cache:\n  disk:\n    path: ${mkdtempSync(join(memDir, 'edgecache-disk-'))}\n  memory:\n    maxBytes: 1\n`);
        log(`${id}: starting edgecache (disk tier) and nginx`);
        const set = await startSet({ ...base, config }, skipped, ['edgecache', 'nginx']);
        const sc: WrkScenario = { id, title, path: '/asset/100k', origins: ORIGINS.slice(0, 1), unique: false };
        const res = await runWrkScenario(sc, set, origin, cfg, new Set());
        res.notes.push(...skipped, 'target: edgecache >= 0.8 x nginx; both caches in the same directory tree (tmpfs when /dev/shm exists)');
        results.push(res);
        await Promise.all(set.map((c) => c.stop()));
      }
    }

    // A 1 GiB object through a disk cache (edgecache's disk tier, nginx proxy_cache), one contender at a time, each
    // cache in its own directory on disk (not tmpfs: 1 GiB each), removed as soon as its contender stops.
    if (wants('large-1g')) {
      const dirs: string[] = [];
      const fresh = (name: string): string => { const d = mkdtempSync(join(tmpDir, name)); dirs.push(d); return d; };
      const skipped: string[] = [];
      const starters = [
        async () => {
          if (edgecacheReason !== null) return null;
          const config = join(tmpDir, 'edgecache-large.yaml');
          writeFileSync(config, `cache:\n  disk:\n    path: ${fresh('edgecache-large-')}\n`);
          return tryStart('edgecache', skipped, () => startEdgecache({ ...base, config }));
        },
        async () => (tools.nginx === null ? null : tryStart('nginx', skipped, () => startNginx(tools.nginx as string, { ...base, memDir: fresh('nginx-large-') }))),
      ];
      const res = await runLargeScenario(starters, origin, {
        size: args.quick ? 256 * 1024 * 1024 : 1024 * 1024 * 1024, fillClients: 20, joinerBytes: (args.quick ? 32 : 128) * 1024 * 1024, slowReaders: 100, slowRate: 1024 * 1024, slowSeconds: args.quick ? 10 : 20, nonce,
      }, () => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); }, log);
      res.notes.push(...skipped);
      if (tools.nginx === null) res.notes.push('nginx: NOT INSTALLED, skipped');
      results.push(res);
    }

    // Over TLS: HTTP/2 (h2load) and HTTP/1.1 (wrk) hits, handshakes; edgecache beside nginx and bare Node https/http2.
    const want = { h2: wants('tls-h2-1k'), h1: wants('tls-h1-1k'), handshakes: wants('tls-handshakes') };
    if (want.h2 || want.h1 || want.handshakes) {
      results.push(...await runTlsScenarios({
        tmpDir, memDir, repoRoot, origin, serverCpus, loadCpus: pin ? '0' : undefined, wrk: tools.wrk, nginx: tools.nginx,
        rounds: args.rounds, durationS: args.durationS, edgecache: edgecacheReason === null, bare: !args.without.has('bare'), want,
      }, log));
    }

    // Memory and shared bodies: fresh servers (started together, measured one at a time).
    if (wants('memory') || wants('shared-bodies')) {
      const memRows: Row[] = [];
      const sharedRows: Row[] = [];
      const notes: string[] = [];
      const set = await startSet(base, notes, ['edgecache', 'nginx', 'varnish']);
      for (const c of set) {
        if (wants('memory')) {
          log(`memory: ${c.name}, ${args.memoryObjects} objects`);
          memRows.push(await measureMemory(c, origin, args.memoryObjects, nonce, args.quick ? 10_000 : 30_000));
        }
        if (wants('shared-bodies')) {
          log(`shared-bodies: ${c.name}`);
          sharedRows.push(await sharedBodies(c, origin, tools.varnishstat, nonce));
        }
        await c.stop();
      }
      if (wants('memory')) {
        results.push({
          id: 'memory',
          title: `memory per cached object — ${args.memoryObjects.toLocaleString('en-US')} distinct 1 KiB objects into a new server, after ${Math.min(2000, Math.ceil(args.memoryObjects / 5)).toLocaleString('en-US')} warm-up objects`,
          reference: 'nginx',
          rows: memRows,
          notes: [...notes, "mem MB = PSS of the server's process group after filling (+ nginx's cache files on tmpfs); per object = growth from after the warm-up to after the fill"],
        });
      }
      if (wants('shared-bodies')) {
        results.push({
          id: 'shared-bodies',
          title: '50 Origins fetch the same 1 MiB asset',
          reference: 'nginx',
          rows: sharedRows,
          notes: [...notes, 'origin req = origin fetches for the asset (1 is ideal when bodies are shared); mem MB and store = growth during this scenario'],
        });
      }
    }

    if (wants('index-1m')) {
      const objects = args.quick ? 20_000 : 1_000_000;
      log(`index-1m: ${objects} objects on disk, then DiskStore.open() (a million takes minutes to write on a slow disk)`);
      results.push(await runIndexScenario(repoRoot, objects));
    }

    if (wants('purge-fanout')) {
      const id = 'purge-fanout';
      const title = `purge fan-out — 4 edgecache nodes with --cluster redis, ${args.purges} purges through node 1`;
      if (tools.redis === null) results.push({ id, title, reference: null, rows: [], notes: ['SKIPPED: redis-server not installed (apt-get install redis-server)'] });
      else if (edgecacheReason !== null) results.push({ id, title, reference: null, rows: [], notes: [`SKIPPED: edgecache: ${edgecacheReason}`] });
      else {
        log(`${id}: redis + 4 nodes`);
        try {
          const { row, notes } = await purgeFanout({ ...base, cpus: multiCpus }, tools.redis, args.purges, nonce, args.quick ? 1000 : 2000);
          results.push({ id, title, reference: null, rows: [row], notes });
        } catch (err) {
          results.push({ id, title, reference: null, rows: [emptyRow('edgecache ×4 nodes', `FAILED: ${(err as Error).message.slice(0, 300)}`)], notes: [] });
        }
      }
    }
  } finally {
    await stopAll();
    removeTempDirs();
  }

  if (edgecacheReason !== null) {
    for (const r of results) if (!r.rows.some((row) => row.contender.startsWith('edgecache'))) r.notes.push('edgecache: not in this run (see the !! line at the top)');
  }
  const targets = computeTargets(results, args.workers);
  const elapsed = (Date.now() - t0) / 1000;
  const out = [...header, ...global.map((g) => `!! ${g}`), '', ...results.map((r) => `${renderScenario(r)}\n`), renderTargets(targets), '', `done in ${elapsed.toFixed(0)} s${args.keep ? `; temp files kept in ${tmpDir}` : ''}`];
  console.log(out.join('\n'));
  if (args.json !== null) {
    writeJson(args.json, {
      meta: { date: new Date().toISOString(), node: process.version, cores: cpuCores(), pinned: pin, args: { ...args, only: args.only ? [...args.only] : null, without: [...args.without] }, header, warnings: global, elapsedS: elapsed },
      scenarios: results,
      targets,
    });
    console.log(`wrote ${args.json}`);
  }
}

const tempDirs: string[] = [];
function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    beginShutdown();
    log(`${sig}: stopping every process the bench started`);
    void stopAll().finally(() => {
      removeTempDirs();
      process.exit(130);
    });
  });
}
process.on('exit', () => {
  killAllSync();
  removeTempDirs();
});

main().catch(async (err: unknown) => {
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  await stopAll();
  process.exitCode = 1;
});

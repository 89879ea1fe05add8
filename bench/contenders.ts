// Bench contenders: start/stop edgecache, nginx proxy_cache, Varnish, the bare Node ceiling and the origin, in temp dirs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BenchError,
  dirAllocatedBytes,
  findExecutable,
  freePort,
  groupCpuSeconds,
  groupMemoryBytes,
  httpRequest,
  spawnTracked,
  stopProcess,
  waitForHttp,
  type SpawnedProcess,
} from './proc.js';

export type ContenderKind = 'edgecache' | 'nginx' | 'varnish' | 'bare' | 'bare-proxy' | 'origin-direct';

/** A running server the load generator can hit. */
export interface Running {
  kind: ContenderKind;
  /** Display name, e.g. "nginx" or "nginx ×2w". */
  name: string;
  url: string;
  proc: SpawnedProcess;
  adminUrl?: string;
  adminToken?: string;
  /** nginx's cache directory (on tmpfs when /dev/shm exists). */
  cacheDir?: string;
  /** Varnish's -n work dir. */
  workDir?: string;
  /** PSS of the process group, plus the on-tmpfs cache files for nginx. */
  memoryBytes(): number;
  /** CPU seconds the process group has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface OriginHandle {
  url: string;
  proc: SpawnedProcess;
  /** Total origin requests so far, and for one URL (path + query) when asked. */
  count(url?: string): Promise<{ total: number; path: number }>;
}

export interface StartOptions {
  tmpDir: string;
  /** Where caches that should live in memory go (a /dev/shm temp dir when available). */
  memDir: string;
  repoRoot: string;
  origin: OriginHandle;
  /** taskset list for this server, or undefined for no pinning. */
  cpus?: string;
  workers: number;
  /** edgecache only: --cluster redis://… */
  cluster?: string;
  /** edgecache only: false runs it with --no-fast-path (every request through node:http), for before/after figures. */
  fastPath?: boolean;
  /** edgecache only: a config file (--config) for what flags don't set, e.g. a disk tier. */
  config?: string;
}

export interface Tools {
  nginx: string | null;
  varnishd: string | null;
  varnishstat: string | null;
  wrk: string | null;
  redis: string | null;
}

export function detectTools(): Tools {
  return {
    nginx: findExecutable('nginx'),
    varnishd: findExecutable('varnishd'),
    varnishstat: findExecutable('varnishstat'),
    wrk: findExecutable('wrk'),
    redis: findExecutable('redis-server'),
  };
}

/** First line a tool prints about its version (nginx and varnishd print to stderr). */
export function toolVersion(path: string | null, args: string[]): string {
  if (path === null) return 'not installed';
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown';
}

/** Wait until url answers 200; on failure stop the process (so nothing is left behind) and rethrow. */
async function awaitReady(proc: SpawnedProcess, url: string, timeoutMs: number): Promise<void> {
  try {
    await waitForHttp(url, proc, timeoutMs);
  } catch (err) {
    await stopProcess(proc, 1000);
    throw err;
  }
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** Start the bench origin (bench/origin.ts) and return a handle that reads its counters. */
export async function startOrigin(o: { tmpDir: string; repoRoot: string; cpus?: string }): Promise<OriginHandle> {
  const port = await freePort();
  const proc = spawnTracked('origin', process.execPath, ['--import', 'tsx', join(o.repoRoot, 'bench/origin.ts'), '--port', String(port)], {
    cpus: o.cpus,
    cwd: o.repoRoot,
    logFile: join(o.tmpDir, 'origin.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/__count`, 15_000);
  return {
    url,
    proc,
    async count(path?: string) {
      const q = path === undefined ? '' : `?path=${encodeURIComponent(path)}`;
      const r = await httpRequest(`${url}/__count${q}`);
      const j = JSON.parse(r.body.toString('utf8')) as { total: number; path?: number };
      return { total: j.total, path: j.path ?? 0 };
    },
  };
}

function running(kind: ContenderKind, name: string, url: string, proc: SpawnedProcess, extra: Partial<Running> = {}): Running {
  const cacheDir = extra.cacheDir;
  return {
    kind,
    name,
    url,
    proc,
    ...extra,
    memoryBytes: () => groupMemoryBytes(proc.pid) + (cacheDir ? dirAllocatedBytes(cacheDir) : 0),
    cpuSeconds: () => groupCpuSeconds(proc.pid),
    stop: () => stopProcess(proc),
  };
}

/** The bare Node ceiling (bench/bare.ts), in node:cluster with `o.workers` processes when more than one. */
export async function startBare(o: StartOptions): Promise<Running> {
  const port = await freePort();
  const args = ['--import', 'tsx', join(o.repoRoot, 'bench/bare.ts'), '--port', String(port)];
  if (o.workers !== 1) args.push('--workers', String(o.workers));
  const proc = spawnTracked(o.workers === 1 ? 'bare' : `bare ${o.workers}w`, process.execPath, args, {
    cpus: o.cpus,
    cwd: o.repoRoot,
    logFile: join(o.tmpDir, `bare-${port}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/asset/1k`, 15_000);
  return running('bare', o.workers === 1 ? 'bare node' : `bare node ×${o.workers}w`, url, proc);
}

/**
 * The ceiling below node:http (bench/bare-net.ts): node:net finding each head's end and writing one preassembled
 * answer. What a fast path in front of node:http can approach; kind 'bare', so it sits out where bare node does.
 */
export async function startBareNet(o: StartOptions): Promise<Running> {
  const port = await freePort();
  const args = ['--import', 'tsx', join(o.repoRoot, 'bench/bare-net.ts'), '--port', String(port)];
  const proc = spawnTracked('bare-net', process.execPath, args, { cpus: o.cpus, cwd: o.repoRoot, logFile: join(o.tmpDir, `bare-net-${port}.log`) });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/asset/1k`, 15_000);
  return running('bare', 'bare node:net', url, proc);
}

/** The miss ceiling (bench/bare-proxy.ts): node:http forwarding with edgecache's undici Pool settings, storing nothing. */
export async function startBareProxy(o: StartOptions): Promise<Running> {
  const port = await freePort();
  const args = ['--import', 'tsx', join(o.repoRoot, 'bench/bare-proxy.ts'), '--port', String(port), '--origin', o.origin.url];
  if (o.workers !== 1) args.push('--workers', String(o.workers));
  const proc = spawnTracked('bare-proxy', process.execPath, args, { cpus: o.cpus, cwd: o.repoRoot, logFile: join(o.tmpDir, `bare-proxy-${port}.log`) });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/__count`, 15_000);
  return running('bare-proxy', 'bare Node proxy', url, proc);
}

/** The origin itself as a contender ("going to the origin directly"); stopping it is a no-op. */
export function originDirect(origin: OriginHandle): Running {
  return {
    kind: 'origin-direct',
    name: 'origin direct',
    url: origin.url,
    proc: origin.proc,
    memoryBytes: () => groupMemoryBytes(origin.proc.pid),
    cpuSeconds: () => groupCpuSeconds(origin.proc.pid),
    stop: async () => {},
  };
}

/**
 * nginx's config: proxy_cache keyed on Host + URI + Origin, cache lock, everything in the temp dir.
 * No tcp_nopush: with sendfile on loopback it halved nginx's 100 KiB hit rate here (measured 2.0k vs 4.4k req/s).
 */
export function nginxConfig(o: { dir: string; cacheDir: string; port: number; originPort: number; workers: number; asRoot: boolean; tls?: { cert: string; key: string } }): string {
  // Over TLS (bench/tls.ts): the same cache behind `listen … ssl http2`, session cache and tickets on.
  const listen = o.tls === undefined ? `listen 127.0.0.1:${o.port};` : `listen 127.0.0.1:${o.port} ssl http2;
    ssl_certificate ${o.tls.cert};
    ssl_certificate_key ${o.tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;`;
  return `# generated by bench/contenders.ts
${o.asRoot ? 'user root;' : ''}
worker_processes ${o.workers};
daemon off;
master_process on;
pid ${o.dir}/nginx.pid;
error_log ${o.dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 120s;
  keepalive_requests 10000000;
  ${o.tls === undefined ? '' : 'http2_max_requests 10000000;'}
  client_body_temp_path ${o.dir}/client_body;
  proxy_temp_path ${o.dir}/proxy_temp;
  fastcgi_temp_path ${o.dir}/fastcgi_temp;
  uwsgi_temp_path ${o.dir}/uwsgi_temp;
  scgi_temp_path ${o.dir}/scgi_temp;
  proxy_cache_path ${o.cacheDir} levels=1:2 keys_zone=bench:64m max_size=4g inactive=2h use_temp_path=off;
  upstream origin {
    server 127.0.0.1:${o.originPort};
    keepalive 64;
  }
  server {
    ${listen}
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_cache bench;
      proxy_cache_key $host$request_uri$http_origin;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
      proxy_cache_lock_age 10s;
      add_header X-Cache $upstream_cache_status;
    }
  }
}
`;
}

export async function startNginx(nginx: string, o: StartOptions): Promise<Running> {
  const dir = mkdtempSync(join(o.tmpDir, 'nginx-'));
  const cacheDir = mkdtempSync(join(o.memDir, 'nginx-cache-'));
  const port = await freePort();
  const originPort = Number(new URL(o.origin.url).port);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ dir, cacheDir, port, originPort, workers: o.workers, asRoot: isRoot() }));
  const proc = spawnTracked(`nginx ${o.workers}w`, nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    cpus: o.cpus,
    logFile: join(dir, 'stdout.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/__count`, 15_000);
  return running('nginx', o.workers === 1 ? 'nginx' : `nginx ×${o.workers}w`, url, proc, { cacheDir });
}

/** Varnish's VCL: the default hash plus the Origin header, and an X-Cache header. */
export function varnishVcl(originPort: number): string {
  return `vcl 4.1;
# generated by bench/contenders.ts
backend origin { .host = "127.0.0.1"; .port = "${originPort}"; }
sub vcl_hash {
  hash_data(req.url);
  if (req.http.host) { hash_data(req.http.host); } else { hash_data(server.ip); }
  if (req.http.Origin) { hash_data(req.http.Origin); }
  return (lookup);
}
sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
}
`;
}

export async function startVarnish(varnishd: string, o: StartOptions): Promise<Running> {
  const dir = mkdtempSync(join(o.tmpDir, 'varnish-'));
  const workDir = join(dir, 'work');
  mkdirSync(workDir);
  const vcl = join(dir, 'bench.vcl');
  writeFileSync(vcl, varnishVcl(Number(new URL(o.origin.url).port)));
  const port = await freePort();
  // -j none: no privilege separation (we run in a temp dir as whoever we are); -F: foreground.
  const args = ['-F', '-j', 'none', '-n', workDir, '-a', `127.0.0.1:${port}`, '-T', '127.0.0.1:0', '-f', vcl, '-s', 'malloc,256m'];
  const proc = spawnTracked('varnish', varnishd, args, { cpus: o.cpus, logFile: join(dir, 'varnishd.log') });
  const url = `http://127.0.0.1:${port}`;
  await awaitReady(proc, `${url}/__count`, 30_000);
  return running('varnish', 'varnish', url, proc, { workDir });
}

/** Whether edgecache's compiled CLI exists (dist/cli/main.js). */
export function hasEdgecacheBuild(repoRoot: string): boolean {
  return existsSync(join(repoRoot, 'dist/cli/main.js'));
}

/** Whether dist/ is newer than every non-test source file (then `npm run build` can be skipped). */
export function isBuildCurrent(repoRoot: string): boolean {
  const main = join(repoRoot, 'dist/cli/main.js');
  if (!existsSync(main)) return false;
  const built = statSync(main).mtimeMs;
  const newest = (dir: string): number => {
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) m = Math.max(m, newest(p));
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) m = Math.max(m, statSync(p).mtimeMs);
    }
    return m;
  };
  const inputs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => join(repoRoot, f)).filter((f) => existsSync(f));
  return Math.max(newest(join(repoRoot, 'src')), ...inputs.map((f) => statSync(f).mtimeMs)) <= built;
}

/** Run `npm run build`; returns null on success or a short reason. */
export function buildEdgecache(repoRoot: string): string | null {
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
  if (r.status === 0) return null;
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').filter((l) => /error/i.test(l));
  return `npm run build failed (${out.length} error lines; first: ${out[0]?.trim().slice(0, 200) ?? r.error?.message ?? 'no output'})`;
}

export async function startEdgecache(o: StartOptions): Promise<Running> {
  if (!hasEdgecacheBuild(o.repoRoot)) throw new BenchError('NO_BUILD', 'dist/cli/main.js missing (npm run build)');
  const port = await freePort();
  const adminPort = await freePort();
  const token = randomBytes(12).toString('hex');
  const args = [
    join(o.repoRoot, 'bin/edgecache.js'),
    'serve',
    '--origin',
    o.origin.url,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--admin-token',
    token,
    '--log-level',
    'silent',
  ];
  if (o.workers !== 1) args.push('--workers', String(o.workers));
  if (o.cluster !== undefined) args.push('--cluster', o.cluster);
  if (o.fastPath === false) args.push('--no-fast-path');
  if (o.config !== undefined) args.push('--config', o.config);
  const proc = spawnTracked(`edgecache ${o.workers}w${o.fastPath === false ? ' nofast' : ''}`, process.execPath, args, {
    cpus: o.cpus,
    cwd: o.repoRoot,
    logFile: join(o.tmpDir, `edgecache-${port}.log`),
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await awaitReady(proc, `${adminUrl}/healthz`, 20_000);
  const name = `${o.workers === 1 ? 'edgecache' : `edgecache ×${o.workers}w`}${o.fastPath === false ? ' (no fast path)' : ''}`;
  return running('edgecache', name, `http://127.0.0.1:${port}`, proc, { adminUrl, adminToken: token });
}

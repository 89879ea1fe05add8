// Tests for bench/contenders.ts against the real nginx and Varnish (skipped when not installed): Origin in the key, cache lock.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { isCi } from '../test/helpers/service.js';
import { fileURLToPath } from 'node:url';
import { detectTools, nginxConfig, startBare, startBareNet, startNginx, startOrigin, startVarnish, varnishVcl, type Running, type StartOptions } from './contenders.js';
import { groupPids, httpRequest, sleep, stopAll } from './proc.js';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const tools = detectTools();

test('nginx config keys on Host, URI and Origin with the cache lock, all paths in the temp dir', () => {
  const conf = nginxConfig({ dir: '/tmp/x', cacheDir: '/dev/shm/y', port: 1234, originPort: 5678, workers: 2, asRoot: false });
  assert.match(conf, /proxy_cache_key \$host\$request_uri\$http_origin;/);
  assert.match(conf, /proxy_cache_lock on;/);
  assert.match(conf, /worker_processes 2;/);
  assert.match(conf, /listen 127\.0\.0\.1:1234;/);
  assert.match(conf, /daemon off;/);
  assert.doesNotMatch(conf, /user root/);
  for (const line of conf.split('\n').filter((l) => /_path|pid |error_log/.test(l))) assert.match(line, /\/tmp\/x|\/dev\/shm\/y/, line);
  assert.match(varnishVcl(5678), /hash_data\(req\.http\.Origin\)/);
});

async function checkCachesPerOrigin(t: { after: (fn: () => Promise<void>) => void }, start: (o: StartOptions) => Promise<Running>): Promise<void> {
  const tmpDir = mkdtempSync(join(tmpdir(), 'contender-test-'));
  t.after(async () => {
    await stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  });
  const origin = await startOrigin({ tmpDir, repoRoot });
  const c = await start({ tmpDir, memDir: tmpDir, repoRoot, origin, workers: 1 });
  for (const o of ['https://a.example', 'https://b.example']) {
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(`${c.url}/asset/1k`, { headers: { origin: o } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], o, 'each Origin gets its own ACAO');
      assert.equal(r.headers['x-cache'], i === 0 ? 'MISS' : 'HIT');
    }
  }
  assert.equal((await origin.count('/asset/1k')).path, 2, 'one origin fetch per Origin variant');
  // Cache lock: 20 simultaneous requests for a new slow URL cost one origin fetch.
  const path = '/slow/lock-test?delay=150';
  await Promise.all(Array.from({ length: 20 }, () => httpRequest(`${c.url}${path}`, { headers: { origin: 'https://a.example' } })));
  assert.equal((await origin.count(path)).path, 1);
  assert.ok(c.memoryBytes() > 1024 * 1024);
  await c.stop();
  assert.equal(c.proc.hasExited(), true);
}

test('nginx proxy_cache in a temp dir: a variant per Origin, collapsed misses', { skip: tools.nginx === null && !isCi() ? 'nginx not installed (apt-get install nginx varnish wrk; required in CI)' : false }, async (t) => {
  await checkCachesPerOrigin(t, (o) => startNginx(tools.nginx as string, o));
});

test('Varnish with the generated VCL: a variant per Origin, collapsed misses', { skip: tools.varnishd === null && !isCi() ? 'varnishd not installed (apt-get install nginx varnish wrk; required in CI)' : false }, async (t) => {
  await checkCachesPerOrigin(t, (o) => startVarnish(tools.varnishd as string, o));
});

test('the repo has the bench entry files the npm script runs', () => {
  assert.ok(existsSync(join(repoRoot, 'bench/run.ts')));
});

test('bare Node with --workers 2: two node:cluster processes share the port, and stopping it ends them all', async (t) => {
  const tmpDir = mkdtempSync(join(tmpdir(), 'contender-test-'));
  t.after(async () => {
    await stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  });
  const origin = { url: 'http://127.0.0.1:9', proc: null as never, count: async () => ({ total: 0, path: 0 }) };
  const c = await startBare({ tmpDir, memDir: tmpDir, repoRoot, origin, workers: 2 });
  assert.equal(c.name, 'bare node ×2w');
  const r = await httpRequest(`${c.url}/asset/1k`, { headers: { origin: 'https://a.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 1024);
  assert.equal(r.headers['access-control-allow-origin'], 'https://a.example');
  // Node processes only: on a cold tsx cache the group also holds esbuild's service process.
  const nodes = (): number => groupPids(c.proc.pid).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node'; } catch { return false; }
  }).length;
  for (let i = 0; i < 500 && nodes() < 3; i++) await sleep(20); // tsx start-up of the second worker, on a busy machine
  assert.equal(nodes(), 3, 'the primary and two workers');
  await c.stop();
  for (let i = 0; i < 100 && groupPids(c.proc.pid).length > 0; i++) await sleep(20);
  assert.deepEqual(groupPids(c.proc.pid), []);
});

test('bare node:net: answers 1 KiB and 100 KiB assets with a valid head, pipelined requests in order', async (t) => {
  const tmpDir = mkdtempSync(join(tmpdir(), 'contender-test-'));
  t.after(async () => {
    await stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  });
  const origin = { url: 'http://127.0.0.1:9', proc: null as never, count: async () => ({ total: 0, path: 0 }) };
  const c = await startBareNet({ tmpDir, memDir: tmpDir, repoRoot, origin, workers: 1 });
  assert.equal(c.name, 'bare node:net');
  const small = await httpRequest(`${c.url}/asset/1k`);
  assert.equal(small.status, 200);
  assert.equal(small.body.length, 1024);
  const large = await httpRequest(`${c.url}/asset/100k`);
  assert.equal(large.body.length, 100 * 1024);
  const net = await import('node:net');
  const sock = net.connect(Number(new URL(c.url).port), '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  sock.write('GET /asset/100k HTTP/1.1\r\nHost: x\r\n\r\nGET /asset/1k HTTP/1.1\r\nHost: x\r\n\r\n');
  for (let i = 0; i < 200 && got.length < 100 * 1024 + 1024 + 400; i++) await sleep(10);
  sock.destroy();
  const lengths = [...got.matchAll(/content-length: (\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(lengths, [100 * 1024, 1024]);
  await c.stop();
});

// /metrics as Prometheus reads it: every answer counted (refusals too) by zone, cache status and status class; hit,
// miss and origin latency histograms in seconds; `promtool check metrics` clean, one process and --workers 2 (where
// per-worker figures are summed, but a limit such as process_max_fds is not).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exchange } from './helpers/raw-http.js';
import { send, sleep, startOrigin, startTestEdge } from './helpers/http.js';
import { findCommand, requireService } from './helpers/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

/** `promtool check metrics` on the exposition text: its complaints (empty: clean). */
function promtool(t: TestContext, text: string): string | undefined {
  const bin = findCommand('promtool');
  if (!requireService(t, 'promtool', bin !== null, 'apt-get install prometheus (Debian ships promtool in it)')) return undefined;
  const r = spawnSync(bin!, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : ` (exit ${r.status})`);
}

/** Every sample of `name` as [labels, value]. */
function samples(text: string, name: string): [string, number][] {
  const out: [string, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push([m[2] ?? '', Number(m[3])]);
  }
  return out;
}
const total = (text: string, name: string, labels: RegExp = /.*/): number => samples(text, name).filter(([l]) => labels.test(l)).reduce((s, [, v]) => s + v, 0);

test('every answer is counted by zone, cache status and status class; hit, miss and origin latencies are histograms; promtool is clean', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/down') { res.destroy(); return; }
    res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('asset');
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'cdn', hosts: ['cdn.test'], origin: origin.url }] });
  const port = edge.edge.port;
  const get = (path: string, host = 'cdn.test'): Promise<number> => send(`${edge.base}${path}`, { headers: { host } }).then((r) => r.status);
  assert.equal(await get('/a'), 200); // miss
  assert.equal(await get('/a'), 200); // hit
  assert.equal(await get('/a'), 200); // hit
  assert.equal(await get('/down'), 502); // origin error
  assert.equal(await get('/a', 'other.test'), 421); // no zone serves the host (TargetRefusal)
  // The request guard refuses before any zone: a head over maxHeaderBytes (431), and a request without Host (400).
  const big = await exchange(port, `GET /a HTTP/1.1\r\nHost: cdn.test\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
  assert.match(big.text, /^HTTP\/1\.1 431 /);
  const noHost = await exchange(port, 'GET /a HTTP/1.1\r\n\r\n');
  assert.match(noHost.text, /^HTTP\/1\.1 400 /);

  const text = (await send(`${edge.adminBase}/metrics`)).body;
  assert.equal(total(text, 'edgecache_requests_total'), 7, 'each of the 7 answers counted once');
  assert.equal(total(text, 'edgecache_requests_total', /zone="cdn",cache_status="HIT",status_class="2xx"/), 2);
  assert.equal(total(text, 'edgecache_requests_total', /zone="cdn",cache_status="MISS",status_class="2xx"/), 1);
  assert.equal(total(text, 'edgecache_requests_total', /zone="cdn",cache_status="NONE",status_class="5xx"/), 1, 'the 502');
  assert.equal(total(text, 'edgecache_requests_total', /zone="\(none\)",cache_status="NONE",status_class="4xx"/), 3, '421, 431 and 400, before any zone');
  assert.equal(total(text, 'edgecache_request_duration_seconds_count', /zone="cdn",cache="hit"/), 2);
  assert.equal(total(text, 'edgecache_request_duration_seconds_count', /zone="cdn",cache="miss"/), 1);
  assert.equal(total(text, 'edgecache_request_duration_seconds_bucket', /zone="cdn",cache="hit",le="\+Inf"/), 2);
  const hitSeconds = total(text, 'edgecache_request_duration_seconds_sum', /zone="cdn",cache="hit"/);
  assert.ok(hitSeconds > 0 && hitSeconds < 5, `hit latencies are in seconds (${hitSeconds})`);
  assert.equal(total(text, 'edgecache_origin_duration_seconds_count', /zone="cdn"/), 1, 'the one origin answer (the destroyed one has no head)');
  assert.ok(samples(text, 'edgecache_evictions_total').length === 1 && samples(text, 'edgecache_evictions').length === 0, 'evictions are a counter');
  assert.equal(samples(text, 'nodejs_active_handles_total').length, 0, 'the default gauge named *_total is filtered');
  assert.equal(promtool(t, text) ?? '', '', 'promtool check metrics is clean');
});

test('--workers 2: per-worker figures are summed, limits are not, and the aggregated text is promtool clean', { timeout: 120_000 }, async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('asset'); });
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--workers', '2'],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const deadline = Date.now() + 60_000;
  while (!/edgecache serving with workers/.test(out)) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `no serving line: ${out.slice(-500)}`);
    await sleep(50);
  }
  const line = JSON.parse(out.split('\n').find((l) => l.includes('edgecache serving with workers'))!) as { edge: string; admin: string };
  for (let i = 0; i < 6; i++) assert.equal((await send(`http://${line.edge}/a`)).status, 200);
  const text = (await send(`http://${line.admin}/metrics`)).body;
  assert.equal(total(text, 'edgecache_requests_total'), 6, 'answers summed over the workers');
  assert.equal(total(text, 'edgecache_request_duration_seconds_count'), 6, 'histograms summed over the workers');
  const maxFds = samples(text, 'process_max_fds');
  assert.equal(maxFds.length, 1);
  const own = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isFinite(own)) assert.equal(maxFds[0]![1], own, 'process_max_fds is one process\'s limit, not the sum');
  assert.equal(promtool(t, text) ?? '', '', 'promtool check metrics is clean');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
});

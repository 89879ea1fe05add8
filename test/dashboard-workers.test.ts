// The dashboard with `--workers 2`: the primary samples each worker; each is its own source, the totals
// are their sum (every request counted once), and the inspector names the worker holding each variant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sample } from '../src/observability/history.js';
import { ADMIN_TOKEN, send, sleep, startOrigin } from './helpers/http.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

test('--workers 2: one source per worker, totals right, the primary\'s node description lists the workers', { timeout: 90_000 }, async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Origin' }); res.end('w'); });
  const env: NodeJS.ProcessEnv = { ...process.env, EDGECACHE_DASHBOARD_INTERVAL_MS: '200' };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--workers', '2', '--origin', origin.url, '--listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', '--admin-token', ADMIN_TOKEN, '--log-level', 'info'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.after(async () => {
    // SIGTERM to the primary by its pid: it stops its workers (cluster workers also exit when their primary goes).
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  });
  child.stderr!.resume();
  const addr = await new Promise<{ edge: string; admin: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('not serving within 30 s')), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        try { const j = JSON.parse(line) as { msg?: string; edge: string; admin: string }; if (j.msg === 'edgecache serving with workers') { clearTimeout(timer); resolve(j); } } catch { /* partial line */ }
      }
    });
  });
  const base = `http://${addr.edge}`;
  const admin = `http://${addr.admin}`;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const N = 60;
  for (let i = 0; i < N; i++) assert.equal((await send(`${base}/x`, { headers: { origin: i % 2 ? 'https://a.example' : 'https://b.example' } })).status, 200);

  let samples: Sample[] = [];
  const sum = (key: string, source?: string): number => samples.reduce((n, s) => n + Object.entries(s.sources)
    .filter(([id]) => source === undefined || id === source).reduce((m, [, src]) => m + (src.c[key] ?? 0), 0), 0);
  const requests = (source?: string): number => ['HIT', 'MISS'].reduce((n, st) => n + sum(`requests:${st}`, source), 0);
  for (let i = 0; i < 100 && requests() < N; i++) {
    await sleep(100);
    const r = await send(`${admin}/edgecache/v1/dashboard/history`, { headers: auth });
    samples = (JSON.parse(r.body) as { result: { samples: Sample[] } }).result.samples;
  }
  assert.equal(requests(), N, 'every request counted once across the workers');
  assert.equal(requests('worker-0') + requests('worker-1'), N);
  const sources = new Set(samples.flatMap((s) => Object.keys(s.sources)));
  assert.deepEqual([...sources].sort(), ['worker-0', 'worker-1']);
  // Each worker has its own cache: between them, at most 2 misses per Origin.
  assert.ok(sum('requests:MISS') >= 2 && sum('requests:MISS') <= 4, `misses ${sum('requests:MISS')}`);

  const session = JSON.parse((await send(`${admin}/edgecache/v1/dashboard/session`, { headers: auth })).body) as { result: { node: { mode: string; workers: { source: string; pid: number }[] } } };
  assert.equal(session.result.node.mode, 'workers');
  assert.deepEqual(session.result.node.workers.map((w) => w.source), ['worker-0', 'worker-1']);
  assert.ok(session.result.node.workers.every((w) => Number.isInteger(w.pid) && w.pid !== child.pid));

  const inspected = JSON.parse((await send(`${admin}/edgecache/v1/zones/default/inspect`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: `${base}/x` }) })).body) as { result: { variants: { worker: number; cors: { acao: string | null } }[] } };
  assert.ok(inspected.result.variants.length >= 2);
  assert.ok(inspected.result.variants.every((v) => v.worker === 0 || v.worker === 1));
});

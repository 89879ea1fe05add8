// The bench's index-1m scenario: runs bench/index-1m.ts in its own process (a clean heap to measure) and reports
// bytes of index per object only on disk and DiskStore.open() time, beside nginx's keys_zone figure.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { emptyRow, type ScenarioResult } from './report.js';

/** nginx documents about 8,000 keys per MiB of keys_zone (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path). */
const NGINX_BYTES_PER_KEY = Math.round((1024 * 1024) / 8000);

export async function runIndexScenario(repoRoot: string, objects: number): Promise<ScenarioResult> {
  const id = 'index-1m';
  const title = `disk tier index — ${objects.toLocaleString('en-US')} small objects only on disk: heap per object after GC, DiskStore.open() time`;
  const row = emptyRow('edgecache');
  const notes = [
    'filled at store level (a body file, an entry file and an index record each, no fsync), not through HTTP; then a fresh DiskStore.open()',
    `nginx: ~${NGINX_BYTES_PER_KEY} B per key (keys_zone, documented: 8,000 keys per MiB), not measured; target: edgecache <= 400 B per object`,
  ];
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', join(repoRoot, 'bench', 'index-1m.ts'), '--objects', String(objects)],
        { cwd: repoRoot, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const r = JSON.parse(out.split('\n')[0]!) as { heapPerObject: number; openMs: number; openCpuMs: number; loaded: number; indexed: number };
    row.extra = { bytesPerObject: r.heapPerObject, openMs: r.openMs, openCpuMs: r.openCpuMs, loaded: r.loaded, indexed: r.indexed, nginxBytesPerKey: NGINX_BYTES_PER_KEY };
    row.note = `${r.heapPerObject} B/object (nginx ~${NGINX_BYTES_PER_KEY}); open() ${(r.openMs / 1000).toFixed(1)} s wall, ${(r.openCpuMs / 1000).toFixed(1)} s CPU`;
  } catch (err) {
    row.errors = 1;
    notes.push(`FAILED: ${String(err).slice(0, 300)}`);
  }
  return { id, title, reference: null, rows: [row], notes };
}

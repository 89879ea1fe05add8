// End to end: `edgecache inspect` and `edgecache purge` as child processes against a running edge's admin API.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrigin, startTestEdge, send, ADMIN_TOKEN } from './helpers/http.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

/** Runs `edgecache <args>` (node --import tsx src/cli/main.ts) to completion. */
function edgecache(t: TestContext, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, out, errText) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out, err: errText });
    });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  });
}

test('edgecache inspect lists the variants of a URL; edgecache purge --url --header removes exactly one of them', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin as string | undefined;
    res.writeHead(200, {
      'content-type': 'text/javascript', 'cache-control': 'public, max-age=300', vary: 'Origin', 'cache-tag': 'app, js',
      ...(o ? { 'access-control-allow-origin': o } : {}),
    });
    res.end(`// for ${o ?? 'nobody'}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const a = { origin: 'https://a.example' };
  const b = { origin: 'https://b.example' };
  const get = async (h: Record<string, string> = {}) => (await send(`${edge.base}/app.js`, { headers: { host: 'cdn.example.com', ...h } })).headers['cf-cache-status'];
  for (const h of [a, b, {}]) assert.equal(await get(h), 'MISS');
  const target = ['--admin', edge.adminBase, '--token', ADMIN_TOKEN, '--zone', 'default'];
  const url = 'https://cdn.example.com/app.js';

  const inspect = await edgecache(t, ['inspect', url, '--header', 'Origin: https://b.example', ...target]);
  assert.equal(inspect.code, 0, inspect.err);
  const lines = inspect.out.trim().split('\n');
  assert.match(lines[0]!, /app\.js \(zone default, 3 variants\)/);
  const rows = lines.filter((l) => /origin: /.test(l));
  assert.equal(rows.length, 3);
  assert.ok(rows.some((r) => /^\*\s+origin: https:\/\/b\.example\s+200\b/.test(r)), 'the variant these headers select is marked');
  assert.ok(rows.some((r) => /^\s+origin: https:\/\/a\.example\s+200\b/.test(r)));
  assert.ok(rows.some((r) => /^\s+origin: \(absent\)\s+200\b/.test(r)));
  assert.ok(rows.every((r) => /\bapp, js\b/.test(r)), 'tags are shown');

  const purged = await edgecache(t, ['purge', '--url', url, '--header', 'origin: https://a.example', ...target]);
  assert.equal(purged.code, 0, purged.err);
  assert.match(purged.out, /purged 1 file \(the variant selected by origin\) in zone default/);
  assert.deepEqual([await get(a), await get(b), await get()], ['MISS', 'HIT', 'HIT']);
});

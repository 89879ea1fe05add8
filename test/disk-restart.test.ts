// End to end with `cache.store: disk`: an edge restarted on the same directory serves what it cached, and purges stay purged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge, send, purge } from './helpers/http.js';

const A = 'https://a.example';
const B = 'https://b.example';

test('disk store: after a restart both Origin variants are HITs with their own ACAO; a purge before the restart stays purged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-e2e-'));
  const edges: { close(graceMs?: number): Promise<void> }[] = [];
  // Hooks run in the order they were added: close the edges (idempotent) before their directory goes.
  t.after(async () => { for (const e of edges) await e.close(1000); await rm(dir, { recursive: true, force: true }); });
  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin as string | undefined;
    const h: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', vary: 'Origin' };
    if (o === A || o === B) h['access-control-allow-origin'] = o;
    if (req.url === '/tagged.js') h['cache-tag'] = 'release-1';
    res.writeHead(200, h);
    res.end(JSON.stringify({ url: req.url, origin: o ?? null }));
  });
  const config = { origin: origin.url, cache: { store: 'disk' as const, path: dir } };
  const get = (base: string, path: string, o?: string) => send(`${base}${path}`, { headers: { host: 'cdn.example.com', ...(o ? { origin: o } : {}) } });

  const first = await startTestEdge(t, config);
  edges.push(first);
  for (const [path, o] of [['/app.js', A], ['/app.js', B], ['/gone.js', A], ['/tagged.js', A], ['/kept.js', A]] as const) {
    assert.equal((await get(first.base, path, o)).headers['cf-cache-status'], 'MISS');
    assert.equal((await get(first.base, path, o)).headers['cf-cache-status'], 'HIT');
  }
  assert.equal((await purge(first, 'default', { files: ['https://cdn.example.com/gone.js'] })).status, 200);
  assert.equal((await purge(first, 'default', { tags: ['release-1'] })).status, 200);
  await first.close(1000);
  const fetched = origin.requests.length;

  const second = await startTestEdge(t, config);
  edges.push(second);
  const a = await get(second.base, '/app.js', A);
  const b = await get(second.base, '/app.js', B);
  assert.deepEqual([a.headers['cf-cache-status'], b.headers['cf-cache-status']], ['HIT', 'HIT']);
  assert.equal(a.headers['access-control-allow-origin'], A);
  assert.equal(b.headers['access-control-allow-origin'], B);
  assert.deepEqual(JSON.parse(a.body), { url: '/app.js', origin: A });
  assert.deepEqual(JSON.parse(b.body), { url: '/app.js', origin: B });
  assert.ok(Number(a.headers.age) >= 0, 'Age on a HIT from the reloaded entry');
  assert.equal((await get(second.base, '/kept.js', A)).headers['cf-cache-status'], 'HIT');
  assert.equal(origin.requests.length, fetched, 'the origin saw nothing for the reloaded entries');
  assert.equal((await get(second.base, '/gone.js', A)).headers['cf-cache-status'], 'MISS', 'purged by URL before the restart');
  assert.equal((await get(second.base, '/tagged.js', A)).headers['cf-cache-status'], 'MISS', 'purged by tag before the restart');
  assert.equal(origin.requests.length, fetched + 2);
});

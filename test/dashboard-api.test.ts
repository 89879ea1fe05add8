// The dashboard's HTTP surface on a real edge: static files with a strict CSP and no framing, the read-only
// API behind the bearer token (zone-scoped tokens see only their zones), exact request counts in the history, bytes
// served and fetched, refused requests, and the inspector's CORS fields per variant.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { validateConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { startEdge, type RunningEdge } from '../src/edge/server.js';
import { createLogger } from '../src/observability/logger.js';
import type { Sample } from '../src/observability/history.js';
import { ADMIN_TOKEN, send, sleep, startOrigin, type Res } from './helpers/http.js';

const SHOP_TOKEN = 'shop-only-token-0123456789';
const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function edgeWith(t: TestContext, zones: ConfigInput['zones']): Promise<RunningEdge & { base: string; adminBase: string }> {
  const config = validateConfig({
    listen: '127.0.0.1:0', logLevel: 'silent',
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }, { token: SHOP_TOKEN, zones: ['shop'] }] },
    zones,
  }, 'test');
  const edge = await startEdge(config, { logger: createLogger('silent'), historyIntervalMs: 100 });
  t.after(() => edge.close(1000));
  return Object.assign(edge, { base: `http://127.0.0.1:${edge.edge.port}`, adminBase: `http://127.0.0.1:${edge.admin.port}` });
}

const json = (r: Res): { success: boolean; result: Record<string, unknown>; errors: { code: number }[] } => JSON.parse(r.body);

async function history(adminBase: string, token: string): Promise<Sample[]> {
  const r = await send(`${adminBase}/edgecache/v1/dashboard/history`, { headers: auth(token) });
  assert.equal(r.status, 200);
  return json(r).result['samples'] as Sample[];
}

/** Sum of one counter over every sample and source. */
const total = (samples: Sample[], key: string): number =>
  samples.reduce((n, s) => n + Object.values(s.sources).reduce((m, src) => m + (src.c[key] ?? 0), 0), 0);

/** Waits until the history has caught up with what was sent (samples every 100 ms). */
async function settle(adminBase: string, done: (s: Sample[]) => boolean): Promise<Sample[]> {
  for (let i = 0; i < 100; i++) {
    const s = await history(adminBase, ADMIN_TOKEN);
    if (done(s)) return s;
    await sleep(50);
  }
  throw new Error('history did not catch up');
}

test('static files: CSP without inline script or style, no framing, no CORS; /dashboard redirects; GET only', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.end('x'); });
  const edge = await edgeWith(t, [{ id: 'shop', hosts: ['*'], origin: origin.url }]);
  const page = await send(`${edge.adminBase}/dashboard/`, { headers: { origin: 'https://evil.example' } });
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['access-control-allow-origin'], undefined);
  assert.doesNotMatch(page.body, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handlers in the page');
  for (const file of ['app.js', 'common.js', 'chart.js', 'figures.js', 'tools.js', 'style.css']) {
    const r = await send(`${edge.adminBase}/dashboard/${file}`);
    assert.equal(r.status, 200, file);
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
  const redirect = await send(`${edge.adminBase}/dashboard`);
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.location, '/dashboard/');
  assert.equal((await send(`${edge.adminBase}/dashboard/../package.json`)).status, 404);
  assert.equal((await send(`${edge.adminBase}/dashboard/nope.js`)).status, 404);
  assert.equal((await send(`${edge.adminBase}/dashboard/`, { method: 'POST', body: 'x' })).status, 405);
  // A cross-site preflight to the admin API gets no CORS grant: another site's page can neither read nor purge.
  const pre = await send(`${edge.adminBase}/edgecache/v1/dashboard/session`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
  assert.equal(pre.status, 405);
});

test('API: 401 without a valid bearer token (a token in the query string does not count); session says what the token may touch', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.end('x'); });
  const edge = await edgeWith(t, [{ id: 'shop', hosts: ['shop.example'], origin: origin.url }, { id: 'blog', hosts: ['*'], origin: origin.url, cors: { allowOrigins: ['https://a.example'] } }]);
  const api = `${edge.adminBase}/edgecache/v1/dashboard`;
  for (const r of [await send(`${api}/session`), await send(`${api}/session`, { headers: auth('wrong-token-0123456789') }), await send(`${api}/history?token=${ADMIN_TOKEN}`)]) {
    assert.equal(r.status, 401);
    assert.equal(json(r).errors[0]!.code, 10001);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
  }
  const all = json(await send(`${api}/session`, { headers: auth(ADMIN_TOKEN) })).result;
  assert.equal(all['allZones'], true);
  assert.deepEqual((all['zones'] as { id: string }[]).map((z) => z.id), ['shop', 'blog']);
  assert.deepEqual(all['zones'], [
    { id: 'shop', hosts: ['shop.example'], cors: 'origin', keyHeaders: ['origin'] },
    { id: 'blog', hosts: ['*'], cors: 'edge', keyHeaders: [] },
  ]);
  assert.equal((all['node'] as { pid: number }).pid, process.pid);
  assert.equal(all['intervalMs'], 100);
  const scoped = json(await send(`${api}/session`, { headers: auth(SHOP_TOKEN) })).result;
  assert.equal(scoped['allZones'], false);
  assert.deepEqual((scoped['zones'] as { id: string }[]).map((z) => z.id), ['shop']);
  assert.deepEqual(scoped['node'], {}, 'node-wide details are for all-zones tokens');
  assert.equal((await send(`${api}/nothing`, { headers: auth(ADMIN_TOKEN) })).status, 404);
  assert.equal((await send(`${api}/session`, { method: 'POST', headers: auth(ADMIN_TOKEN) })).status, 405);
});

test('a reload shows in the session: added and removed zones, a zone\'s new CORS owner, the new purge.maxItems; scoped tokens follow', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.end('x'); });
  const before: ConfigInput['zones'] = [{ id: 'shop', hosts: ['shop.example'], origin: origin.url }, { id: 'blog', hosts: ['*'], origin: origin.url }];
  const edge = await edgeWith(t, before);
  const api = `${edge.adminBase}/edgecache/v1/dashboard`;
  const session = async (token: string): Promise<Record<string, unknown>> => json(await send(`${api}/session`, { headers: auth(token) })).result;
  assert.deepEqual(((await session(ADMIN_TOKEN))['zones'] as { id: string }[]).map((z) => z.id), ['shop', 'blog']);
  const next = validateConfig({
    listen: '127.0.0.1:0', logLevel: 'silent', purge: { maxItems: 7 },
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }, { token: SHOP_TOKEN, zones: ['shop', 'docs'] }] },
    zones: [
      { id: 'shop', hosts: ['shop.example'], origin: origin.url, cors: { allowOrigins: ['https://a.example'] } },
      { id: 'docs', hosts: ['*'], origin: origin.url },
    ],
  }, 'test');
  await edge.reload(next);
  const all = await session(ADMIN_TOKEN);
  assert.deepEqual(all['zones'], [
    { id: 'shop', hosts: ['shop.example'], cors: 'edge', keyHeaders: [] },
    { id: 'docs', hosts: ['*'], cors: 'origin', keyHeaders: ['origin'] },
  ]);
  assert.equal(all['purgeMaxItems'], 7);
  assert.deepEqual(((await session(SHOP_TOKEN))['zones'] as { id: string }[]).map((z) => z.id), ['shop', 'docs'], 'the reloaded token reaches the new zone');
});

test('history counts every request once, bytes both ways, refusals; a zone-scoped token sees only its zones\' counters', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/fail') { res.destroy(); return; }
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end('y'.repeat(1000));
  });
  const other = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('z'); });
  const edge = await edgeWith(t, [{ id: 'shop', hosts: ['shop.example'], origin: origin.url }, { id: 'blog', hosts: ['blog.example'], origin: other.url }]);
  for (let i = 0; i < 5; i++) assert.equal((await send(`${edge.base}/a`, { headers: { host: 'shop.example' } })).status, 200);
  assert.equal((await send(`${edge.base}/fail`, { headers: { host: 'shop.example' } })).status, 502);
  assert.equal((await send(`${edge.base}/b`, { headers: { host: 'blog.example' } })).status, 200);
  // A request the listener refuses itself (a header over the limit): 431, never reaches the handler.
  await new Promise<void>((resolve) => {
    const s = connect(edge.edge.port, '127.0.0.1', () => s.end(`GET / HTTP/1.1\r\nHost: shop.example\r\nX-Big: ${'b'.repeat(70_000)}\r\n\r\n`));
    s.on('data', () => {}); s.on('close', () => resolve()); s.on('error', () => resolve());
  });

  const samples = await settle(edge.adminBase, (s) => total(s, 'requests:HIT') === 4 && total(s, 'refused:431') === 1);
  assert.equal(total(samples, 'requests:MISS'), 2, 'one miss per zone');
  assert.equal(total(samples, 'requests:NONE'), 1, 'the origin failure');
  assert.equal(total(samples, 'zone:shop:origin_fetches'), 2);
  assert.equal(total(samples, 'zone:shop:origin_errors'), 1);
  assert.equal(total(samples, 'zone:blog:origin_fetches'), 1);
  assert.ok(total(samples, 'bytes_served') > 5 * 1000, 'five 1000-byte bodies went out');
  assert.ok(total(samples, 'zone:shop:origin_bytes') > 1000 && total(samples, 'zone:shop:origin_bytes') < 3000, 'one body came from the shop origin');
  const last = samples.at(-1)!.sources['local']!;
  assert.deepEqual([last.g['objects'], last.g['variants']], [2, 2]);
  // Per zone: answers by cache status (the origin failure counts for its zone) and body bytes answered from the cache.
  assert.deepEqual([total(samples, 'zone:shop:requests:HIT'), total(samples, 'zone:shop:requests:MISS'), total(samples, 'zone:shop:requests:NONE')], [4, 1, 1]);
  assert.deepEqual([total(samples, 'zone:blog:requests:HIT'), total(samples, 'zone:blog:requests:MISS')], [0, 1]);
  assert.equal(total(samples, 'zone:shop:cache_bytes'), 4 * 1000, 'four 1000-byte bodies from the cache');
  assert.equal(total(samples, 'zone:blog:cache_bytes'), 0);
  assert.deepEqual([last.g['zone:shop:objects'], last.g['zone:shop:variants'], last.g['zone:shop:body_bytes']], [1, 1, 1000]);
  assert.deepEqual([last.g['zone:blog:objects'], last.g['zone:blog:variants'], last.g['zone:blog:body_bytes']], [1, 1, 1]);

  const scoped = await history(edge.adminBase, SHOP_TOKEN);
  const keys = new Set(scoped.flatMap((s) => Object.values(s.sources).flatMap((src) => [...Object.keys(src.c), ...Object.keys(src.g)])));
  assert.ok(keys.size > 0);
  for (const k of keys) assert.match(k, /^zone:shop:/, `a shop-only token must not see ${k}`);

  const events = (tok: string) => send(`${edge.adminBase}/edgecache/v1/dashboard/events`, { headers: auth(tok) }).then((r) => json(r).result['events'] as { kind: string; zone: string; code: string; count: number }[]);
  const seen = await events(ADMIN_TOKEN);
  assert.ok(seen.some((e) => e.kind === 'origin-error' && e.zone === 'shop' && e.code === 'ORIGIN_UNREACHABLE' && e.count === 1));
  assert.ok(seen.some((e) => e.kind === 'refused' && e.code === '431'));
  assert.ok((await events(SHOP_TOKEN)).every((e) => e.zone === 'shop'), 'refusals (no zone) are not shown to a zone-scoped token');
});

test('inspect: each variant\'s CORS fields and problems, shared bodies; an ACAO stored without Origin in the key is flagged', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin;
    res.writeHead(200, { 'cache-control': 'max-age=60', ...(req.url === '/good' ? { vary: 'Origin' } : {}), ...(o ? { 'access-control-allow-origin': o } : {}) });
    res.end('same body');
  });
  const edge = await edgeWith(t, [
    { id: 'shop', hosts: ['shop.example'], origin: origin.url },
    { id: 'nokey', hosts: ['nokey.example'], origin: origin.url, cacheKey: { headers: [] } },
  ]);
  for (const o of ['https://a.example', 'https://b.example']) await send(`${edge.base}/good`, { headers: { host: 'shop.example', origin: o } });
  await send(`${edge.base}/stale`, { headers: { host: 'nokey.example', origin: 'https://a.example' } });
  const inspect = async (zone: string, url: string, origin?: string) => {
    const r = await send(`${edge.adminBase}/edgecache/v1/zones/${zone}/inspect`, { method: 'POST', headers: { ...auth(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify({ url, headers: origin ? { origin } : {} }) });
    return json(r).result['variants'] as { selector: Record<string, string>; sharedBody: number; cors: { owner: string; acao: string | null; vary: string | null; problems: { kind: string }[] } }[];
  };
  const good = await inspect('shop', 'http://shop.example/good');
  assert.deepEqual(good.map((v) => [v.selector['origin'], v.cors.acao, v.cors.vary, v.cors.problems.length, v.sharedBody]).sort(),
    [['https://a.example', 'https://a.example', 'Origin', 0, 1], ['https://b.example', 'https://b.example', 'Origin', 0, 1]]);
  const stale = await inspect('nokey', 'http://nokey.example/stale', 'https://b.example');
  assert.equal(stale.length, 1);
  assert.equal(stale[0]!.cors.acao, 'https://a.example');
  assert.deepEqual(stale[0]!.cors.problems.map((p) => p.kind), ['acao-not-keyed'], 'Origin B would be served A\'s ACAO');
  // A zone-scoped token may not inspect another zone.
  const r = await send(`${edge.adminBase}/edgecache/v1/zones/nokey/inspect`, { method: 'POST', headers: { ...auth(SHOP_TOKEN), 'content-type': 'application/json' }, body: '{"url":"http://nokey.example/stale"}' });
  assert.equal(r.status, 403);
});

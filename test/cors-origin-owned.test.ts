// End to end: origin-owned CORS (the default) — the origin's preflight answers cached per URL + Origin + ACRM + ACRH
// (cacheKey.cachePreflight), their purge, and the diagnostics for origin CORS answers that poison shared caches.
// CORS-preflight cache: https://fetch.spec.whatwg.org/#cors-preflight-cache — Vary: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../src/observability/logger.js';
import { metric, purge, send, startOrigin, startTestEdge, type OriginHandler, type Res } from './helpers/http.js';
import { ManualClock } from '../src/edge/clock.js';

const APP = 'https://app.example.com';
const APP2 = 'https://admin.example.com';
const ALLOWED = new Set([APP, APP2]);

/** An origin that owns CORS: reflects an allow-list with Vary: Origin, answers preflights with ACMA per path. */
const corsOrigin: OriginHandler = (req, res) => {
  const origin = req.headers.origin;
  const url = new URL(req.url ?? '/', 'http://o');
  const h: Record<string, string> = { vary: 'Origin' };
  if (typeof origin === 'string' && ALLOWED.has(origin)) h['access-control-allow-origin'] = origin;
  if (req.method === 'OPTIONS') {
    if (h['access-control-allow-origin']) {
      h['access-control-allow-methods'] = 'GET, PUT, DELETE';
      const acrh = req.headers['access-control-request-headers'];
      if (typeof acrh === 'string') h['access-control-allow-headers'] = acrh;
    }
    const maxAge = url.searchParams.get('ma') ?? '600';
    if (maxAge !== 'none') h['access-control-max-age'] = maxAge;
    if (url.pathname === '/api/nostore') h['cache-control'] = 'no-store';
    res.writeHead(204, h);
    res.end();
    return;
  }
  res.writeHead(200, { ...h, 'content-type': 'application/json', 'cache-control': 'public, max-age=300', etag: '"j1"' });
  res.end(JSON.stringify({ path: url.pathname }));
};

async function setup(t: TestContext, cachePreflight = true) {
  const origin = await startOrigin(t, corsOrigin);
  // A manual clock: a test moves time on past an Access-Control-Max-Age instead of sleeping.
  const clock = new ManualClock();
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { cachePreflight } }] }, { clock });
  const preflights = (path?: string) => origin.requests.filter((r) => r.method === 'OPTIONS' && (path === undefined || r.url === path)).length;
  return { origin, edge, preflights, clock };
}

function preflight(base: string, path: string, origin: string, method: string, reqHeaders?: string): Promise<Res> {
  return send(`${base}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, ...(reqHeaders === undefined ? {} : { 'access-control-request-headers': reqHeaders }) },
  });
}

test('cachePreflight: one origin preflight per URL + Origin + method + headers; identical ones are answered at the edge', async (t) => {
  const { edge, preflights } = await setup(t);
  const first = await preflight(edge.base, '/api/item', APP, 'PUT', 'x-api-key');
  assert.equal(first.status, 204);
  assert.equal(first.headers['cf-cache-status'], 'MISS');
  const again = await preflight(edge.base, '/api/item', APP, 'PUT', 'x-api-key');
  assert.equal(again.status, 204);
  assert.equal(again.headers['cf-cache-status'], 'HIT');
  assert.equal(again.headers['access-control-allow-origin'], APP);
  assert.equal(again.headers['access-control-allow-methods'], 'GET, PUT, DELETE');
  assert.equal(again.headers['access-control-allow-headers'], 'x-api-key');
  assert.equal(again.headers['access-control-max-age'], '600');
  assert.ok(Number(again.headers.age) >= 0);
  assert.equal(preflights('/api/item'), 1);

  // Each of the three request fields the answer depends on selects its own entry.
  const others: [string, string, string | undefined][] = [
    [APP, 'DELETE', 'x-api-key'],      // another method
    [APP, 'PUT', 'x-api-key, x-trace'], // other headers
    [APP, 'PUT', undefined],           // no headers at all
    [APP2, 'PUT', 'x-api-key'],        // another Origin
  ];
  for (const [o, m, h] of others) {
    const r = await preflight(edge.base, '/api/item', o, m, h);
    assert.equal(r.headers['cf-cache-status'], 'MISS', `${o} ${m} ${h}`);
    assert.equal(r.headers['access-control-allow-origin'], o);
  }
  assert.equal(preflights('/api/item'), 5);
  for (const [o, m, h] of others) assert.equal((await preflight(edge.base, '/api/item', o, m, h)).headers['cf-cache-status'], 'HIT');
  assert.equal(preflights('/api/item'), 5);

  // A refused Origin's answer is the origin's too (cached like any other: the origin said max-age).
  const refused = await preflight(edge.base, '/api/item', 'https://evil.example', 'PUT', 'x-api-key');
  assert.equal(refused.headers['access-control-allow-origin'], undefined);

  // A GET of the same URL never selects a preflight entry (and vice versa).
  const get = await send(`${edge.base}/api/item`, { headers: { origin: APP } });
  assert.equal(get.status, 200);
  assert.equal(get.headers['cf-cache-status'], 'MISS');
  assert.deepEqual(JSON.parse(get.body), { path: '/api/item' });
  assert.equal((await preflight(edge.base, '/api/item', APP, 'PUT', 'x-api-key')).headers['cf-cache-status'], 'HIT');

  // Identical concurrent preflights collapse onto one origin request.
  const burst = await Promise.all([1, 2, 3].map(() => preflight(edge.base, '/api/burst', APP, 'PUT')));
  assert.deepEqual(burst.map((r) => r.headers['access-control-allow-origin']), [APP, APP, APP]);
  assert.equal(preflights('/api/burst'), 1);
});

test('cachePreflight: never stored with no-store or without Access-Control-Max-Age; kept at most max-age', async (t) => {
  const { edge, preflights, clock } = await setup(t);
  for (let i = 0; i < 2; i++) {
    const r = await preflight(edge.base, '/api/nostore', APP, 'PUT');
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.notEqual(r.headers['cf-cache-status'], 'HIT');
  }
  assert.equal(preflights('/api/nostore'), 2);
  for (let i = 0; i < 2; i++) await preflight(edge.base, '/api/x?ma=none', APP, 'PUT');
  assert.equal(preflights('/api/x?ma=none'), 2, 'no max-age: nothing says how long the origin allows');

  assert.equal((await preflight(edge.base, '/api/x?ma=1', APP, 'PUT')).headers['cf-cache-status'], 'MISS');
  assert.equal((await preflight(edge.base, '/api/x?ma=1', APP, 'PUT')).headers['cf-cache-status'], 'HIT');
  clock.advance(1_150);
  const expired = await preflight(edge.base, '/api/x?ma=1', APP, 'PUT');
  assert.notEqual(expired.headers['cf-cache-status'], 'HIT');
  assert.equal(expired.headers['access-control-allow-origin'], APP);
  assert.equal(preflights('/api/x?ma=1'), 2);
});

test('without cachePreflight every preflight reaches the origin', async (t) => {
  const { edge, preflights } = await setup(t, false);
  for (let i = 0; i < 3; i++) assert.equal((await preflight(edge.base, '/api/item', APP, 'PUT')).headers['access-control-allow-origin'], APP);
  assert.equal(preflights('/api/item'), 3);
});

test('a purge by URL (admin API) removes the URL\'s cached preflights with its variants', async (t) => {
  const { origin, edge, preflights } = await setup(t);
  await preflight(edge.base, '/api/item?v=1', APP, 'PUT');
  await preflight(edge.base, '/api/item?v=1', APP2, 'DELETE', 'x-api-key');
  await send(`${edge.base}/api/item?v=1`, { headers: { origin: APP } });
  await preflight(edge.base, '/api/other', APP, 'PUT');
  assert.equal((await preflight(edge.base, '/api/item?v=1', APP, 'PUT')).headers['cf-cache-status'], 'HIT');
  assert.equal(preflights(), 3);

  const p = await purge(edge, 'z', { files: [`${edge.base}/api/item?v=1`] });
  assert.equal(p.status, 200);
  assert.equal(p.json.success, true);

  assert.equal((await preflight(edge.base, '/api/item?v=1', APP, 'PUT')).headers['cf-cache-status'], 'MISS');
  assert.equal((await preflight(edge.base, '/api/item?v=1', APP2, 'DELETE', 'x-api-key')).headers['cf-cache-status'], 'MISS');
  assert.equal((await send(`${edge.base}/api/item?v=1`, { headers: { origin: APP } })).headers['cf-cache-status'], 'MISS');
  assert.equal((await preflight(edge.base, '/api/other', APP, 'PUT')).headers['cf-cache-status'], 'HIT', 'other URLs untouched');
  assert.equal(preflights(), 5);
  assert.equal(origin.count('/api/item?v=1'), 6, 'four preflights and two GETs');
});

test('a purge by URL with an Origin header removes that Origin\'s cached preflights (its CORS changed)', {
}, async (t) => {
  const { edge } = await setup(t);
  await preflight(edge.base, '/api/item', APP, 'PUT');
  await preflight(edge.base, '/api/item', APP2, 'PUT');
  const p = await purge(edge, 'z', { files: [{ url: `${edge.base}/api/item`, headers: { Origin: APP } }] });
  assert.equal(p.json.success, true);
  assert.equal((await preflight(edge.base, '/api/item', APP2, 'PUT')).headers['cf-cache-status'], 'HIT');
  assert.equal((await preflight(edge.base, '/api/item', APP, 'PUT')).headers['cf-cache-status'], 'MISS');
});

test('a 304 to a client conditional carries the variant\'s own ACAO (browsers merge 304 fields into their copy)', {
}, async (t) => {
  const { edge } = await setup(t);
  // Browsers revalidate on a Vary mismatch: app 2 sends the ETag of the copy app 1 got (same bytes, same ETag).
  const first = await send(`${edge.base}/api/item`, { headers: { origin: APP } });
  const etag = String(first.headers.etag ?? '"none"');
  const miss = await send(`${edge.base}/api/item`, { headers: { origin: APP2, 'if-none-match': etag } });
  const hit = await send(`${edge.base}/api/item`, { headers: { origin: APP2, 'if-none-match': etag } });
  for (const r of [miss, hit]) {
    assert.equal(r.status, 304);
    assert.equal(r.headers['access-control-allow-origin'], APP2);
    assert.match(String(r.headers.vary), /origin/i);
  }
});

/** A pino logger whose JSON lines land in `lines` (synchronously). */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) { for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); },
  });
  return { logger: pino<never>({ level: 'warn' }, stream), lines };
}

/** Origin CORS answers, good and bad, by path prefix. */
function diagnosticsOrigin(req: { url?: string; headers: Record<string, string | string[] | undefined> }, res: ServerResponse): void {
  const origin = req.headers.origin;
  const path = req.url ?? '/';
  const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' };
  if (path.startsWith('/cred/')) {
    h['access-control-allow-origin'] = '*';
    h['access-control-allow-credentials'] = 'true';
  } else if (typeof origin === 'string') {
    h['access-control-allow-origin'] = origin; // reflects any Origin
    if (path.startsWith('/ok/')) h.vary = 'Origin';
  }
  res.writeHead(200, h);
  res.end('x');
}

test('diagnostics: reflected ACAO without Vary and ACAO * with credentials are counted each time, warned once per URL pattern', async (t) => {
  const { logger, lines } = captureLogger();
  const origin = await startOrigin(t, diagnosticsOrigin);
  const edge = await startTestEdge(t, {
    zones: [
      { id: 'edge', hosts: ['edge-owned.test'], origin: origin.url, cors: { allowOrigins: '*' } },
      { id: 'z', hosts: ['*'], origin: origin.url },
    ],
  }, { logger });
  const get = (path: string, o?: string, host?: string) =>
    send(`${edge.base}${path}`, { headers: { ...(o ? { origin: o } : {}), ...(host ? { host } : {}) } });
  const reflected = 'kind="reflected-without-vary"';
  const credentials = 'kind="wildcard-with-credentials"';

  // Five origin answers on one pattern (/users/:id/avatar.png), each reflecting the Origin without Vary.
  for (const [p, o] of [['/users/1/avatar.png', APP], ['/users/2/avatar.png', APP2], ['/users/3/avatar.png', APP],
    ['/users/1/avatar.png', APP2], ['/users/42/avatar.png', 'https://x.example']] as const) {
    assert.equal((await get(p, o)).headers['cf-cache-status'], 'MISS');
  }
  assert.equal(await metric(edge, 'edgecache_cors_misconfigurations_total', reflected), 5);
  const warned = () => lines.filter((l) => l.level === 40);
  assert.equal(warned().length, 1, 'one warning for the pattern (rate limited)');
  const w = warned()[0]!;
  assert.equal(w.kind, 'reflected-without-vary');
  assert.equal(w.pattern, `${new URL(edge.base).host}/users/:id/avatar.png`);
  assert.match(String(w.msg), /Vary: Origin/);

  // Hits are not origin answers; a request without Origin is not reflected; Vary: Origin is fine.
  await get('/users/1/avatar.png', APP);
  await get('/users/7/avatar.png');
  await get('/ok/a.js', APP);
  assert.equal(await metric(edge, 'edgecache_cors_misconfigurations_total', reflected), 5);
  assert.equal(warned().length, 1);

  // Another pattern gets its own warning.
  await get('/other/a.js', APP);
  assert.equal(warned().length, 2);
  assert.equal(await metric(edge, 'edgecache_cors_misconfigurations_total', reflected), 6);

  // ACAO * with ACAC true: the other kind (one pattern, /cred/:id.js).
  await get('/cred/1.js', APP);
  await get('/cred/2.js', APP2);
  assert.equal(await metric(edge, 'edgecache_cors_misconfigurations_total', credentials), 2);
  assert.deepEqual(warned().map((l) => l.kind), ['reflected-without-vary', 'reflected-without-vary', 'wildcard-with-credentials']);

  // A zone where the edge owns CORS drops the origin's ACA* fields: nothing of the origin's reaches a cache.
  const owned = await get('/owned/a.js', APP, 'edge-owned.test');
  assert.equal(owned.headers['access-control-allow-origin'], '*');
  assert.equal(await metric(edge, 'edgecache_cors_misconfigurations_total', reflected), 6);
  assert.equal(warned().length, 3);
});

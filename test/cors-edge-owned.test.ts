// End to end: edge-owned CORS (a zone `cors:` block) through a real edge in front of a real origin.
// CORS protocol: https://fetch.spec.whatwg.org/#http-cors-protocol — Vary on 304: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { metric, send, startOrigin, startTestEdge, type Res } from './helpers/http.js';
import { validateConfig } from '../src/config/load.js';
import type { CorsConfigInput } from '../src/cors/schema.js';

const APP = 'https://app.example.com';
const POLICY: CorsConfigInput = {
  allowOrigins: [APP, 'https://*.trusted.example'],
  allowMethods: ['GET', 'HEAD', 'PUT'],
  allowHeaders: ['content-type', 'x-api-key'],
  exposeHeaders: ['etag', 'content-length'],
  maxAge: 600,
};

/** An origin with its own (wrong, poisoning) CORS answer on every response: the edge must replace all of it. */
function corsyOrigin(req: { method?: string; headers: IncomingHttpHeaders }, res: ServerResponse): void {
  const h: Record<string, string> = {
    'access-control-allow-origin': 'https://evil.example',
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'x-secret',
    'access-control-allow-methods': 'DELETE',
    'access-control-max-age': '86400',
    'x-secret': 's3cret',
  };
  if (req.method === 'OPTIONS') {
    res.writeHead(200, { ...h, allow: 'GET, HEAD, OPTIONS, PUT', 'content-length': '0' });
    res.end();
    return;
  }
  if (req.method === 'PUT') {
    res.writeHead(201, { ...h, 'content-type': 'text/plain' });
    res.end('stored');
    return;
  }
  if (req.headers['if-none-match'] === '"v1"') {
    res.writeHead(304, { ...h, etag: '"v1"', 'cache-control': 'public, max-age=300' });
    res.end();
    return;
  }
  res.writeHead(200, { ...h, 'content-type': 'application/javascript', 'cache-control': 'public, max-age=300', etag: '"v1"' });
  res.end('console.log("asset")');
}

async function setup(t: TestContext, cors: CorsConfigInput = POLICY) {
  const origin = await startOrigin(t, corsyOrigin);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cors }] });
  return { origin, edge };
}

const get = (base: string, path: string, headers: Record<string, string> = {}): Promise<Res> => send(`${base}${path}`, { headers });
const preflight = (base: string, path: string, origin: string, method: string, reqHeaders?: string): Promise<Res> =>
  send(`${base}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, ...(reqHeaders ? { 'access-control-request-headers': reqHeaders } : {}) },
  });

/** Vary's field names, lowercased, over every Vary line. */
function varyNames(h: IncomingHttpHeaders): string[] {
  const v = h.vary;
  if (v === undefined) return [];
  return String(v).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function corsHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('access-control-')) out[k] = String(v);
  return out;
}

const ALLOWED_ACTUAL = (origin: string) => ({
  'access-control-allow-origin': origin,
  'access-control-expose-headers': 'etag, content-length',
});

test('simple requests: listed and wildcard-matched Origins get the policy ACAO, others none; origin ACA* never passes', async (t) => {
  const { origin, edge } = await setup(t);
  const cases: [origin: string | undefined, allowed: boolean][] = [
    [APP, true],
    ['https://a.trusted.example', true],
    ['https://a.b.trusted.example', true],           // one or more whole labels
    ['https://trusted.example', false],              // the bare domain is not "*."
    ['https://trusted.example.evil', false],
    ['https://a.trusted.example.evil', false],
    ['https://eviltrusted.example', false],          // a partial label is not a label
    ['http://app.example.com', false],               // scheme must match
    ['https://app.example.com:8443', false],         // port must match
    ['https://evil.example', false],
    ['null', false],
    [undefined, false],
  ];
  for (const [o, allowed] of cases) {
    const r = await get(edge.base, '/app.js', o === undefined ? {} : { origin: o });
    assert.equal(r.status, 200, String(o));
    assert.equal(r.body, 'console.log("asset")');
    assert.deepEqual(corsHeaders(r.headers), allowed ? ALLOWED_ACTUAL(o!) : {}, `CORS fields for ${String(o)}`);
    // The ACAO depends on Origin: every answer says so, also the ones to requests without Origin (browser caches).
    assert.ok(varyNames(r.headers).includes('origin'), `Vary: Origin for ${String(o)}`);
    assert.equal(r.headers['x-secret'], 's3cret', 'other origin fields pass');
  }
  // One stored variant served every Origin.
  assert.equal(origin.count('/app.js'), 1);
});

test('preflights are answered at the edge with the origin down: allowed gets the policy, refused gets no ACA* at all', async (t) => {
  const { origin, edge } = await setup(t);
  await origin.close();
  const down = await get(edge.base, '/never-fetched.js', { origin: APP });
  assert.ok(down.status >= 500, `the origin is really down (got ${down.status})`);

  const ok = await preflight(edge.base, '/api/item', APP, 'PUT', 'X-Api-Key, content-type');
  assert.equal(ok.status, 204);
  assert.deepEqual(corsHeaders(ok.headers), {
    'access-control-allow-origin': APP,
    'access-control-allow-methods': 'GET, HEAD, PUT',
    'access-control-allow-headers': 'content-type, x-api-key',
    'access-control-max-age': '600',
  });
  assert.deepEqual(varyNames(ok.headers), ['origin', 'access-control-request-method', 'access-control-request-headers']);

  const wild = await preflight(edge.base, '/api/item', 'https://x.trusted.example', 'PUT');
  assert.equal(wild.headers['access-control-allow-origin'], 'https://x.trusted.example');
  // A safelisted method needs no listing (https://fetch.spec.whatwg.org/#cors-safelisted-method).
  assert.equal((await preflight(edge.base, '/api/item', APP, 'POST', 'content-type')).headers['access-control-allow-origin'], APP);

  const refused: [string, string, string | undefined][] = [
    ['https://evil.example', 'PUT', undefined],          // unlisted Origin
    ['https://trusted.example.evil', 'GET', 'x-api-key'],
    [APP, 'DELETE', undefined],                          // unlisted method
    [APP, 'PUT', 'x-api-key, authorization'],            // one unlisted header refuses all
  ];
  for (const [o, m, h] of refused) {
    const r = await preflight(edge.base, '/api/item', o, m, h);
    assert.equal(r.status, 204, `${o} ${m} ${h}`);
    assert.deepEqual(Object.keys(corsHeaders(r.headers)).filter((k) => k.startsWith('access-control-allow-')), [], `${o} ${m} ${h}`);
  }
  assert.equal(origin.requests.length, 0, 'no request reached the origin');
});

test('credentialed policy echoes the Origin with ACAC true; "*" with credentials is a config error', async (t) => {
  const { origin, edge } = await setup(t, { allowOrigins: [APP, 'https://*.trusted.example'], allowCredentials: true, allowMethods: ['GET', 'PUT'] });
  const r = await get(edge.base, '/app.js', { origin: 'https://a.trusted.example', cookie: 'sid=1' });
  assert.deepEqual(corsHeaders(r.headers), {
    'access-control-allow-origin': 'https://a.trusted.example',
    'access-control-allow-credentials': 'true',
  });
  const p = await preflight(edge.base, '/app.js', APP, 'PUT');
  assert.equal(p.headers['access-control-allow-origin'], APP);
  assert.equal(p.headers['access-control-allow-credentials'], 'true');
  const denied = await get(edge.base, '/app.js', { origin: 'https://evil.example' });
  assert.deepEqual(corsHeaders(denied.headers), {}, 'no ACAC for a refused Origin either (the origin sent one)');
  assert.equal(origin.requests.filter((x) => x.method === 'OPTIONS').length, 0);

  assert.throws(
    () => validateConfig({ zones: [{ id: 'z', origin: origin.url, cors: { allowOrigins: '*', allowCredentials: true } }] }, 'test'),
    (e: Error & { code?: string }) => e.code === 'ECONFIG' && /credentials/.test(e.message),
  );
});

test('allowOrigins "*": ACAO * for every request, no Vary: Origin, preflights allowed for any Origin', async (t) => {
  const { origin, edge } = await setup(t, { allowOrigins: '*', allowMethods: ['GET', 'DELETE'] });
  for (const o of ['https://a.example', 'https://b.example', undefined]) {
    const r = await get(edge.base, '/app.js', o === undefined ? {} : { origin: o });
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
    assert.ok(!varyNames(r.headers).includes('origin'), 'ACAO * does not depend on Origin');
  }
  const p = await preflight(edge.base, '/app.js', 'https://anyone.example', 'DELETE');
  assert.equal(p.headers['access-control-allow-origin'], '*');
  assert.equal(p.headers['access-control-allow-methods'], 'GET, DELETE');
  assert.equal(origin.count('/app.js'), 1);
});

test('one stored variant for many Origins: 5 Origins cost one origin fetch (edgecache_variants 1 per URL)', async (t) => {
  const { origin, edge } = await setup(t);
  const origins = [APP, 'https://a.trusted.example', 'https://b.trusted.example', 'https://evil.example', 'https://c.d.trusted.example'];
  const seen: string[] = [];
  for (const o of origins) {
    const r = await get(edge.base, '/lib.js', { origin: o });
    seen.push(String(r.headers['cf-cache-status']));
    assert.equal(r.headers['access-control-allow-origin'], o === 'https://evil.example' ? undefined : o, 'each its own ACAO, never another\'s');
  }
  assert.deepEqual(seen, ['MISS', 'HIT', 'HIT', 'HIT', 'HIT']);
  assert.equal(origin.count('/lib.js'), 1);
  assert.equal(await metric(edge, 'edgecache_variants'), 1);
  // Concurrent first requests from several Origins collapse onto one fetch too.
  const burst = await Promise.all(origins.map((o) => get(edge.base, '/burst.js', { origin: o })));
  for (const [i, r] of burst.entries()) {
    assert.equal(r.body, 'console.log("asset")');
    assert.equal(r.headers['access-control-allow-origin'], origins[i] === 'https://evil.example' ? undefined : origins[i]);
  }
  assert.equal(origin.count('/lib.js'), 1);
  assert.equal(origin.count('/burst.js'), 1);
  assert.equal(await metric(edge, 'edgecache_variants'), 2);
  assert.equal(edge.store.stats().variants, 2);
});

test('304 answers to client conditionals carry the policy ACAO and Vary: Origin (hit, miss and revalidated)', async (t) => {
  const { edge } = await setup(t);
  const inm = { origin: APP, 'if-none-match': '"v1"' };
  // Miss: the edge fetches the whole response, then answers the conditional itself.
  const miss = await get(edge.base, '/c.js', inm);
  // Hit: answered from the stored response.
  const hit = await get(edge.base, '/c.js', { ...inm, origin: 'https://z.trusted.example' });
  for (const [r, o] of [[miss, APP], [hit, 'https://z.trusted.example']] as const) {
    assert.equal(r.status, 304);
    assert.equal(r.headers['access-control-allow-origin'], o);
    assert.ok(varyNames(r.headers).includes('origin'), 'RFC 9110 §15.4.5: a 304 carries the Vary the 200 would');
    assert.equal(r.headers['access-control-allow-credentials'], undefined, 'the origin\'s ACAC never passes');
  }
  const refused = await get(edge.base, '/c.js', { ...inm, origin: 'https://evil.example' });
  assert.equal(refused.status, 304);
  assert.equal(refused.headers['access-control-allow-origin'], undefined);
  assert.ok(varyNames(refused.headers).includes('origin'));

  // Revalidated: the stored response is refreshed by the origin's 304 (which carries ACA* fields of its own).
  const host = new URL(edge.base).host;
  assert.equal(edge.store.purge({ kind: 'object', zoneId: 'z', host, path: '/c.js', query: '' }, true), 1); // soft: it revalidates
  const reval = await get(edge.base, '/c.js', { origin: APP });
  assert.equal(reval.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(reval.status, 200);
  assert.deepEqual(corsHeaders(reval.headers), ALLOWED_ACTUAL(APP), 'ACA* merged in from the origin 304 are dropped');
  const after = await get(edge.base, '/c.js', { origin: 'https://q.trusted.example' });
  assert.equal(after.headers['cf-cache-status'], 'HIT');
  assert.deepEqual(corsHeaders(after.headers), ALLOWED_ACTUAL('https://q.trusted.example'));
});

test('plain OPTIONS (no preflight fields) and other methods go to the origin; their ACA* fields are replaced', async (t) => {
  const { origin, edge } = await setup(t);
  const plain = await send(`${edge.base}/app.js`, { method: 'OPTIONS' });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.allow, 'GET, HEAD, OPTIONS, PUT');
  assert.deepEqual(corsHeaders(plain.headers), {});
  // An Origin without Access-Control-Request-Method is not a preflight either (https://fetch.spec.whatwg.org/#cors-preflight-request).
  const withOrigin = await send(`${edge.base}/app.js`, { method: 'OPTIONS', headers: { origin: APP } });
  assert.equal(withOrigin.headers.allow, 'GET, HEAD, OPTIONS, PUT');
  assert.deepEqual(corsHeaders(withOrigin.headers), ALLOWED_ACTUAL(APP));
  assert.equal(origin.requests.filter((r) => r.method === 'OPTIONS').length, 2);

  const put = await send(`${edge.base}/api/item`, { method: 'PUT', headers: { origin: APP, 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(put.status, 201);
  assert.deepEqual(corsHeaders(put.headers), ALLOWED_ACTUAL(APP));
  assert.ok(varyNames(put.headers).includes('origin'));
  assert.equal(origin.count('/api/item'), 1);
});

test('204 answers carry no Content-Length (https://www.rfc-editor.org/rfc/rfc9110#section-8.6)', {
}, async (t) => {
  const { edge } = await setup(t);
  const answered = await preflight(edge.base, '/x', APP, 'GET');
  assert.equal(answered.status, 204);
  assert.equal(answered.headers['content-length'], undefined);
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(204, { 'access-control-allow-origin': APP, 'access-control-max-age': '600' }); res.end(); });
  const cached = await startTestEdge(t, { zones: [{ id: 'c', hosts: ['*'], origin: origin.url, cacheKey: { cachePreflight: true } }] });
  await preflight(cached.base, '/x', APP, 'GET');
  const hit = await preflight(cached.base, '/x', APP, 'GET');
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.headers['content-length'], undefined);
});

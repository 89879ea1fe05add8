// Admin API under hostile input: missing, wrong and query-string tokens are refused; no token shows up
// in any answer or log line; the admin API lives only on the admin listener (the public one proxies those paths).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import type { Logger } from '../src/observability/logger.js';
import { ADMIN_TOKEN, startOrigin, startTestEdge, send, type Res } from './helpers/http.js';

/** A trace-level pino logger whose raw JSON lines land in `lines`. */
function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); cb(); } });
  return { logger: pino<never>({ level: 'trace' }, stream) as unknown as Logger, lines };
}

const WRONG = 'wrong-token-but-long-enough-0123';
const NEAR = `${ADMIN_TOKEN}x`;

test('missing, wrong and query-string tokens get 401/403; no token appears in any answer or log line', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('origin'); });
  const { logger, lines } = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url, logLevel: 'trace' }, { logger });
  const answers: Res[] = [];
  const call = async (path: string, auth: string | undefined, body = '{"purge_everything":true}'): Promise<Res> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (auth !== undefined) headers.authorization = auth;
    const r = await send(`${edge.adminBase}${path}`, { method: 'POST', headers, body });
    answers.push(r);
    return r;
  };
  const purge = '/client/v4/zones/default/purge_cache';
  const inspect = '/edgecache/v1/zones/default/inspect';
  const inspectBody = '{"url":"http://a.example/x"}';

  for (const [path, body] of [[purge, undefined], [inspect, inspectBody]] as const) {
    assert.equal((await call(path, undefined, body)).status, 401, `${path}: no token`);
    assert.equal((await call(path, `Bearer ${WRONG}`, body)).status, 401, `${path}: wrong token`);
    assert.equal((await call(path, `Bearer ${NEAR}`, body)).status, 401, `${path}: a longer near-miss`);
    assert.equal((await call(path, ADMIN_TOKEN, body)).status, 401, `${path}: no scheme`);
    assert.equal((await call(path, `Basic ${Buffer.from(`u:${ADMIN_TOKEN}`).toString('base64')}`, body)).status, 401, `${path}: Basic`);
    for (const q of [`token=${ADMIN_TOKEN}`, `access_token=${ADMIN_TOKEN}`, `api_key=${ADMIN_TOKEN}`]) {
      const r = await call(`${path}?${q}`, `Bearer ${ADMIN_TOKEN}`, body);
      assert.equal(r.status, 401, `${path}?${q.split('=')[0]}: never accepted in the query string, even with a valid header`);
    }
    assert.equal((await call(path, `Bearer ${ADMIN_TOKEN}`, body)).status, 200, `${path}: the right token works`);
  }
  assert.equal((await call('/client/v4/zones/nope/purge_cache', `Bearer ${WRONG}`)).status, 401);

  for (const r of answers) {
    const all = `${JSON.stringify(r.headers)}\n${r.body}`;
    for (const secret of [ADMIN_TOKEN, WRONG, NEAR]) assert.ok(!all.includes(secret), `an answer contains a token: ${r.body}`);
  }
  assert.ok(lines.length > 0, 'the logger captured lines');
  for (const line of lines) {
    for (const secret of [ADMIN_TOKEN, WRONG, NEAR]) assert.ok(!line.includes(secret), `a log line contains a token: ${line}`);
  }
});

test('the admin API exists only on the admin listener: the public one proxies those paths to the origin', async (t) => {
  const origin = await startOrigin(t, (req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end(`origin saw ${req.method} ${req.url}`); });
  const edge = await startTestEdge(t, { origin: origin.url });
  await send(`${edge.base}/cached`);
  const body = '{"purge_everything":true}';
  const r = await send(`${edge.base}/client/v4/zones/default/purge_cache`, {
    method: 'POST', body, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': String(body.length) },
  });
  assert.equal(r.body, 'origin saw POST /client/v4/zones/default/purge_cache');
  for (const path of ['/healthz', '/metrics']) {
    assert.equal((await send(`${edge.base}${path}`)).body, `origin saw GET ${path}`);
  }
  assert.equal((await send(`${edge.adminBase}/healthz`)).status, 200);
});

/** Parses a Cloudflare-shaped error envelope, failing the test when the answer is not one. */
function envelope(r: Res): { success: boolean; errors: { code: number; message: string }[]; messages: unknown[]; result: unknown } {
  assert.match(String(r.headers['content-type']), /^application\/json/, `${r.status} ${r.body.slice(0, 200)}`);
  const e = JSON.parse(r.body) as ReturnType<typeof envelope>;
  assert.equal(typeof e.success, 'boolean');
  assert.ok(Array.isArray(e.errors) && Array.isArray(e.messages), r.body.slice(0, 200));
  for (const x of e.errors) assert.ok(Number.isInteger(x.code) && typeof x.message === 'string', r.body.slice(0, 200));
  return e;
}

/** Error and fatal lines (pino levels 50, 60) among captured JSON log lines. */
const errorLines = (lines: string[]): string[] => lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);

test('a zone id that is not valid percent-encoding is 400 (code 1020) on purge and inspect, with or without a token, and logs no error', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200); res.end(); });
  const { logger, lines } = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url }, { logger });
  for (const zone of ['%', '%E0%A4%A', '%zz', 'ok%', '%C0%AF', '%ED%A0%80']) {
    for (const path of [`/client/v4/zones/${zone}/purge_cache`, `/edgecache/v1/zones/${zone}/inspect`]) {
      for (const auth of [`Bearer ${ADMIN_TOKEN}`, undefined]) {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) };
        const r = await send(`${edge.adminBase}${path}`, { method: 'POST', headers, body: '{"purge_everything":true}' });
        assert.equal(r.status, 400, `${path} ${auth ? 'with' : 'without'} a token: ${r.body}`);
        const e = envelope(r);
        assert.equal(e.errors[0]!.code, 1020);
        assert.match(e.errors[0]!.message, /not valid percent-encoding/);
      }
    }
  }
  assert.deepEqual(errorLines(lines), [], 'no error logged');
});

test('deeply nested JSON is 400 (6007) on purge and inspect, not a stack overflow; no error is logged', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200); res.end(); });
  const { logger, lines } = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url }, { logger });
  const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  const post = (path: string, body: string): Promise<Res> => send(`${edge.adminBase}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body,
  });
  const purgePath = '/client/v4/zones/default/purge_cache';
  const inspectPath = '/edgecache/v1/zones/default/inspect';
  for (const [path, body] of [
    [purgePath, `{"files":${deep(300_000)}}`], [purgePath, `{"files":[${deep(10_000)}]}`], [purgePath, `{"soft":${deep(10_000)},"tags":["a"]}`],
    [purgePath, `{"purge_everything":${deep(10_000)}}`], [purgePath, deep(300_000)],
    [inspectPath, `{"url":"https://a.example/","headers":{"x":${deep(10_000)}}}`], [inspectPath, `{"url":${deep(10_000)}}`],
  ] as const) {
    const r = await post(path, body);
    assert.equal(r.status, 400, `${path}: ${r.body.slice(0, 200)}`);
    const e = envelope(r);
    assert.equal(e.errors[0]!.code, 6007);
    assert.match(e.errors[0]!.message, /nested deeper than 32 levels/);
  }
  assert.equal((await post(purgePath, '{"tags":["still-works"]}')).status, 200);
  assert.deepEqual(errorLines(lines), [], 'no error logged');
});

test('DNS rebinding: every admin route refuses a Host that is not an IP literal, localhost or in admin.hosts (421, JSON envelope)', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=300' }); res.end('cached'); });
  const edge = await startTestEdge(t, { origin: origin.url });
  assert.equal((await send(`${edge.base}/page`)).headers['cf-cache-status'], 'MISS');
  const port = edge.admin.port;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const routes: [string, string, Record<string, string>, string?][] = [
    ['GET', '/healthz', {}], ['GET', '/metrics', {}], ['GET', '/dashboard/', {}], ['GET', '/dashboard/app.js', {}], ['GET', '/dashboard', {}],
    ['GET', '/edgecache/v1/dashboard/session', auth], ['GET', '/edgecache/v1/dashboard/history', auth],
    ['POST', '/client/v4/zones/default/purge_cache', { ...auth, 'content-type': 'application/json' }, '{"purge_everything":true}'],
    ['POST', '/edgecache/v1/zones/default/inspect', { ...auth, 'content-type': 'application/json' }, '{"url":"http://x.example/page"}'],
    ['GET', '/no-such-route', {}],
  ];
  for (const host of ['attacker.example', `attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`, `localhost.attacker.example:${port}`]) {
    for (const [method, path, headers, body] of routes) {
      const r = await send(`${edge.adminBase}${path}`, { method, headers: { ...headers, host }, body });
      assert.equal(r.status, 421, `${host} ${method} ${path}`);
      assert.equal(envelope(r).errors[0]!.code, 1021);
      assert.equal(r.headers['edgecache-api'], undefined, 'the refusal does not identify the admin API');
      assert.doesNotMatch(r.body, /edgecache-admin|"zones"|<html/i);
    }
  }
  assert.equal((await send(`${edge.base}/page`)).headers['cf-cache-status'], 'HIT', 'the refused purge purged nothing');
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '10.0.0.7']) {
    const r = await send(`${edge.adminBase}/healthz`, { headers: { host } });
    assert.equal(r.status, 200, host);
    assert.equal(r.headers['edgecache-api'], 'admin');
    assert.equal((await send(`${edge.adminBase}/dashboard/`, { headers: { host } })).status, 200, host);
  }
});

test('admin.hosts adds names (and *.suffix) the admin API answers to; others still get 421', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200); res.end(); });
  const edge = await startTestEdge(t, {
    origin: origin.url,
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }], hosts: ['admin.example.internal', '*.edge.internal'] },
  });
  for (const host of ['admin.example.internal:8788', 'Admin.Example.Internal', 'node-3.edge.internal:8788', '127.0.0.1']) {
    assert.equal((await send(`${edge.adminBase}/metrics`, { headers: { host } })).status, 200, host);
  }
  for (const host of ['edge.internal', 'example.internal', 'admin.example.internal.attacker.example']) {
    assert.equal((await send(`${edge.adminBase}/metrics`, { headers: { host } })).status, 421, host);
  }
});

test('property: random methods, paths, Hosts, tokens and bodies against a real admin listener never get a 5xx, and every refusal is a JSON envelope', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('x'); });
  const { logger, lines } = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url }, { logger });
  const pct = fc.oneof(
    fc.constantFrom('%', '%2', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%00', '%2F', '%25', '%FF', '%F0%9F%98%80'),
    fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}$/),
  );
  const segment = fc.array(pct, { minLength: 0, maxLength: 4 }).map((a) => a.join(''));
  const path = fc.oneof(
    segment.map((s) => `/client/v4/zones/${s}/purge_cache`),
    segment.map((s) => `/edgecache/v1/zones/${s}/inspect`),
    fc.constantFrom('/client/v4/zones/default/purge_cache', '/edgecache/v1/zones/default/inspect', '/client/v4/zones/default/purge_cache/'),
    segment.map((s) => `/edgecache/v1/dashboard/${s}`),
    segment.map((s) => `/dashboard/${s}`),
    fc.tuple(fc.constantFrom('/healthz', '/metrics', '/edgecache/v1/dashboard/history', '/'), segment).map(([p, q]) => `${p}?${q}`),
    segment.map((s) => `/${s}`),
  );
  const deep = fc.integer({ min: 30, max: 5000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.record({ files: fc.jsonValue({ maxDepth: 4 }) }).map((v) => JSON.stringify(v)),
    fc.record({ url: fc.oneof(fc.webUrl(), fc.string()), headers: fc.jsonValue({ maxDepth: 3 }) }).map((v) => JSON.stringify(v)),
    fc.record({ tags: fc.array(fc.string()), soft: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)),
    deep.map((d) => `{"files":${d}}`), deep,
    fc.string(),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  const host = fc.oneof({ weight: 4, arbitrary: fc.constant(`127.0.0.1:${edge.admin.port}`) }, { weight: 1, arbitrary: fc.domain() });
  const auth = fc.constantFrom(`Bearer ${ADMIN_TOKEN}`, `Bearer ${WRONG}`, undefined);
  const method = fc.constantFrom('GET', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS');
  await fc.assert(fc.asyncProperty(method, path, host, auth, body, async (m, p, h, a, b) => {
    const headers: Record<string, string> = { host: h, 'content-type': 'application/json', ...(a ? { authorization: a } : {}) };
    const hasBody = m !== 'GET' && m !== 'HEAD';
    const r = await send(`${edge.adminBase}${p}`, { method: m, headers, body: hasBody ? Buffer.from(b, 'utf8') : undefined });
    assert.ok(r.status < 500, `${m} ${p} (Host ${h}) → ${r.status} ${r.body.slice(0, 300)}`);
    const plain = r.status < 300 && (p.startsWith('/healthz') || p.startsWith('/metrics') || p.startsWith('/dashboard/'));
    const redirect = r.status === 308 && p === '/dashboard';
    if (m === 'HEAD') {
      if (r.status >= 300) assert.match(String(r.headers['content-type']), /^application\/json/, `${m} ${p} → ${r.status}`);
    } else if (!plain && !redirect) {
      const e = envelope(r);
      assert.equal(e.success, r.status < 300, `${m} ${p}: ${r.body.slice(0, 200)}`);
    }
  }), { numRuns: 200 });
  assert.deepEqual(errorLines(lines), [], 'no request logged an error');
});

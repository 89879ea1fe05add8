// Admin API under hostile input: missing, wrong and query-string tokens are refused; no token shows up
// in any answer or log line; the admin API lives only on the admin listener (the public one proxies those paths).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
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

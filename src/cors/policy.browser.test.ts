// Real-browser check of the compiled CORS policy: Chromium (via playwright-core) fetches cross-origin from pages on
// several Origins against a loopback server that answers with compileCors; the browser's own CORS checks decide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { compileCors, isPreflight, type CompiledCors } from './policy.js';
import { corsConfigSchema } from './schema.js';
import { hasCommand, requireService } from '../../test/helpers/service.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface FetchResult { ok: boolean; status?: number; body?: string; edgeId?: string | null; error?: string }

test('Chromium accepts exactly what the compiled policy allows', { timeout: 60_000 }, async (t) => {
  // A missing Chromium skips loudly here and fails in CI (the project rule for external services).
  if (!requireService(t, 'chromium', hasCommand(CHROMIUM), 'apt-get install chromium (or set CHROMIUM_PATH)')) return;
  // The page server: an empty page on every *.test host (the host resolver maps *.test to 127.0.0.1).
  const pages = createServer((_req, res) => res.end('<!doctype html><title>page</title>'));
  const pagePort = await listen(pages);
  t.after(() => pages.close());

  const policies = new Map<string, CompiledCors>([
    ['list', compileCors(corsConfigSchema.parse({
      allowOrigins: [`http://allowed.test:${pagePort}`, `http://*.trusted.test:${pagePort}`],
      allowMethods: ['GET', 'PUT'], allowHeaders: ['x-api-key', 'content-type'], exposeHeaders: ['x-edge-id'],
    }))],
    ['cred', compileCors(corsConfigSchema.parse({ allowOrigins: [`http://allowed.test:${pagePort}`], allowCredentials: true }))],
    ['star', compileCors(corsConfigSchema.parse({ allowOrigins: '*', allowMethods: ['DELETE'] }))],
  ]);
  const actualSeen: string[] = []; // non-preflight requests that reached the edge
  const edge = createServer((req, res) => {
    const url = req.url ?? '/';
    const policy = policies.get(url.split('/')[1] ?? '');
    if (!policy) { res.statusCode = 404; res.end(); return; }
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (isPreflight(req.method ?? '', req.headers)) {
      const acrh = req.headers['access-control-request-headers'];
      const answer = policy.preflight(origin!, String(req.headers['access-control-request-method']), typeof acrh === 'string' ? acrh : undefined);
      res.writeHead(answer.status, answer.headers.flat());
      res.end();
      return;
    }
    actualSeen.push(`${req.method} ${url}`);
    const headers: string[] = ['x-edge-id', 'e1', ...policy.actualHeaders(origin).flat()];
    if (policy.varyOrigin) headers.push('vary', 'Origin');
    res.writeHead(200, headers);
    res.end('ok');
  });
  const edgePort = await listen(edge);
  t.after(() => edge.close());

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--host-resolver-rules=MAP *.test 127.0.0.1', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  t.after(() => browser.close());

  let n = 0;
  const run = async (page: Page, path: string, init: RequestInit = {}): Promise<FetchResult> => {
    const url = `http://127.0.0.1:${edgePort}/${path}?n=${n++}`; // a fresh URL per call: no preflight-cache carry-over
    return page.evaluate(async ({ url, init }) => {
      try {
        const r = await fetch(url, init);
        return { ok: true, status: r.status, body: await r.text(), edgeId: r.headers.get('x-edge-id') };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    }, { url, init });
  };
  const pageAt = async (host: string): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`http://${host}:${pagePort}/`);
    return page;
  };

  const allowed = await pageAt('allowed.test');
  const deep = await pageAt('a.b.trusted.test');
  const bare = await pageAt('trusted.test');
  const evil = await pageAt('evil.test');

  // simple GET: listed origin, wildcard-matched origin, bare wildcard domain, unlisted origin
  const g = await run(allowed, 'list/a');
  assert.deepEqual(g, { ok: true, status: 200, body: 'ok', edgeId: 'e1' }, 'listed origin reads body and exposed header');
  assert.equal((await run(deep, 'list/a')).ok, true, '*.trusted.test matches two labels');
  assert.equal((await run(bare, 'list/a')).ok, false, '*.trusted.test never matches trusted.test');
  assert.equal((await run(evil, 'list/a')).ok, false, 'unlisted origin refused');

  // preflighted requests
  assert.equal((await run(allowed, 'list/put', { method: 'PUT', headers: { 'x-api-key': 'k' } })).ok, true);
  assert.equal((await run(allowed, 'list/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).ok, true,
    'POST is safelisted even though allowMethods omits it');
  const before = actualSeen.length;
  assert.equal((await run(allowed, 'list/del', { method: 'DELETE' })).ok, false, 'unlisted method refused');
  assert.equal((await run(allowed, 'list/hdr', { headers: { 'x-secret': 's' } })).ok, false, 'unlisted header refused');
  assert.equal((await run(evil, 'list/put', { method: 'PUT' })).ok, false, 'unlisted origin refused at preflight');
  assert.equal(actualSeen.length, before, 'refused preflights keep the actual request from being sent');

  // credentials
  assert.equal((await run(allowed, 'cred/a', { credentials: 'include' })).ok, true, 'ACAO origin + ACAC true');
  assert.equal((await run(allowed, 'star/a', { credentials: 'include' })).ok, false, 'browsers refuse credentials with ACAO *');
  assert.equal((await run(evil, 'star/a')).ok, true, 'ACAO * serves any origin without credentials');
  assert.equal((await run(evil, 'star/d', { method: 'DELETE' })).ok, true);
  assert.equal((await run(evil, 'star/auth', { headers: { authorization: 'Bearer x' } })).ok, false, 'Authorization must be listed');
});

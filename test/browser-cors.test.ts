// Real browser, end to end: Chromium pages on two allowed Origins load one asset through the edge (simple and
// preflighted fetches); a third Origin is refused by the browser — once with edge-owned CORS, once with origin-owned CORS.
// The browser's checks: https://fetch.spec.whatwg.org/#cors-check and https://fetch.spec.whatwg.org/#cors-preflight-fetch
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startOrigin, startTestEdge, type OriginHandler } from './helpers/http.js';
import { hasCommand, requireService } from './helpers/service.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const ASSET = 'console.log("shared asset");';

interface FetchOutcome { ok: boolean; status?: number; body?: string; etag?: string | null; error?: string }
type Outcomes = Record<'simple' | 'preflighted' | 'put', FetchOutcome>;

/**
 * The page's script: three cross-origin fetches through the edge; results land in window.__results. `cache` is the
 * fetch cache mode: 'default' uses the browser's HTTP cache (shared by same-site pages: 127.0.0.1 on any port).
 */
function appPage(edgeBase: string, cache: RequestCache): string {
  const script = `
    (async () => {
      const edge = ${JSON.stringify(edgeBase)};
      const run = async (url, init) => {
        try {
          const r = await fetch(edge + url, { ...init, cache: ${JSON.stringify(cache)} });
          return { ok: true, status: r.status, body: await r.text(), etag: r.headers.get('etag') };
        } catch (e) {
          return { ok: false, error: String(e) };
        }
      };
      const out = {};
      out.simple = await run('/asset.js', {});
      out.preflighted = await run('/asset.js', { headers: { 'x-app': 'yes' } }); // non-safelisted header: preflight
      out.put = await run('/api/upload', { method: 'PUT', body: 'hello', headers: { 'content-type': 'text/plain' } });
      window.__results = out;
    })();`;
  return `<!doctype html><meta charset="utf-8"><title>app</title><script>${script}</script>`;
}

async function visit(browser: BrowserContext, appOrigin: string): Promise<Outcomes> {
  const page = await browser.newPage();
  try {
    await page.goto(`${appOrigin}/`);
    await page.waitForFunction(() => (window as unknown as { __results?: unknown }).__results !== undefined, undefined, { timeout: 15_000 });
    return await page.evaluate(() => (window as unknown as { __results: Outcomes }).__results);
  } finally {
    await page.close();
  }
}

function assertAllowed(o: Outcomes, who: string): void {
  assert.deepEqual(o.simple, { ok: true, status: 200, body: ASSET, etag: '"a1"' }, `${who}: simple GET (etag exposed)`);
  assert.deepEqual(o.preflighted, { ok: true, status: 200, body: ASSET, etag: '"a1"' }, `${who}: preflighted GET`);
  assert.equal(o.put.ok, true, `${who}: PUT ${o.put.error ?? ''}`);
  assert.equal(o.put.body, 'put-ok');
}

function assertRefused(o: Outcomes): void {
  for (const k of ['simple', 'preflighted', 'put'] as const) {
    assert.equal(o[k].ok, false, `third Origin, ${k}: the browser must refuse`);
    assert.match(String(o[k].error), /TypeError|Failed to fetch/);
  }
}

test('two web apps on two Origins share one asset through the edge; a third is refused (Chromium)', { timeout: 90_000 }, async (t) => {
  if (!requireService(t, 'chromium', hasCommand(CHROMIUM), 'apt-get install chromium (or set CHROMIUM_PATH)')) return;
  // A fresh profile (user-data-dir), removed once the browser is closed.
  const profile = mkdtempSync(join(tmpdir(), 'edgecache-chromium-'));
  let launched: BrowserContext | undefined;
  t.after(async () => {
    await launched?.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const browser = launched = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });

  await t.test('edge-owned CORS (zone cors block): the origin\'s own ACA* fields are replaced; preflights never reach it', async (st) => {
    // This origin's CORS answer would break every app (a fixed foreign ACAO): the edge must replace it.
    const origin = await startOrigin(st, (req, res) => {
      const bad = { 'access-control-allow-origin': 'https://evil.example', vary: 'Accept-Encoding' };
      if (req.method === 'PUT') { res.writeHead(200, { ...bad, 'content-type': 'text/plain' }); res.end('put-ok'); return; }
      if (req.method === 'OPTIONS') { res.writeHead(500); res.end(); return; }
      res.writeHead(200, { ...bad, 'content-type': 'text/javascript', 'cache-control': 'public, max-age=300', etag: '"a1"' });
      res.end(ASSET);
    });
    const apps = await Promise.all([0, 1, 2].map(() => reserveApp(st)));
    const edge = await startTestEdge(st, {
      zones: [{
        id: 'z', hosts: ['*'], origin: origin.url,
        cors: { allowOrigins: [apps[0]!.origin, apps[1]!.origin], allowMethods: ['GET', 'HEAD', 'PUT'], allowHeaders: ['x-app'], exposeHeaders: ['etag'], maxAge: 600 },
      }],
    });
    for (const a of apps) a.serve(edge.base, 'default');

    assertAllowed(await visit(browser, apps[0]!.origin), 'app 1');
    // App 2's page shares app 1's browser cache (same site): on the Vary: Origin mismatch Chromium revalidates app 1's
    // copy (If-None-Match), and the edge's 304 must carry app 2's ACAO, which Chromium merges into that copy.
    assertAllowed(await visit(browser, apps[1]!.origin), 'app 2');
    assertRefused(await visit(browser, apps[2]!.origin));

    assert.equal(origin.requests.filter((r) => r.method === 'OPTIONS').length, 0, 'the edge answered every preflight');
    assert.equal(origin.count('/asset.js'), 1, 'one stored variant served both apps (and the refused third)');
    assert.equal(origin.count('/api/upload'), 2, 'the refused app\'s PUT never left the browser');
  });

  /** An origin that owns CORS: reflects an allow-list with Vary: Origin, answers preflights itself. */
  const ownCors = (allowed: ReadonlySet<string>): OriginHandler => (req, res) => {
    const o = req.headers.origin;
    const cors: Record<string, string> = { vary: 'Origin' };
    if (typeof o === 'string' && allowed.has(o)) {
      cors['access-control-allow-origin'] = o;
      cors['access-control-expose-headers'] = 'etag';
    }
    if (req.method === 'OPTIONS') {
      if (cors['access-control-allow-origin']) {
        Object.assign(cors, { 'access-control-allow-methods': 'GET, PUT', 'access-control-allow-headers': 'x-app, content-type', 'access-control-max-age': '600' });
      }
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (req.method === 'PUT') { res.writeHead(200, { ...cors, 'content-type': 'text/plain' }); res.end('put-ok'); return; }
    res.writeHead(200, { ...cors, 'content-type': 'text/javascript', 'cache-control': 'public, max-age=300', etag: '"a1"' });
    res.end(ASSET);
  };

  await t.test('origin-owned CORS (origin reflects an allow-list with Vary: Origin; edge caches preflights), no browser cache', async (st) => {
    const apps = await Promise.all([0, 1, 2].map(() => reserveApp(st)));
    const origin = await startOrigin(st, ownCors(new Set([apps[0]!.origin, apps[1]!.origin])));
    const edge = await startTestEdge(st, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { cachePreflight: true } }] });
    for (const a of apps) a.serve(edge.base, 'no-store');

    assertAllowed(await visit(browser, apps[0]!.origin), 'app 1');
    assertAllowed(await visit(browser, apps[1]!.origin), 'app 2');
    assertRefused(await visit(browser, apps[2]!.origin));

    const gets = origin.requests.filter((r) => r.url === '/asset.js' && r.method === 'GET');
    assert.deepEqual(new Set(gets.map((r) => r.headers.origin)), new Set(apps.map((a) => a.origin)), 'one variant per Origin');
    const puts = origin.requests.filter((r) => r.url === '/api/upload' && r.method === 'PUT');
    assert.equal(puts.length, 2, 'the refused app\'s PUT never left the browser');
    const preflights = origin.requests.filter((r) => r.method === 'OPTIONS');
    assert.equal(preflights.length, 6, 'each app: one preflight for the x-app GET, one for the PUT (the origin owns CORS)');
  });

  await t.test('origin-owned CORS with the browser cache: app 2 revalidates the copy app 1 got (same ETag)', {
  }, async (st) => {
    const apps = await Promise.all([0, 1].map(() => reserveApp(st)));
    const origin = await startOrigin(st, ownCors(new Set(apps.map((a) => a.origin))));
    const edge = await startTestEdge(st, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { cachePreflight: true } }] });
    for (const a of apps) a.serve(edge.base, 'default');
    assertAllowed(await visit(browser, apps[0]!.origin), 'app 1');
    assertAllowed(await visit(browser, apps[1]!.origin), 'app 2');
  });
});

/** A web app whose port (so Origin) is known before the edge exists; `serve` hands it the edge to fetch through. */
async function reserveApp(t: TestContext): Promise<{ origin: string; serve(edgeBase: string, cache: RequestCache): void }> {
  let html = '';
  const server = createServer((_req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve(edgeBase, cache) { html = appPage(edgeBase, cache); },
  };
}

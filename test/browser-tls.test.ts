// Real browser over TLS: Chromium pages on two HTTPS Origins (names mapped to 127.0.0.1, a test CA's certificates
// allowed by their SPKI hashes) load one asset cross-origin from the edge over HTTPS: HTTP/2 by ALPN, each page its
// own ACAO, the second load a HIT. Resource Timing: https://www.w3.org/TR/resource-timing/#dom-performanceresourcetiming-nexthopprotocol
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startOrigin, startTestEdge } from './helpers/http.js';
import { createTestPki } from './helpers/tls.js';
import { hasCommand, requireService } from './helpers/service.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ASSET = 'console.log("asset over h2");';

interface Load { ok: boolean; status?: number; body?: string; acao?: string | null; cache?: string | null; protocol?: string; error?: string }

function appPage(assetUrl: string): string {
  const script = `
    (async () => {
      const url = ${JSON.stringify(assetUrl)};
      const load = async () => {
        try {
          // The asset is max-age=0 for browsers (s-maxage for the edge): each load goes to the edge, without the
          // no-cache a 'no-store' fetch would send, so the second shows the edge's HIT.
          const r = await fetch(url);
          const body = await r.text();
          const entries = performance.getEntriesByName(url);
          return { ok: true, status: r.status, body, acao: r.headers.get('access-control-allow-origin'),
            cache: r.headers.get('cf-cache-status'), protocol: entries.length ? entries[entries.length - 1].nextHopProtocol : 'none' };
        } catch (e) { return { ok: false, error: String(e) }; }
      };
      const first = await load();
      const second = await load();
      window.__results = [first, second];
    })();`;
  return `<!doctype html><meta charset="utf-8"><title>app</title><script>${script}</script>`;
}

test('Chromium on two HTTPS Origins loads an asset from the edge over HTTP/2: own ACAO each, the second load a HIT', { timeout: 120_000 }, async (t) => {
  if (!requireService(t, 'chromium', hasCommand(CHROMIUM), 'apt-get install chromium (or set CHROMIUM_PATH)')) return;
  const pki = await createTestPki(t);
  const edgeCert = await pki.issue('cdn', ['cdn.test']);
  const appCert = await pki.issue('apps', ['one.test', 'two.test']);

  // The two app servers listen first: their Origins (with ports) go into the edge's CORS allow-list.
  let page = '';
  const apps: Server[] = [];
  for (let i = 0; i < 2; i++) {
    const s = createHttpsServer({ cert: readFileSync(appCert.cert), key: readFileSync(appCert.key) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    apps.push(s);
    t.after(() => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); }));
  }
  const appOrigins = apps.map((s, i) => `https://${i === 0 ? 'one' : 'two'}.test:${(s.address() as AddressInfo).port}`);

  const origin = await startOrigin(t, (_req, res) => {
    // Timing-Allow-Origin lets the pages read the resource's timing (nextHopProtocol) across origins.
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'public, max-age=0, s-maxage=300', 'timing-allow-origin': '*' });
    res.end(ASSET);
  });
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: edgeCert.cert, key: edgeCert.key }] } }],
    zones: [{ id: 'cdn', hosts: ['cdn.test'], origin: origin.url, cors: { allowOrigins: appOrigins, exposeHeaders: ['cf-cache-status', 'access-control-allow-origin'], maxAge: 600 } }],
  });
  const assetUrl = `https://cdn.test:${edge.edge.port}/asset.js`;
  page = appPage(assetUrl);

  const profile = mkdtempSync(join(tmpdir(), 'edgecache-chromium-tls-'));
  let browser: BrowserContext | undefined;
  t.after(async () => { await browser?.close(); rmSync(profile, { recursive: true, force: true }); });
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP *.test 127.0.0.1',
      // The test CA is not trusted: the certificates' keys are, by hash (Chromium then skips the CA checks for them).
      `--ignore-certificate-errors-spki-list=${edgeCert.spki},${appCert.spki}`,
    ],
  });

  const visit = async (appOrigin: string): Promise<Load[]> => {
    const p = await browser!.newPage();
    try {
      await p.goto(`${appOrigin}/`);
      await p.waitForFunction(() => (window as unknown as { __results?: unknown }).__results !== undefined, undefined, { timeout: 20_000 });
      return await p.evaluate(() => (window as unknown as { __results: Load[] }).__results);
    } finally { await p.close(); }
  };

  // The fetches succeeding is the browser's own CORS check (ACAO equals the page's Origin); ACAO is also exposed to read.
  const [oneFirst, oneSecond] = await visit(appOrigins[0]!);
  assert.equal(oneFirst!.ok, true, oneFirst!.error);
  assert.deepEqual(oneFirst, { ok: true, status: 200, body: ASSET, acao: appOrigins[0], cache: 'MISS', protocol: 'h2' });
  assert.deepEqual(oneSecond, { ok: true, status: 200, body: ASSET, acao: appOrigins[0], cache: 'HIT', protocol: 'h2' });
  const [twoFirst, twoSecond] = await visit(appOrigins[1]!);
  assert.deepEqual(twoFirst, { ok: true, status: 200, body: ASSET, acao: appOrigins[1], cache: 'HIT', protocol: 'h2' }, 'app two: its own ACAO from the stored variant');
  assert.deepEqual(twoSecond, { ok: true, status: 200, body: ASSET, acao: appOrigins[1], cache: 'HIT', protocol: 'h2' });
  assert.equal(origin.count('/asset.js'), 1, 'one origin fetch for both Origins');
  assert.equal(origin.requests[0]!.headers['x-forwarded-proto'], 'https');
});

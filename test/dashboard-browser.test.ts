// The dashboard in a real browser: Chromium signs in with the admin token (a wrong one is refused), watches
// the charts move under a bounded load, inspects a URL with two Origin variants (both ACAO values side by side),
// purges it from the page and sees the variants gone; also a phone-sized viewport. Screenshots: test-output/dashboard-*.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { validateConfig } from '../src/config/load.js';
import { startEdge } from '../src/edge/server.js';
import { createLogger } from '../src/observability/logger.js';
import { ADMIN_TOKEN, sleep, startOrigin } from './helpers/http.js';
import { hasCommand, requireService } from './helpers/service.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUT = join(process.cwd(), 'test-output');
const ORIGINS = ['https://app-one.example', 'https://app-two.example'];

/** One GET through the edge on its own connection; resolves with the status (0 when the connection failed). */
function get(base: string, path: string, origin?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}${path}`, { agent: false, headers: origin ? { origin } : {} }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** A bounded load: `n` requests, 4 at a time with a short pause after each (so it lasts a few samples). */
async function load(base: string, n: number, paths: string[]): Promise<void> {
  let i = 0;
  const lane = async (): Promise<void> => {
    while (i < n) { const k = i++; await get(base, paths[k % paths.length]!, ORIGINS[k % 2]); await sleep(15); }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}

async function tileValue(page: Page, label: string): Promise<string> {
  return page.locator(`.tile[data-label="${label}"] .value`).innerText();
}

async function signIn(page: Page, token: string): Promise<void> {
  // Keyboard only: the token field has focus on load; Enter submits.
  await page.waitForFunction(() => document.activeElement?.id === 'token');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
}

test('dashboard in Chromium: sign-in, live charts, inspector with two Origin variants, purge, phone viewport', { timeout: 120_000 }, async (t) => {
  if (!requireService(t, 'chromium', hasCommand(CHROMIUM), 'apt-get install chromium (or set CHROMIUM_PATH)')) return;
  mkdirSync(OUT, { recursive: true });

  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin;
    if (req.url === '/down.js') { res.destroy(); return; } // an origin failure
    if (req.url === '/bad.js') { // reflects Origin without Vary: Origin (a CORS diagnostics finding)
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store', ...(o ? { 'access-control-allow-origin': o } : {}) });
      res.end('bad();');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/javascript', 'cache-control': 'public, max-age=300', vary: 'Origin', 'cache-tag': 'app,js',
      ...(o ? { 'access-control-allow-origin': o } : {}),
    });
    res.end('console.log("app");'.repeat(50));
  });
  const config = validateConfig({
    listen: '127.0.0.1:0', logLevel: 'silent',
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }] },
    zones: [{ id: 'shop', hosts: ['*'], origin: origin.url }],
  }, 'test');
  const edge = await startEdge(config, { logger: createLogger('silent'), historyIntervalMs: 400 });
  t.after(() => edge.close(1000));
  const base = `http://127.0.0.1:${edge.edge.port}`;
  const admin = `http://127.0.0.1:${edge.admin.port}`;

  let browser: Browser | undefined;
  t.after(async () => { await browser?.close(); });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text()); });

  const answer = await page.goto(`${admin}/dashboard/`);
  assert.equal(answer?.status(), 200);
  const h = answer!.headers();
  assert.match(h['content-security-policy'] ?? '', /script-src 'self'/);
  assert.doesNotMatch(h['content-security-policy'] ?? '', /unsafe-inline/);
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['access-control-allow-origin'], undefined, 'no CORS on the admin listener');

  await t.test('a wrong token is refused', async () => {
    await signIn(page, 'not-the-admin-token-0000');
    await page.locator('#signin-error').filter({ hasText: /refused/ }).waitFor();
    assert.equal(await page.locator('#app').isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
    await page.screenshot({ path: join(OUT, 'dashboard-signin-refused.png') });
  });

  await t.test('signs in; the charts move while a bounded load runs', async () => {
    await page.fill('#token', '');
    await signIn(page, ADMIN_TOKEN);
    await page.locator('#app').waitFor({ state: 'visible' });
    assert.equal(new URL(page.url()).search, '', 'the token never goes into the URL');
    assert.deepEqual(await context.cookies(), [], 'nor into a cookie');
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#chart-requests')?.dataset['samples']) >= 2);
    const before = Number(await page.locator('#chart-requests').getAttribute('data-samples'));
    assert.equal(await tileValue(page, 'Requests/s'), '0');

    const running = load(base, 400, ['/app.js', '/app.js', '/app.js', '/bad.js', '/down.js']);
    // While the load runs, the page shows it: a request rate above 0, HITs in the chart, a hit ratio.
    await page.waitForFunction(() => {
      const rate = document.querySelector('.tile[data-label="Requests/s"] .value')?.textContent;
      return rate !== '0' && rate !== '–' && document.querySelector('#chart-requests .legend')?.textContent?.includes('HIT')
        && document.querySelector('.tile[data-label="Hit ratio (requests)"] .value')?.textContent !== '–';
    }, undefined, { timeout: 15_000 });
    const during = await tileValue(page, 'Requests/s');
    await running;
    // Once the samples after the load are in, the hour's total is exactly the load: nothing lost, nothing counted twice.
    await page.locator('.tile[data-label="Requests/s"] .sub', { hasText: /^400 in the last hour$/ }).waitFor({ timeout: 15_000 });
    assert.ok(Number(during) > 0, `a request rate was shown during the load: ${during}`);
    const after = Number(await page.locator('#chart-requests').getAttribute('data-samples'));
    assert.ok(after > before, `new samples drawn (${before} → ${after})`);
    const legend = await page.locator('#chart-requests .legend').innerText();
    assert.match(legend, /HIT/);
    assert.match(legend, /MISS/);
    // 3 of every 5 requests are for /app.js, all HITs but the first per Origin: well over half the answers with a cache status.
    const ratio = /^hour: ([\d.]+)%$/.exec(await page.locator('.tile[data-label="Hit ratio (requests)"] .sub').innerText());
    assert.ok(ratio && Number(ratio[1]) > 50, `hit ratio over the hour: ${ratio?.[0]}`);
    await page.screenshot({ path: join(OUT, 'dashboard-overview.png'), fullPage: true });
  });

  await t.test('inspects a URL with two Origin variants and shows both ACAO values', async () => {
    await page.locator('#tab-overview').focus();
    await page.keyboard.press('ArrowRight'); // the inspector tab, by keyboard
    await page.locator('#inspector').waitFor({ state: 'visible' });
    await page.fill('#inspect-url', `${base}/app.js`);
    await page.fill('#inspect-origin', ORIGINS[1]!);
    await page.click('#inspect-form button[type=submit]');
    const rows = page.locator('#inspect-table tbody tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const text = await page.locator('#inspect-table').innerText();
    for (const o of ORIGINS) assert.ok(text.includes(`origin: ${o}`) && text.split(o).length >= 3, `selector and ACAO of ${o}: ${text}`);
    assert.equal(await page.locator('#inspect-table tr.selected').count(), 1, 'the variant the given Origin gets is marked');
    assert.match(await page.locator('#inspect-table tr.selected').innerText(), /app-two/);
    assert.equal(await page.locator('#inspect-table tr.problem').count(), 0, 'Vary: Origin is there: no CORS problem');
    await page.screenshot({ path: join(OUT, 'dashboard-inspector.png'), fullPage: true });
  });

  await t.test('purges the URL from the page; the inspector then shows no variant', async () => {
    await page.click('#tab-purge');
    await page.fill('#purge-items', `${base}/app.js`);
    await page.click('#purge-form button[type=submit]');
    await page.locator('#purge-answer.ok').waitFor();
    assert.match(await page.locator('#purge-answer').innerText(), /"success": true/);
    await page.screenshot({ path: join(OUT, 'dashboard-purge.png'), fullPage: true });
    await page.click('#tab-inspector');
    await page.click('#inspect-form button[type=submit]');
    await page.locator('#inspect-heading', { hasText: /^0 variants/ }).waitFor();
    assert.equal(edge.store.stats().variants, 0, 'the store holds nothing any more');
  });

  await t.test('CORS diagnostics and recent errors are listed with counts', async () => {
    await page.click('#tab-problems');
    await page.locator('#cors-table td', { hasText: 'reflected-without-vary' }).first().waitFor();
    await page.locator('#errors-table td', { hasText: 'ORIGIN_' }).first().waitFor();
    const errors = await page.locator('#errors-table tbody').innerText();
    assert.match(errors, /\/down\.js/);
    await page.screenshot({ path: join(OUT, 'dashboard-problems.png'), fullPage: true });
  });

  await t.test('a phone-sized viewport: readable, nothing wider than the screen', async () => {
    const phone = await browser!.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await phone.goto(`${admin}/dashboard/`);
    await signIn(phone, ADMIN_TOKEN);
    await phone.locator('#app').waitFor({ state: 'visible' });
    await phone.waitForFunction(() => Number(document.querySelector<HTMLElement>('#chart-requests')?.dataset['samples']) >= 2);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page ${overflow}px wider than the viewport`);
    await phone.screenshot({ path: join(OUT, 'dashboard-phone.png') });
    await phone.close();
  });

  assert.deepEqual(cspViolations, [], 'the page runs under its CSP without violations');
});

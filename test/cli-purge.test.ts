// End to end: `edgecache inspect` and `edgecache purge` as child processes against a running edge's admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/serve-process.js';
import { startOrigin, startTestEdge, send, ADMIN_TOKEN } from './helpers/http.js';


const edgecache = runCli;

test('edgecache inspect lists the variants of a URL; edgecache purge --url --header removes exactly one of them', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin as string | undefined;
    res.writeHead(200, {
      'content-type': 'text/javascript', 'cache-control': 'public, max-age=300', vary: 'Origin', 'cache-tag': 'app, js',
      ...(o ? { 'access-control-allow-origin': o } : {}),
    });
    res.end(`// for ${o ?? 'nobody'}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const a = { origin: 'https://a.example' };
  const b = { origin: 'https://b.example' };
  const get = async (h: Record<string, string> = {}) => (await send(`${edge.base}/app.js`, { headers: { host: 'cdn.example.com', ...h } })).headers['cf-cache-status'];
  for (const h of [a, b, {}]) assert.equal(await get(h), 'MISS');
  const target = ['--admin', edge.adminBase, '--token', ADMIN_TOKEN, '--zone', 'default'];
  const url = 'https://cdn.example.com/app.js';

  const inspect = await edgecache(t, ['inspect', url, '--header', 'Origin: https://b.example', ...target]);
  assert.equal(inspect.code, 0, inspect.err);
  const lines = inspect.out.trim().split('\n');
  assert.match(lines[0]!, /app\.js \(zone default, 3 variants\)/);
  const rows = lines.filter((l) => /origin: /.test(l));
  assert.equal(rows.length, 3);
  assert.ok(rows.some((r) => /^\*\s+origin: https:\/\/b\.example\s+200\b/.test(r)), 'the variant these headers select is marked');
  assert.ok(rows.some((r) => /^\s+origin: https:\/\/a\.example\s+200\b/.test(r)));
  assert.ok(rows.some((r) => /^\s+origin: \(absent\)\s+200\b/.test(r)));
  assert.ok(rows.every((r) => /\bapp, js\b/.test(r)), 'tags are shown');

  const purged = await edgecache(t, ['purge', '--url', url, '--header', 'origin: https://a.example', ...target]);
  assert.equal(purged.code, 0, purged.err);
  assert.match(purged.out, /purged 1 file \(the variant selected by origin\) in zone default/);
  assert.deepEqual([await get(a), await get(b), await get()], ['MISS', 'HIT', 'HIT']);
});

test('--admin pointed at the edge port by mistake: the token never reaches the origin, even one that answers /healthz like the admin API', async (t) => {
  // The origin records everything and answers /healthz with the admin API's marker field and body (a spoof, or a copy).
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'edgecache-api': 'admin', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ status: 'ok', api: 'edgecache-admin' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'from-origin', url: 'x', variants: [] } }));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const url = 'https://cdn.example.com/app.js';
  for (const args of [
    ['purge', '--url', url, '--admin', edge.base, '--token', ADMIN_TOKEN],
    ['purge', '--everything', '--admin', `${edge.base}/`, '--token', ADMIN_TOKEN],
    ['inspect', url, '--admin', edge.base, '--token', ADMIN_TOKEN],
  ]) {
    const r = await edgecache(t, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /is not edgecache's admin API \(its answer came through the edge \(it carries cf-cache-status\)\), so the token was not sent/);
  }
  assert.ok(origin.requests.length > 0, 'the probes did reach the origin (through the edge)');
  for (const r of origin.requests) {
    assert.equal(r.method, 'GET');
    assert.equal(r.headers.authorization, undefined);
    assert.ok(!JSON.stringify(r.headers).includes(ADMIN_TOKEN) && !r.body.toString().includes(ADMIN_TOKEN), `${r.url} carried the token`);
  }

  // The same commands at the admin port work, and the origin still never sees the token.
  const ok = await edgecache(t, ['purge', '--url', url, '--admin', edge.adminBase, '--token', ADMIN_TOKEN]);
  assert.equal(ok.code, 0, ok.err);
  // Nothing was cached under that URL: the API's "nothing matched" note is printed.
  assert.match(ok.out, /^purged 1 file in zone default \(id [0-9a-f]+\)\n {2}note 1100: Nothing matched: no cached entry of zone default matched this purge\n$/);
  assert.ok(origin.requests.every((r) => !JSON.stringify(r.headers).includes(ADMIN_TOKEN)));
});

test('purge --config infers the zone from the URL host against a real edge with two zones', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end('body');
  });
  const edge = await startTestEdge(t, {
    zones: [{ id: 'shop', hosts: ['shop.example'], origin: origin.url }, { id: 'blog', hosts: ['blog.example'], origin: origin.url }],
  });
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-cli-zone-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'edgecache.yaml');
  await writeFile(config, [
    `admin: {listen: "127.0.0.1:${edge.admin.port}", tokens: [{token: "${ADMIN_TOKEN}"}]}`,
    'zones:',
    `  - {id: shop, hosts: [shop.example], origin: "${origin.url}"}`,
    `  - {id: blog, hosts: [blog.example], origin: "${origin.url}"}`,
  ].join('\n'));
  const get = async (host: string) => (await send(`${edge.base}/a.txt`, { headers: { host } })).headers['cf-cache-status'];
  for (const host of ['shop.example', 'blog.example']) { await get(host); assert.equal(await get(host), 'HIT'); }
  const r = await edgecache(t, ['purge', '--config', config, '--url', 'https://blog.example/a.txt']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^purged 1 file in zone blog \(id [0-9a-f]+\)\n$/);
  assert.deepEqual([await get('shop.example'), await get('blog.example')], ['HIT', 'MISS']);
});

test('inspect never shows a Vary\'d cookie or Authorization value (API, table, --json); the same value hashes the same; purge by the raw value works', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'Cookie, Authorization, Accept-Language' });
    res.end(`for ${req.headers.cookie ?? 'nobody'}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const alice = 'session=alice-SECRET-0123456789';
  const bob = 'session=bob-SECRET-9876543210';
  const bearer = 'Bearer user-credential-ABCDEF0123';
  const get = async (path: string, h: Record<string, string>) => (await send(`${edge.base}${path}`, { headers: { host: 'cdn.example.com', ...h } })).headers['cf-cache-status'];
  for (const path of ['/me', '/other']) {
    assert.equal(await get(path, { cookie: alice, 'accept-language': 'de' }), 'MISS');
    assert.equal(await get(path, { cookie: alice, 'accept-language': 'de' }), 'HIT', 'a Cookie-keyed variant is stored');
  }
  assert.equal(await get('/me', { cookie: bob, authorization: bearer, 'accept-language': 'de' }), 'MISS');
  const secrets = ['alice-SECRET', 'bob-SECRET', 'user-credential', 'session=', 'Bearer user'];
  const noSecret = (text: string, where: string): void => {
    for (const s of secrets) assert.ok(!text.includes(s), `${where} shows ${s}: ${text}`);
  };

  const api = await send(`${edge.adminBase}/edgecache/v1/zones/default/inspect`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'https://cdn.example.com/me', headers: { cookie: alice, 'accept-language': 'de' } }),
  });
  assert.equal(api.status, 200, api.body);
  noSecret(api.body, 'the inspect API');
  const variants = (JSON.parse(api.body) as { result: { variants: { selector: Record<string, string | null>; selected: boolean }[] } }).result.variants;
  assert.equal(variants.length, 2);
  for (const v of variants) {
    assert.match(v.selector['cookie']!, /^hmac:[0-9a-f]{12}$/);
    assert.equal(v.selector['accept-language'], 'de', 'a safe-listed header is shown as it is');
  }
  const withAuth = variants.find((v) => v.selector['authorization'] !== null)!;
  assert.match(withAuth.selector['authorization']!, /^hmac:[0-9a-f]{12}$/);
  assert.notEqual(withAuth.selector['cookie'], variants.find((v) => v !== withAuth)!.selector['cookie'], 'different cookies, different hashes');
  assert.ok(variants.find((v) => v !== withAuth)!.selected, 'selection still uses the raw value the operator sent');

  const target = ['--admin', edge.adminBase, '--token', ADMIN_TOKEN, '--zone', 'default'];
  const table = await edgecache(t, ['inspect', 'https://cdn.example.com/me', '--header', `Cookie: ${alice}`, '--header', 'Accept-Language: de', ...target]);
  assert.equal(table.code, 0, table.err);
  noSecret(table.out + table.err, 'the CLI table');
  assert.match(table.out, /cookie: hmac:[0-9a-f]{12}/);
  assert.match(table.out, /hmac:… = a keyed hash/);
  const json = await edgecache(t, ['inspect', 'https://cdn.example.com/other', '--json', ...target]);
  assert.equal(json.code, 0, json.err);
  noSecret(json.out, 'the CLI --json output');
  const otherCookie = (JSON.parse(json.out) as { variants: { selector: Record<string, string | null> }[] }).variants[0]!.selector['cookie'];
  const aliceOnMe = variants.find((v) => v !== withAuth)!.selector['cookie'];
  assert.equal(otherCookie, aliceOnMe, 'the same cookie on another URL shows the same hash (one admin process)');

  const purged = await edgecache(t, ['purge', '--url', 'https://cdn.example.com/me', '--header', `Cookie: ${alice}`, '--header', 'Accept-Language: de', ...target]);
  assert.equal(purged.code, 0, purged.err);
  assert.match(purged.out, /purged 1 file/);
  assert.equal(await get('/me', { cookie: alice, 'accept-language': 'de' }), 'MISS', 'purged by the raw cookie');
  assert.equal(await get('/me', { cookie: bob, authorization: bearer, 'accept-language': 'de' }), 'HIT', 'the other variant stays');
});

// Tests for `edgecache purge` against real local HTTP servers: bodies, defaults, precedence, errors, exit codes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { answerAdminProbe, isAdminProbe, startFakeAdmin, startOrigin, type Recorded, type TestOrigin } from '../../test/helpers/http.js';
import { addPurgeCommand } from './purge.js';
import { resolveAdminTarget, TOKEN_ENV } from './admin-client.js';
import { createTokenChecker } from '../admin/auth.js';
import { handlePurge } from '../admin/purge-route.js';
import type { PurgeRequest } from '../purge/request.js';

const TOKEN = 'cli-test-token-0123456789';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `edgecache <args>` in-process with output captured; `env` values are set for the run and restored. */
async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const program = new Command();
  let out = '';
  let err = '';
  program.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  addPurgeCommand(program);
  const saved = { exitCode: process.exitCode, env: Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]])) };
  const setEnv = (vars: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  process.exitCode = undefined;
  setEnv({ [TOKEN_ENV]: undefined, ...env });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: Number(process.exitCode ?? 0), out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out, err };
    throw e;
  } finally {
    process.exitCode = saved.exitCode;
    setEnv({ [TOKEN_ENV]: undefined, ...saved.env });
  }
}

/** A fake admin API answering every purge with success (or what `reply` says) and recording the requests. */
function fakeAdmin(t: TestContext, reply?: (body: unknown) => { status: number; body: string; type?: string }): Promise<TestOrigin & { probes: Recorded[] }> {
  return startFakeAdmin(t, (req, res) => {
    const parsed: unknown = JSON.parse(req.body.toString('utf8') || 'null');
    const r = reply?.(parsed) ?? { status: 200, body: JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'abc123' } }) };
    res.writeHead(r.status, { 'content-type': r.type ?? 'application/json' });
    res.end(r.body);
  });
}

function bodyOf(admin: TestOrigin, i = 0): unknown {
  const r = admin.requests[i];
  assert.ok(r, `request ${i} was made`);
  return JSON.parse(r.body.toString('utf8'));
}

async function closedPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function tempConfig(t: TestContext, yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'edgecache.yaml');
  await writeFile(file, yaml);
  return file;
}

test('--url with --header: one {url, headers} item per URL, bearer auth, default zone, summary printed', async (t) => {
  const admin = await fakeAdmin(t);
  const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--url', 'https://cdn.example.com/a.js', '--url', 'https://cdn.example.com/b.js?v=1', '--header', 'Origin: https://www.example.com', '--header', 'accept-encoding:gzip']);
  assert.equal(r.code, 0, r.err);
  const req = admin.requests[0];
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, '/client/v4/zones/default/purge_cache');
  assert.equal(req?.headers.authorization, `Bearer ${TOKEN}`);
  assert.match(String(req?.headers['content-type']), /^application\/json/);
  const headers = { origin: 'https://www.example.com', 'accept-encoding': 'gzip' };
  assert.deepEqual(bodyOf(admin), {
    files: [
      { url: 'https://cdn.example.com/a.js', headers },
      { url: 'https://cdn.example.com/b.js?v=1', headers },
    ],
  });
  assert.equal(r.out, 'purged 2 files (the variant selected by origin, accept-encoding) in zone default (id abc123)\n');
  assert.equal(r.err, '');
});

test('each kind builds its Cloudflare body; --soft and --zone are passed on', async (t) => {
  const admin = await fakeAdmin(t);
  const cases: [string[], unknown, string][] = [
    [['--url', 'https://cdn.example.com/x'], { files: ['https://cdn.example.com/x'] }, 'purged 1 file in zone shop (id abc123)'],
    [['--tag', 'A', '--tag', 'b', '--soft'], { tags: ['A', 'b'], soft: true }, 'soft-purged (marked stale) 2 tags in zone shop (id abc123)'],
    [['--host', 'cdn.example.com'], { hosts: ['cdn.example.com'] }, 'purged 1 host in zone shop (id abc123)'],
    [['--prefix', 'cdn.example.com/assets/', '--prefix', 'cdn.example.com/img/'], { prefixes: ['cdn.example.com/assets/', 'cdn.example.com/img/'] }, 'purged 2 prefixes in zone shop (id abc123)'],
    [['--everything'], { purge_everything: true }, 'purged everything in zone shop (id abc123)'],
  ];
  for (const [i, [flags, body, line]] of cases.entries()) {
    const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--zone', 'shop', ...flags]);
    assert.equal(r.code, 0, r.err);
    assert.equal(admin.requests[i]?.url, '/client/v4/zones/shop/purge_cache');
    assert.deepEqual(bodyOf(admin, i), body);
    assert.equal(r.out.trim(), line);
  }
});

test('usage errors (no kind, two kinds, --header without --url, bad --header) exit 2 and send nothing', async (t) => {
  const admin = await fakeAdmin(t);
  const cases: [string[], RegExp][] = [
    [[], /exactly one of --url, --tag, --host, --prefix or --everything \(got none\)/],
    [['--url', 'https://x.example/', '--tag', 'a'], /got --url and --tag/],
    [['--everything', '--host', 'x.example'], /got --host and --everything/],
    [['--tag', 'a', '--header', 'Origin: x'], /--header applies to --url only/],
    [['--url', 'https://x.example/', '--header', 'Origin https://a.example'], /is not "Name: value"/],
    [['--url', 'https://x.example/', '--header', 'Origin: a', '--header', 'origin: b'], /given twice/],
    [['--tag', 'a', '--admin', 'not a url'], /is not a URL/],
  ];
  for (const [flags, re] of cases) {
    const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.out, '');
  }
  assert.equal(admin.requests.length, 0);
});

test('API errors are printed with their codes and exit 1; the token is never printed', async (t) => {
  const admin = await fakeAdmin(t, () => ({
    status: 400,
    body: JSON.stringify({ success: false, errors: [{ code: 1013, message: 'files[0] "cdn.example.com/a.js" is not an absolute http(s) URL' }], messages: [], result: null }),
  }));
  const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--url', 'cdn.example.com/a.js']);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /purge failed \(HTTP 400\)/);
  assert.match(r.err, /error 1013: files\[0\] "cdn\.example\.com\/a\.js" is not an absolute/);
  assert.ok(!r.err.includes(TOKEN));
});

test('a non-JSON error reply is shown with its status; control characters are escaped', async (t) => {
  const admin = await fakeAdmin(t, () => ({ status: 502, body: '<html>bad gateway\x1b[31m</html>', type: 'text/html' }));
  const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--everything']);
  assert.equal(r.code, 1);
  assert.match(r.err, /HTTP 502/);
  assert.match(r.err, /bad gateway\\x1b\[31m/);
  assert.ok(!r.err.includes('\x1b'));
});

test('a 200 without success:true is not reported as a purge', async (t) => {
  const admin = await fakeAdmin(t, () => ({ status: 200, body: '{"success":false,"errors":[{"code":1,"message":"nope"}],"messages":[],"result":null}' }));
  const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--everything']);
  assert.equal(r.code, 1);
  assert.match(r.err, /error 1: nope/);
});

test('an unreachable admin API exits 1 with a clear message', async () => {
  const port = await closedPort();
  const r = await run(['purge', '--admin', `http://127.0.0.1:${port}`, '--token', TOKEN, '--everything']);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
});

test('token: --token, else $EDGECACHE_ADMIN_TOKEN, else the config token for the zone; none is a usage error', async (t) => {
  const admin = await fakeAdmin(t);
  const port = admin.port;
  const config = await tempConfig(t, [
    'admin:',
    `  listen: "127.0.0.1:${port}"`,
    '  tokens:',
    '    - token: "blog-only-token-000000"',
    '      zones: ["blog"]',
    '    - token: "shop-config-token-00000"',
    '      zones: ["shop"]',
    // The serve config the tokens belong to: a token must name zones that exist.
    'zones:',
    '  - {id: blog, hosts: [blog.example], origin: "http://127.0.0.1:9"}',
    '  - {id: shop, hosts: [shop.example], origin: "http://127.0.0.1:9"}',
  ].join('\n'));
  const auth = (i: number): unknown => admin.requests[i]?.headers.authorization;

  // Config alone: the admin address comes from admin.listen and the token is the one covering the zone.
  assert.equal((await run(['purge', '--config', config, '--zone', 'shop', '--everything'])).code, 0);
  assert.equal(auth(0), 'Bearer shop-config-token-00000');
  assert.equal(admin.requests[0]?.url, '/client/v4/zones/shop/purge_cache');
  // With no token covering the zone, the first one is used (the API then answers 403 for itself).
  assert.equal((await run(['purge', '--config', config, '--zone', 'other', '--everything'])).code, 0);
  assert.equal(auth(1), 'Bearer blog-only-token-000000');
  // The environment beats the config; --token beats both.
  assert.equal((await run(['purge', '--config', config, '--zone', 'shop', '--everything'], { [TOKEN_ENV]: 'env-token-value' })).code, 0);
  assert.equal(auth(2), 'Bearer env-token-value');
  assert.equal((await run(['purge', '--config', config, '--token', 'flag-token', '--everything'], { [TOKEN_ENV]: 'env-token-value' })).code, 0);
  assert.equal(auth(3), 'Bearer flag-token');
  // No token anywhere.
  const none = await run(['purge', '--admin', admin.url, '--everything']);
  assert.equal(none.code, 2);
  assert.match(none.err, /no admin token: pass --token, set EDGECACHE_ADMIN_TOKEN/);
  assert.equal(admin.requests.length, 4);
});

test('admin URL defaults: http://127.0.0.1:8788, else admin.listen with wildcard addresses mapped to loopback', async (t) => {
  assert.equal(resolveAdminTarget({ token: 'x' }).adminUrl.href, 'http://127.0.0.1:8788/');
  assert.equal(resolveAdminTarget({ token: 'x' }).zone, 'default');
  const cases: [string, string][] = [
    ['0.0.0.0:9100', 'http://127.0.0.1:9100/'],
    ['"[::]:9100"', 'http://[::1]:9100/'],
    ['"[::1]:9100"', 'http://[::1]:9100/'],
    ['10.1.2.3:9100', 'http://10.1.2.3:9100/'],
  ];
  for (const [listen, want] of cases) {
    const config = await tempConfig(t, `admin:\n  listen: ${listen}\n`);
    assert.equal(resolveAdminTarget({ token: 'x', config }).adminUrl.href, want, listen);
  }
});

test('admin URL: --admin beats the config; a base path is kept', async (t) => {
  const admin = await fakeAdmin(t);
  const dead = await closedPort();
  const config = await tempConfig(t, `admin:\n  listen: "127.0.0.1:${dead}"\n  tokens: [{token: "config-token-0000000000"}]\n`);
  const r = await run(['purge', '--config', config, '--admin', `${admin.url}/edge-admin`, '--tag', 'x']);
  assert.equal(r.code, 0, r.err);
  assert.equal(admin.requests[0]?.url, '/edge-admin/client/v4/zones/default/purge_cache');
  assert.equal(admin.requests[0]?.headers.authorization, 'Bearer config-token-0000000000');
  // Without --admin the config's (dead) admin.listen is used.
  const viaConfig = await run(['purge', '--config', config, '--tag', 'x']);
  assert.equal(viaConfig.code, 1);
  assert.match(viaConfig.err, new RegExp(`127\\.0\\.0\\.1:${dead}`));
});

test('a bad config file exits 2 with the config error', async (t) => {
  const bad = await tempConfig(t, 'admin:\n  listen: nonsense\n');
  const r = await run(['purge', '--config', bad, '--everything']);
  assert.equal(r.code, 2);
  assert.match(r.err, /admin\.listen/);
  const missing = await run(['purge', '--config', join(tmpdir(), 'no-such-edgecache.yaml'), '--everything']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read config file .*ENOENT/);
});

test('end to end with the real purge route: the CLI bodies parse into the intended purges', async (t) => {
  const applied: { zoneId: string; req: PurgeRequest }[] = [];
  const server = createServer((req, res) => {
    if (isAdminProbe(req)) { answerAdminProbe(res); return; }
    const m = /^\/client\/v4\/zones\/([^/]+)\/purge_cache$/.exec(req.url ?? '');
    handlePurge(req, res, decodeURIComponent(m?.[1] ?? ''), {
      checkToken: createTokenChecker([{ token: TOKEN, zones: ['shop'] }]),
      hasZone: (id) => id === 'shop',
      maxItems: 500,
      maxBodyBytes: 1024 * 1024,
      apply: async (zoneId, r) => void applied.push({ zoneId, req: r }),
      newId: () => 'e2e-id',
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ok = await run(['purge', '--admin', admin, '--token', TOKEN, '--zone', 'shop', '--url', 'https://CDN.example.com:443/a%2Fb.js?v=2', '--header', 'Origin: https://a.example', '--soft']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, 'soft-purged (marked stale) 1 file (the variant selected by origin) in zone shop (id e2e-id)\n');
  assert.deepEqual(applied, [
    { zoneId: 'shop', req: { kind: 'files', soft: true, files: [{ host: 'cdn.example.com', path: '/a%2Fb.js', query: 'v=2', headers: { origin: 'https://a.example' } }] } },
  ]);

  const bad = await run(['purge', '--admin', admin, '--token', TOKEN, '--zone', 'shop', '--url', 'cdn.example.com/app.js']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /error 1013: files\[0\] "cdn\.example\.com\/app\.js" is not an absolute http\(s\) URL/);
  const forbidden = await run(['purge', '--admin', admin, '--token', TOKEN, '--zone', 'blog', '--everything']);
  assert.equal(forbidden.code, 1);
  assert.match(forbidden.err, /HTTP 403[\s\S]*error 10000/);
  assert.equal(applied.length, 1);
});

test('as a child process: real exit codes and output through src/cli/main.ts', async (t) => {
  const admin = await fakeAdmin(t);
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const exec = (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, env, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const env = { ...process.env, [TOKEN_ENV]: 'token-from-env-123' };
  const ok = await exec(['purge', '--admin', admin.url, '--tag', 'release-42'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'purged 1 tag in zone default (id abc123)\n');
  assert.equal(admin.requests[0]?.headers.authorization, 'Bearer token-from-env-123');
  const usage = await exec(['purge', '--admin', admin.url], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /choose exactly one of/);
  assert.equal(admin.requests.length, 1);
});

test('the token goes only to a verified admin API: an unauthenticated GET /healthz first; anything else gets no token (exit 2)', async (t) => {
  const admin = await fakeAdmin(t);
  const ok = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--tag', 'a']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(admin.probes.length, 1);
  assert.equal(admin.probes[0]?.headers.authorization, undefined, 'the probe carries no credentials');
  assert.equal(admin.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);

  // A server that answers everything with a Cloudflare success (as an origin behind the edge might): never given the token.
  const impostor = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'x' }, status: 'ok' }));
  });
  for (const args of [['purge', '--tag', 'a'], ['purge', '--everything']]) {
    const r = await run([...args, '--admin', impostor.url, '--token', TOKEN]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /is not edgecache's admin API \(its answer \(HTTP 200\) has no "edgecache-api: admin" field\), so the token was not sent/);
    assert.match(r.err, /edge port/);
    assert.equal(r.out, '');
  }
  assert.deepEqual(impostor.requests.map((r) => [r.method, r.url]), [['GET', '/healthz'], ['GET', '/healthz']]);
  assert.ok(impostor.requests.every((r) => !JSON.stringify(r.headers).includes(TOKEN) && !r.body.toString().includes(TOKEN)));
});

test("a purge's API messages are printed after its summary (e.g. nothing matched), exit 0", async (t) => {
  const admin = await fakeAdmin(t, () => ({ status: 200, body: JSON.stringify({ success: true, errors: [], messages: [{ code: 1100, message: 'Nothing matched: no cached entry of zone default matched this purge\u001b[2J' }], result: { id: 'n1' } }) }));
  const r = await run(['purge', '--admin', admin.url, '--token', TOKEN, '--tag', 'gone']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'purged 1 tag in zone default (id n1)\n  note 1100: Nothing matched: no cached entry of zone default matched this purge\\x1b[2J\n');
});

test('--config without --zone: the zone serving the URLs, hosts or prefixes; ambiguous or unserved hosts are usage errors', async (t) => {
  const admin = await fakeAdmin(t);
  const config = await tempConfig(t, [
    'admin:',
    `  listen: "127.0.0.1:${admin.port}"`,
    '  tokens: [{token: "config-token-0000000000", zones: ["*"]}]',
    'zones:',
    '  - {id: shop, hosts: [shop.example, "*.shop.example"], origin: "http://127.0.0.1:9"}',
    '  - {id: blog, hosts: [blog.example], origin: "http://127.0.0.1:9"}',
  ].join('\n'));
  const zoneOf = async (args: string[]): Promise<string> => {
    const before = admin.requests.length;
    const r = await run(['purge', '--config', config, ...args]);
    assert.equal(r.code, 0, r.err);
    return /\/zones\/([^/]+)\//.exec(admin.requests[before]?.url ?? '')?.[1] ?? '(no request)';
  };
  assert.equal(await zoneOf(['--url', 'https://SHOP.example/a.js', '--url', 'http://img.shop.example:8080/b.png']), 'shop');
  assert.equal(await zoneOf(['--url', 'https://blog.example/post']), 'blog');
  assert.equal(await zoneOf(['--host', 'blog.example']), 'blog');
  assert.equal(await zoneOf(['--prefix', 'cdn.shop.example/assets/']), 'shop');
  assert.equal(await zoneOf(['--zone', 'blog', '--url', 'https://shop.example/a.js']), 'blog', '--zone wins');
  assert.equal(await zoneOf(['--tag', 'x']), 'default', 'no host named, several zones: the default zone id');

  const before = admin.requests.length;
  const mixed = await run(['purge', '--config', config, '--url', 'https://shop.example/a', '--url', 'https://blog.example/b']);
  assert.equal(mixed.code, 2);
  assert.match(mixed.err, /the hosts belong to zones shop, blog: purge each zone separately, with --zone/);
  const unserved = await run(['purge', '--config', config, '--url', 'https://elsewhere.example/a']);
  assert.equal(unserved.code, 2);
  assert.match(unserved.err, /no zone in .*edgecache\.yaml serves host "elsewhere\.example": pass --zone/);
  assert.equal(admin.requests.length, before, 'nothing sent for a usage error');

  const single = await tempConfig(t, `admin:\n  listen: "127.0.0.1:${admin.port}"\n  tokens: [{token: "config-token-0000000000"}]\nzones:\n  - {id: only, origin: "http://127.0.0.1:9"}\n`);
  const r = await run(['purge', '--config', single, '--tag', 'x']);
  assert.equal(r.code, 0, r.err);
  assert.equal(admin.requests.at(-1)?.url, '/client/v4/zones/only/purge_cache', "a config's only zone");
});

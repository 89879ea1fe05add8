// Config reload as operators do it, on real processes: SIGHUP and `edgecache reload` under a bounded keep-alive load
// (single process and --workers 2): no request fails, the cache is kept (a hit stays a hit), a zone whose key rules
// changed loses its entries and only it, tokens change, and a config that does not validate is refused and logged.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveProcess, ROOT, MAIN } from './helpers/serve-process.js';
import { startOrigin, send, sleep } from './helpers/http.js';

const TOKEN_1 = 'reload-test-token-one-0123456789';
const TOKEN_2 = 'reload-test-token-two-0123456789';

function serve(t: TestContext, args: string[]) {
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  return serveProcess(t, args, env);
}

interface ZoneSpec { query?: string; connectMs?: number }
function configText(originUrl: string, token: string, a: ZoneSpec, b: ZoneSpec): string {
  const zone = (id: string, host: string, z: ZoneSpec): string[] => [
    `  - id: ${id}`, `    hosts: [${host}]`, `    origin: ${originUrl}`,
    ...(z.query ? ['    cacheKey:', `      query: ${z.query}`] : []),
    ...(z.connectMs ? ['    timeouts:', `      connectMs: ${z.connectMs}`] : []),
  ];
  return ['listen: 127.0.0.1:0', 'admin:', '  listen: 127.0.0.1:0', '  tokens:', `    - token: ${token}`, 'zones:',
    ...zone('a', 'a.test', a), ...zone('b', 'b.test', b), ''].join('\n');
}

/** A bounded load on kept connections: `loops` clients each send up to `max` requests until stopped. */
function keepAliveLoad(base: string, paths: { host: string; path: string }[], loops = 4, max = 3000) {
  const agent = new Agent({ keepAlive: true, maxSockets: loops });
  const failures: string[] = [];
  let done = 0;
  let stop = false;
  const get = (host: string, path: string): Promise<void> => new Promise((resolve) => {
    const r = httpRequest(`${base}${path}`, { agent, headers: { host } }, (res) => {
      if (res.statusCode !== 200) failures.push(`${host}${path}: ${res.statusCode}`);
      res.resume();
      res.on('end', () => { done++; resolve(); });
      res.on('error', (e) => { failures.push(`${host}${path}: ${e.message}`); resolve(); });
    });
    r.on('error', (e) => { failures.push(`${host}${path}: ${e.message}`); resolve(); });
    r.end();
  });
  const running = Array.from({ length: loops }, async (_, i) => {
    for (let n = 0; n < max && !stop; n++) { const p = paths[(n + i) % paths.length]!; await get(p.host, p.path); }
  });
  return {
    failures, done: () => done,
    async stop(): Promise<void> { stop = true; await Promise.all(running); agent.destroy(); },
  };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const purgeWith = (admin: string, token: string, zone: string): Promise<number> => send(`${admin}/client/v4/zones/${zone}/purge_cache`, {
  method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ tags: ['none'] }),
}).then((r) => r.status);

function cliReload(admin: string, token: string): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'reload', '--admin', admin, '--token', token], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const workers of [1, 2]) {
  test(`reload (${workers === 1 ? 'single process' : '--workers 2'}): under load no request fails, hits stay hits, a key-rule change drops only its zone, a bad config is refused`, { timeout: 180_000 }, async (t) => {
    const origin = await startOrigin(t, (req, res) => { res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }); res.end(`${req.headers.host} ${req.url}`); });
    const dir = await tempDir(t);
    const file = join(dir, 'edge.yaml');
    await writeFile(file, configText(origin.url, TOKEN_1, {}, {}));
    const edge = serve(t, ['--config', file, '--workers', String(workers), '--log-level', 'info']);
    const serving = await edge.logLine(/^edgecache serving/);
    const base = `http://${String(serving.edge)}`;
    const admin = `http://${String(serving.admin)}`;
    const countFor = (host: string, path: string): number => origin.requests.filter((r) => r.headers.host === host && r.url === path).length;
    // Warm both zones (with workers: on new connections until every worker served them, each from its own cache).
    // (Each request on its own connection: consecutive ones for one host go round the workers.)
    for (const host of ['a.test', 'b.test']) {
      for (let i = 0; i < 4 * workers; i++) assert.equal((await send(`${base}/x?v=1`, { headers: { host } })).status, 200);
    }
    const aBefore = countFor('a.test', '/x?v=1');
    const bBefore = origin.requests.filter((r) => r.headers.host === 'b.test').length;
    assert.ok(aBefore >= 1 && aBefore <= workers, `a.test fetched once per worker (${aBefore})`);

    const load = keepAliveLoad(base, [{ host: 'a.test', path: '/x?v=1' }, { host: 'b.test', path: '/x?v=1' }]);
    const untilDone = async (n: number): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (load.done() < n && Date.now() < deadline) await sleep(20);
    };
    await untilDone(20);
    // Zone b's key rule changes (query "none"), zone a only its connect timeout; the token is replaced.
    await writeFile(file, configText(origin.url, TOKEN_2, { connectMs: 4000 }, { query: 'none' }));
    let mark = edge.lines().length;
    edge.child.kill('SIGHUP');
    const reloaded = await edge.logLine(/^reloaded$/, mark);
    assert.deepEqual(reloaded.droppedZones, ['b']);
    const atReload = load.done();
    await untilDone(atReload + 20);
    await load.stop();
    assert.deepEqual(load.failures, [], 'no request failed across the reload');
    assert.ok(atReload >= 20 && load.done() >= atReload + 20, `the load ran before and after the reload (${atReload}, then ${load.done()} requests)`);
    assert.equal(edge.child.exitCode, null, 'SIGHUP did not end the process');

    // Zone a kept its cache: on new connections (every worker), still hits and no origin fetch.
    for (let i = 0; i < 4 * workers; i++) {
      const r = await send(`${base}/x?v=1`, { headers: { host: 'a.test' } });
      assert.equal(r.headers['cf-cache-status'], 'HIT');
    }
    assert.equal(countFor('a.test', '/x?v=1'), aBefore, 'zone a: nothing fetched again');
    // Zone b dropped its entries (its keys changed: the query is no longer part of them) and fetched again under the load.
    const bAfter = origin.requests.filter((r) => r.headers.host === 'b.test').length;
    assert.ok(bAfter > bBefore && bAfter <= bBefore + 2 * workers, `zone b fetched again (${bBefore} -> ${bAfter})`);
    assert.equal((await send(`${base}/x?v=2`, { headers: { host: 'b.test' } })).headers['cf-cache-status'], 'HIT', 'zone b keys ignore the query now');
    // The tokens changed.
    assert.equal(await purgeWith(admin, TOKEN_2, 'a'), 200);
    assert.equal(await purgeWith(admin, TOKEN_1, 'a'), 401);

    // A config that does not validate: refused, the reason logged at error, the running config kept.
    await writeFile(file, configText('ftp://nowhere.example', TOKEN_1, {}, {}));
    mark = edge.lines().length;
    edge.child.kill('SIGHUP');
    const refused = await edge.logLine(/^config not reloaded/, mark);
    assert.equal(refused.level, 50, 'logged at error');
    assert.match(String(refused.err), /zones\[0\]\.origin: got "ftp:\/\/nowhere\.example"/);
    assert.equal((await send(`${base}/x?v=1`, { headers: { host: 'a.test' } })).headers['cf-cache-status'], 'HIT');
    assert.equal(await purgeWith(admin, TOKEN_2, 'a'), 200, 'the running tokens are kept');

    // `edgecache reload` through the admin API: the refusal's reason, exit 1; then a good config, exit 0.
    const bad = cliReload(admin, TOKEN_2);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /reload failed \(HTTP 422\)[\s\S]*ftp:\/\/nowhere\.example/);
    await writeFile(file, configText(origin.url, TOKEN_2, { connectMs: 3000 }, { query: 'none' }));
    const good = cliReload(admin, TOKEN_2);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /^reloaded\n\s+zones added: none; changed: a; removed: none\n\s+cached entries dropped \(key rules changed\): none/);
    assert.equal((await send(`${base}/x?v=1`, { headers: { host: 'a.test' } })).headers['cf-cache-status'], 'HIT');

    edge.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
  });
}

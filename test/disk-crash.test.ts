// kill -9 on the compiled CLI with a disk tier, at random points of a workload of fills, streamed large fills and purges,
// then a restart on the same directory: it starts cleanly, never serves a torn or half-written body (every body is
// compared with the origin's bytes for the version it names), and a purge that was answered never comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, sleep } from './helpers/http.js';
import { ROOT, serveProcess, type ServeProcess } from './helpers/serve-process.js';

const TOKEN = 'crash-test-admin-token-0123456789';
const HOST = 'cdn.example.com';
const SMALL = 24;            // /s/0 … /s/23: 1–40 KiB bodies
const LARGE = 3;             // /large/0 … /large/2: 3 MiB, streamed in 128 KiB pieces over ~200 ms
const LARGE_SIZE = 3 * 1024 * 1024;
const KILLS = 4;

/** A small seeded PRNG (mulberry32): a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The origin's body for a path at a version: a first line naming both, then bytes that depend on them. */
function bodyOf(path: string, version: number): Buffer {
  const size = path.startsWith('/large/') ? LARGE_SIZE : 1024 + (createHash('md5').update(path).digest().readUInt16BE(0) % 40) * 1024;
  const head = Buffer.from(`${path} v${version}\n`);
  const seed = createHash('sha256').update(`${path}#${version}`).digest();
  const out = Buffer.alloc(size);
  head.copy(out);
  for (let i = head.length; i < size; i++) out[i] = seed[i & 31]! ^ (i & 0xff) ^ (i >> 8 & 0xff);
  return out;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Got { status: number; body: Buffer; complete: boolean; cache: string; length: string | undefined }

function get(base: string, path: string): Promise<Got | undefined> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}${path}`, { headers: { host: HOST }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (): void => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), complete: res.complete, cache: String(res.headers['cf-cache-status'] ?? ''), length: res.headers['content-length'] });
      res.on('end', done);
      res.on('error', done);
      res.on('close', done); // cut mid-body: resolved incomplete (a second resolve is a no-op)
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve(undefined)); // the process was killed under it
    req.end();
  });
}

function purgeFiles(admin: string, paths: string[]): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(`${admin}/client/v4/zones/default/purge_cache`, {
      method: 'POST', agent: false, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); res.on('error', () => resolve(0)); res.on('close', () => resolve(res.complete ? res.statusCode! : 0)); });
    req.on('error', () => resolve(0));
    req.end(JSON.stringify({ files: paths.map((p) => `http://${HOST}${p}`) }));
  });
}

test('kill -9 at random points during fills, large streamed fills and purges: each restart serves only whole bodies and keeps purges', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is missing: run npx tsc -p tsconfig.build.json');
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
  const rnd = prng(seed);
  const say = (m: string): string => `${m} (CRASH_SEED=${seed})`;
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, 'cache');
  const config = join(dir, 'edgecache.yaml');
  // A memory tier of 64 KiB: most hits are read from body files, so a torn file would show.
  await writeFile(config, `cache:\n  disk:\n    path: ${cacheDir}\n  memory:\n    maxBytes: 65536\n`);

  const version = new Map<string, number>();
  /** Large fills the origin holds at a byte offset until the test releases them (the kill lands mid-fill, surely). */
  const cuts = new Map<string, { at: number; reached: () => void; hold: Promise<void> }>();
  const v = (path: string): number => version.get(path) ?? 1;
  const origin = await startOrigin(t, async (req, res) => {
    const path = req.url!;
    const body = bodyOf(path, v(path));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=600', 'content-length': String(body.length) });
    if (!path.startsWith('/large/')) { res.end(body); return; }
    let closed = false;
    res.on('close', () => { closed = true; });
    const cut = cuts.get(path);
    for (let at = 0; at < body.length && !closed; at += 128 * 1024) {
      if (cut !== undefined && at >= cut.at) { cut.reached(); await cut.hold; if (closed) break; }
      res.write(body.subarray(at, at + 128 * 1024));
      await sleep(8);
    }
    res.end();
  });

  /** The lowest version a path may be served at: the one its last answered purge made current. */
  const floor = new Map<string, number>();
  const paths: string[] = [...Array.from({ length: SMALL }, (_, i) => `/s/${i}`), ...Array.from({ length: LARGE }, (_, i) => `/large/${i}`)];
  let checked = 0;
  let hitsAfterRestart = 0;

  /**
   * A complete answer must be the origin's exact bytes for the version it names, at or above `min`: the version the
   * path's last purge answered before the request was sent made current (an answer already under way may finish older).
   */
  const check = (path: string, got: Got | undefined, when: string, min: number): void => {
    if (got === undefined || !got.complete) return; // cut by the kill: closing mid-body is how a lost length is told (RFC 9112 §6.3)
    assert.equal(got.status, 200, say(`${when} ${path}: status (${got.body.subarray(0, 200).toString()})`));
    const m = /^(\S+) v(\d+)\n/.exec(got.body.subarray(0, 64).toString('latin1'));
    assert.ok(m && m[1] === path, say(`${when} ${path}: the body names its own path (got ${JSON.stringify(got.body.subarray(0, 40).toString('latin1'))})`));
    const served = Number(m[2]);
    assert.equal(sha(got.body), sha(bodyOf(path, served)), say(`${when} ${path} v${served}: byte for byte the origin's body (${got.body.length} bytes)`));
    assert.equal(got.length, String(got.body.length), say(`${when} ${path}: Content-Length`));
    assert.ok(served >= min, say(`${when} ${path}: v${served} served after a purge answered for v${min}: a purged entry came back`));
    checked++;
  };

  const start = async (): Promise<{ p: ServeProcess; base: string; admin: string }> => {
    const env = { ...process.env };
    delete env.EDGECACHE_ADMIN_TOKEN;
    const p = serveProcess(t, ['--config', config, '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--admin-token', TOKEN], env, { compiled: true });
    const line = await p.logLine(/^edgecache serving$/, 0, 45_000);
    const failed = p.lines().filter((l) => Number(l.level) >= 50);
    assert.deepEqual(failed, [], say('no error logged while starting'));
    return { p, base: `http://${String(line.edge)}`, admin: `http://${String(line.admin)}` };
  };

  for (let round = 0; round <= KILLS; round++) {
    const t0 = Date.now();
    const { p, base, admin } = await start();
    const t1 = Date.now();
    // After a restart: everything the last run stored (or not) is served whole, purges kept.
    await Promise.all(paths.map(async (path) => {
      const min = floor.get(path) ?? 1;
      const got = await get(base, path);
      assert.ok(got?.complete, say(`round ${round}: ${path} answered in full after the restart`));
      if (round > 0 && got.cache === 'HIT') hitsAfterRestart++;
      if (path === `/large/fresh-${round - 1}`) assert.notEqual(got.cache, 'HIT', say(`${path}: a fill killed midway is not served from the cache`));
      check(path, got, `round ${round} after restart`, min);
    }));
    t.diagnostic(`round ${round}: started in ${t1 - t0} ms, checked in ${Date.now() - t1} ms`);
    if (round === KILLS) {
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, say('the last run stops cleanly'));
      break;
    }
    // The workload: GETs (fills and hits, large ones streamed) and purges, until the kill lands at a random moment.
    let killed = false;
    const work = async (): Promise<void> => {
      while (!killed) {
        const path = paths[Math.floor(rnd() * paths.length)]!;
        if (rnd() < 0.25) {
          version.set(path, v(path) + 1); // what the origin answers from now on
          const target = v(path);
          if (await purgeFiles(admin, [path]) === 200) floor.set(path, Math.max(floor.get(path) ?? 1, target));
        } else {
          const min = floor.get(path) ?? 1;
          check(path, await get(base, path), `round ${round} before the kill`, min);
        }
      }
    };
    const workers = Array.from({ length: 6 }, () => work());
    // The kill lands while a large fill of a new URL streams: the origin holds it at a random point (10–90 %) until then.
    const fresh = `/large/fresh-${round}`;
    let reached!: () => void;
    let release!: () => void;
    const atCut = new Promise<void>((r) => { reached = r; });
    cuts.set(fresh, { at: Math.floor(LARGE_SIZE * (0.1 + 0.8 * rnd())), reached, hold: new Promise<void>((r) => { release = r; }) });
    await sleep(Math.floor(rnd() * 300));
    const cutClient = get(base, fresh);
    await Promise.race([atCut, sleep(15_000)]);
    await sleep(Math.floor(rnd() * 100));
    p.child.kill('SIGKILL');
    cuts.delete(fresh);
    release();
    check(fresh, await cutClient, `round ${round} cut fill`, 1);
    killed = true;
    assert.equal(await p.exited, 'SIGKILL', say(`round ${round}: killed`));
    await Promise.all(workers);
    paths.push(fresh); // checked after every restart from now on: cut midway, it must be fetched anew, whole
  }
  assert.ok(checked > paths.length * (KILLS + 1), say(`bodies were compared (${checked})`));
  assert.ok(hitsAfterRestart > 0, say('entries written before a kill were served from disk after the restart'));
  const left = await readdir(join(cacheDir, 'bodies'));
  assert.deepEqual(left.filter((n) => n.endsWith('.tmp')), [], say('no temp body file survives a clean stop'));
});

// End to end with --workers 2: the whole node (primary and workers) paused while a purge is published serves nothing it purged on resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, send, sleep, startOrigin } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';
import { encodeMessage } from '../src/cluster/stream-format.js';
import { parsePurgeBody, PurgeError } from '../src/purge/request.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const HOST = 'cdn.example.com';
/** Longer than the bus's read deadline (XREAD BLOCK 1 s + the 4 s stall timer). */
const PAUSE_MS = 5500;

/** Sends `n` GETs at once, each on its own connection (argv: URL, Host, n), and prints their bodies as JSON. */
const CLIENT = `
const [url, host, n] = process.argv.slice(1);
const one = () => new Promise((resolve, reject) => require('node:http').get(url, { headers: { host }, agent: false }, (res) => {
  let body = '';
  res.setEncoding('utf8').on('data', (c) => { body += c; }).on('end', () => resolve(body));
}).on('error', reject));
Promise.all(Array.from({ length: Number(n) }, one)).then((b) => process.stdout.write(JSON.stringify(b)), (e) => { console.error(e); process.exit(2); });`;

test('--workers 2: a node paused while a purge is published serves nothing purged from any worker once it runs again', { timeout: 90_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(`body of ${req.url} #${origin.count(req.url)}`);
  });
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  // Its own process group (detached), so the test can pause the primary and its workers together, by the group's pid.
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--workers', '2', '--origin', origin.url, '--listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', '--admin-token', ADMIN_TOKEN, '--cluster', redis.url, '--log-level', 'info'],
  { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try { process.kill(-child.pid!, 'SIGCONT'); } catch { /* gone */ }
    child.kill('SIGTERM');
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000);
    await exited;
    clearTimeout(timer);
  });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { log += c; });
  const edge = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`not serving within 30 s\n${log}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        try { const j = JSON.parse(line) as { msg?: string; edge: string }; if (j.msg === 'edgecache serving with workers') { clearTimeout(timer); resolve(j.edge); } } catch { /* partial line */ }
      }
    });
  });
  const get = async (): Promise<string> => (await send(`http://${edge}/purged.js`, { headers: { host: HOST, connection: 'close' } })).body;

  // Connections go to the workers in turn: after a few, each worker holds its own copy (#1 and #2).
  const before = new Set<string>();
  for (let i = 0; i < 8; i++) before.add(await get());
  assert.deepEqual([...before].sort(), ['body of /purged.js #1', 'body of /purged.js #2'], 'each worker cached its own copy');

  const request = parsePurgeBody(Buffer.from(JSON.stringify({ files: [`http://${HOST}/purged.js`] })), { maxItems: 30 });
  assert.ok(!(request instanceof PurgeError), 'the purge body parses');
  const fields = encodeMessage({ zoneId: 'default', request, origin: 'another-node' });

  process.kill(-child.pid!, 'SIGSTOP');
  let isStopped = true;
  t.after(() => { if (isStopped) try { process.kill(-child.pid!, 'SIGCONT'); } catch { /* gone */ } });
  // Another node publishes the purge while this one is paused; clients ask for the purged URL meanwhile.
  const published = spawnSync('redis-cli', ['-p', String(redis.port), 'XADD', 'edgecache:purges', '*', ...fields], { encoding: 'utf8', timeout: 5000 });
  assert.equal(published.status, 0, `redis-cli published the purge: ${published.stderr}`);
  const client = spawn(process.execPath, ['-e', CLIENT, `http://${edge}/purged.js`, HOST, '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (client.exitCode === null) client.kill('SIGKILL'); });
  let answer = '';
  client.stdout.setEncoding('utf8').on('data', (c: string) => { answer += c; });
  const answered = once(client, 'exit');
  await sleep(PAUSE_MS);
  process.kill(-child.pid!, 'SIGCONT');
  isStopped = false;

  assert.equal((await answered)[0], 0, 'the clients got answers');
  const after = JSON.parse(answer) as string[];
  assert.equal(after.length, 4);
  for (const body of after) assert.ok(!before.has(body), `a worker served purged content after the pause: ${body} (all: ${after.join(', ')})`);
  assert.ok(origin.count('/purged.js') > 2, 'the purged URL was fetched again');
});

// End to end: a node paused (blocked) longer than the bus's read-stall timer while a purge is published serves nothing it purged on resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';
import { encodeMessage } from '../src/cluster/stream-format.js';
import { parsePurgeBody, PurgeError } from '../src/purge/request.js';

const HOST = 'cdn.example.com';
const STREAM = 'edgecache:purges';
/** Longer than the bus's read deadline (XREAD BLOCK 1 s + the 4 s stall timer): the blocked read is judged stalled on resume. */
const PAUSE_MS = 5500;

/** Sends one GET 1.5 s after it starts (argv: URL, Host) and prints {body, cache}. */
const CLIENT = `
const [url, host] = process.argv.slice(1);
setTimeout(() => require('node:http').get(url, { headers: { host } }, (res) => {
  let body = '';
  res.setEncoding('utf8').on('data', (c) => { body += c; }).on('end', () => process.stdout.write(JSON.stringify({ body, cache: res.headers['cf-cache-status'] })));
}).on('error', (e) => { console.error(e); process.exit(2); }), 1500);`;

/** Blocks this process's event loop (as SIGSTOP would pause it) for `ms`. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* paused */ }
}

test('a node blocked longer than the read-stall timer while a purge is published serves nothing purged once it runs again', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(`body of ${req.url} #${origin.count(req.url)}`);
  });
  const node = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } });
  const get = async (path: string): Promise<{ body: string; cache: string }> => {
    const r = await send(`${node.base}${path}`, { headers: { host: HOST } });
    return { body: r.body, cache: String(r.headers['cf-cache-status']) };
  };
  for (const p of ['/purged.js', '/kept.js']) {
    assert.equal((await get(p)).cache, 'MISS');
    assert.deepEqual(await get(p), { body: `body of ${p} #1`, cache: 'HIT' });
  }
  await sleep(300); // the bus is inside its blocking read

  // Another process publishes the purge half a second into the pause (this one cannot: it is blocked).
  const request = parsePurgeBody(Buffer.from(JSON.stringify({ files: [`http://${HOST}/purged.js`] })), { maxItems: 30 });
  assert.ok(!(request instanceof PurgeError), 'the purge body parses');
  const fields = encodeMessage({ zoneId: 'default', request, origin: 'another-node' });
  const publisher = spawn('sh', ['-c', 'sleep 0.5 && exec "$@"', 'sh', 'redis-cli', '-p', String(redis.port), 'XADD', STREAM, '*', ...fields], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (publisher.exitCode === null) publisher.kill('SIGKILL'); });
  const exited = once(publisher, 'exit');
  // A client (another process) asks for the purged URL during the pause: its request waits in the socket with Redis's reply.
  const client = spawn(process.execPath, ['-e', CLIENT, `${node.base}/purged.js`, HOST], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (client.exitCode === null) client.kill('SIGKILL'); });
  let answer = '';
  client.stdout.on('data', (c: Buffer) => { answer += c.toString('utf8'); });
  const answered = once(client, 'exit');
  await new Promise((r) => setImmediate(r));
  blockEventLoop(PAUSE_MS);

  // The first request served after the pause: Redis delivered the purge during it, so the purged entry must not be served.
  assert.equal((await answered)[0], 0, 'the client got an answer');
  const after = JSON.parse(answer) as { body: string; cache: string };
  assert.notEqual(after.body, 'body of /purged.js #1', `served purged content after the pause (${after.cache})`);
  assert.equal(after.body, 'body of /purged.js #2');
  const [code] = await exited;
  assert.equal(code, 0, 'redis-cli published the purge');

  // Once caught up the gate opens again: the cache serves again (during the gate lookups missed and refetched).
  const deadline = Date.now() + 8000;
  for (;;) {
    const kept = await get('/kept.js');
    if (kept.cache === 'HIT') break;
    assert.ok(Date.now() < deadline, 'the node never served from its cache again after the pause');
    await sleep(50);
  }
  const health = JSON.parse((await send(`${node.adminBase}/healthz`)).body) as { cluster: { pauses: number; applied: number } };
  assert.ok(health.cluster.pauses >= 1, 'the pause was noticed');
  assert.equal(health.cluster.applied, 1, 'the purge was applied from the stream');
  assert.notEqual((await get('/purged.js')).body, 'body of /purged.js #1');
});

// End to end: fleet completion. Three nodes heartbeat their applied position; GET .../purge_cache/{id} counts them; `purge --wait` waits for all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { runCli } from './helpers/serve-process.js';
import { startOrigin, startTestEdge, send, purge, sleep, ADMIN_TOKEN } from './helpers/http.js';
import { redisFor } from './helpers/redis-server.js';

const NODES = '{edgecache:purges}:nodes';

interface Status { applied: number; live: number; nodes: { node: string; lastAppliedId: string; live: boolean; applied: boolean }[] }

const edgecache = runCli;

async function status(adminBase: string, id: string, token = ADMIN_TOKEN): Promise<{ status: number; result: Status }> {
  const r = await send(`${adminBase}/client/v4/zones/default/purge_cache/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, result: (JSON.parse(r.body) as { result: Status }).result };
}

/** Polls until `check` holds (bounded). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 8000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await sleep(50);
  }
}

test('the purge id is its stream id; the status API counts the live nodes that applied it; purge --wait waits for them, or times out', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(`body of ${req.url}`);
  });
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } }));
  const [a, b, c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];

  const answer = await purge(a, 'default', { files: ['http://cdn.example.com/x.js'] });
  assert.equal(answer.status, 200);
  const id = String((answer.json.result as { id: string }).id);
  assert.match(id, /^\d+-\d+$/, 'the purge id is the stream entry id');
  const conn = new Redis(redis.url);
  t.after(() => conn.quit().then(() => {}, () => {}));
  const entries = await conn.xrange('edgecache:purges', id, id);
  assert.equal(entries.length, 1, 'the stream holds an entry under the purge id');

  await until('3 of 3 nodes applied it', async () => { const s = (await status(b.adminBase, id)).result; return s.live === 3 && s.applied === 3; });
  const s = await status(c.adminBase, id);
  assert.equal(s.status, 200);
  assert.equal(s.result.nodes.length, 3);
  assert.ok(s.result.nodes.every((n) => n.live && n.applied && /^\d+-\d+$/.test(n.lastAppliedId)));

  // Same auth as purge; ids that are not purges of the zone are 404.
  assert.equal((await status(a.adminBase, id, 'wrong-token')).status, 401);
  assert.equal((await send(`${a.adminBase}/client/v4/zones/default/purge_cache/${id}`)).status, 401);
  assert.equal((await status(a.adminBase, 'not-a-stream-id')).status, 404);

  // A node that stops leaves the fleet at once; the CLI's --wait then sees 2 of 2.
  await c.close(1000);
  await until('2 live nodes', async () => (await status(a.adminBase, id)).result.live === 2);
  const waited = await edgecache(t, ['purge', '--url', 'http://cdn.example.com/y.js', '--wait', '--timeout', '10', '--admin', a.adminBase, '--token', ADMIN_TOKEN]);
  assert.equal(waited.code, 0, waited.err);
  assert.match(waited.out, /applied on 2 of 2 live nodes/);

  // A live node that never applies (a heartbeat stamped now, at 0-0): --wait times out with exit 1 and says who lags.
  // Its heartbeat is kept fresh while the CLI runs: on a loaded machine starting the CLI alone can outlast the three
  // heartbeats after which a silent node stops counting.
  const stampStuck = async (): Promise<void> => {
    const [secs, micros] = (await conn.time()) as [number | string, number | string];
    await conn.hset(NODES, 'stuck-node', `0-0 ${Number(secs) * 1000 + Math.floor(Number(micros) / 1000)}`);
  };
  await stampStuck();
  let stamping: Promise<void> = Promise.resolve();
  const beat = setInterval(() => { stamping = stampStuck().catch(() => { /* the next beat, or the assertion, says */ }); }, 500);
  let timedOut: Awaited<ReturnType<typeof edgecache>>;
  try {
    timedOut = await edgecache(t, ['purge', '--url', 'http://cdn.example.com/z.js', '--wait', '--timeout', '1.5', '--admin', a.adminBase, '--token', ADMIN_TOKEN]);
  } finally { clearInterval(beat); await stamping; }
  assert.equal(timedOut.code, 1, `${timedOut.out} ${timedOut.err}`);
  assert.match(timedOut.err, /timed out after 1\.5s .*applied on 2 of 3 live nodes; not yet on stuck-node/);
  // Silent for more than three heartbeats, it no longer counts.
  await conn.hset(NODES, 'stuck-node', '0-0 1000');
  const after = (await status(a.adminBase, id)).result;
  assert.deepEqual([after.applied, after.live], [2, 2]);
});

// Several origins per zone: weighted choice, active health checks, failover with one retry, state-change logs and
// metrics, and stale-if-error when every origin is down (RFC 5861 §4: https://www.rfc-editor.org/rfc/rfc5861#section-4).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metric, send, sleep, startTestEdge } from './helpers/http.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { captureLogs } from './helpers/capture-logger.js';

const captureLogger = () => captureLogs<Record<string, unknown>>('info');

/** A real origin that can be killed (every connection cut) and started again on its port. Answers with its name. */
async function killableOrigin(t: TestContext, name: string) {
  const hits: string[] = [];
  let server: Server | undefined;
  let port = 0;
  const start = async (): Promise<void> => {
    const s = createServer((req, res) => {
      hits.push(req.url!);
      const cc = req.url!.startsWith('/cached') ? 'max-age=0, stale-if-error=600' : 'no-store';
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': cc });
      res.end(name);
    });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const kill = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
  };
  await start();
  t.after(kill);
  return { get url() { return `http://127.0.0.1:${port}`; }, hits, kill, start, count: (p: string) => hits.filter((h) => h === p).length };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const HEALTH = { path: '/health', intervalMs: 100, timeoutMs: 300, unhealthyAfter: 2, healthyAfter: 2 };

test('two origins, one killed mid-run: no failed request; down logged and counted; back up; both down → stale-if-error', async (t) => {
  const a = await killableOrigin(t, 'A');
  const b = await killableOrigin(t, 'B');
  const log = captureLogger();
  const edge = await startTestEdge(t, {
    zones: [{ id: 'z', hosts: ['*'], origins: [{ url: a.url, weight: 1 }, { url: b.url, weight: 1 }], healthCheck: HEALTH }],
  }, { logger: log.logger });
  const up = (o: { url: string }): Promise<number> => metric(edge, 'edgecache_origin_up', `zone="z",origin="${o.url}"`);
  await until('both origins checked', () => a.count('/health') > 0 && b.count('/health') > 0);
  assert.equal(await up(a), 1);
  assert.equal(await up(b), 1);
  // Stored while both are up: stale at once (max-age=0), usable on error for 600 s.
  assert.equal((await send(`${edge.base}/cached`)).status, 200);

  const bodies: string[] = [];
  for (let i = 0; i < 20; i++) bodies.push((await send(`${edge.base}/p${i}`)).body);
  assert.ok(bodies.includes('A') && bodies.includes('B'), `both origins serve: ${bodies.join('')}`);

  // Kill A while requests keep coming: connection failures retry on B, so none fails, before or after A is marked down.
  const failures: string[] = [];
  let stop = false;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await send(`${edge.base}/load${i}`);
      if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
    }
  })();
  await sleep(100);
  await a.kill();
  await until('A marked down', async () => (await up(a)) === 0);
  const bBefore = b.hits.length;
  await sleep(300);
  stop = true;
  await load;
  assert.deepEqual(failures, [], 'no failed request');
  assert.ok(b.hits.length > bBefore, 'B took the traffic');
  assert.equal(await up(b), 1);
  assert.equal(await metric(edge, 'edgecache_origin_state_changes_total', `zone="z",origin="${a.url}",state="down"`), 1);
  const down = log.lines.find((l) => l.msg === 'origin is down');
  assert.deepEqual([down?.level, down?.zone, down?.origin, down?.state], [40, 'z', a.url, 'down']);

  // A comes back: up again after healthyAfter passing checks.
  await a.start();
  await until('A back up', async () => (await up(a)) === 1);
  assert.equal(await metric(edge, 'edgecache_origin_state_changes_total', `zone="z",origin="${a.url}",state="up"`), 1);
  assert.ok(log.lines.some((l) => l.msg === 'origin is up' && l.origin === a.url && l.level === 30));

  // Both down: the stored response answers within stale-if-error; an uncached URL fails fast with 502.
  await a.kill();
  await b.kill();
  await until('both down', async () => (await up(a)) === 0 && (await up(b)) === 0);
  const stale = await send(`${edge.base}/cached`);
  assert.equal(stale.status, 200);
  assert.equal(stale.headers['cf-cache-status'], 'STALE');
  const none = await send(`${edge.base}/never-cached`);
  assert.equal(none.status, 502);
  assert.match(none.body, /every origin of zone z fails its health checks/);
});

test('weights share the traffic; health checks stop when the edge closes', async (t) => {
  const a = await killableOrigin(t, 'A');
  const b = await killableOrigin(t, 'B');
  const edge = await startTestEdge(t, {
    zones: [{ id: 'z', hosts: ['*'], origins: [{ url: a.url, weight: 1 }, { url: b.url, weight: 9 }], healthCheck: HEALTH }],
  });
  let na = 0;
  let nb = 0;
  for (let i = 0; i < 100; i++) { if ((await send(`${edge.base}/w${i}`)).body === 'A') na++; else nb++; }
  assert.ok(nb > 3 * na, `weight 9 takes most: A ${na}, B ${nb}`);
  await edge.close(1000);
  const checks = a.count('/health') + b.count('/health');
  await sleep(350);
  assert.equal(a.count('/health') + b.count('/health'), checks, 'no health check after close');
});

test('a single origin: a failure is the answer (502), nothing to fail over to', async (t) => {
  const a = await killableOrigin(t, 'A');
  const edge = await startTestEdge(t, { origin: a.url });
  assert.equal((await send(`${edge.base}/x`)).body, 'A');
  await a.kill();
  assert.equal((await send(`${edge.base}/x`)).status, 502);
  assert.equal((await send(`${edge.base}/x`, { method: 'POST', body: 'b' })).status, 502);
});

test('config: origin or origins (not both, not neither), weights, health check bounds', () => {
  const bad = [
    {}, { origin: 'http://a:1', origins: [{ url: 'http://b:1' }] }, { origins: [] }, { origins: [{ url: 'http://a:1', weight: 0 }] },
    { origins: [{ url: 'http://a:1' }, { url: 'http://a:1' }] }, { origin: 'http://a:1', healthCheck: { intervalMs: 5 } },
    { origin: 'http://a:1', healthCheck: { path: 'health' } },
  ];
  for (const zone of bad) assert.throws(() => validateConfig({ zones: [{ id: 'z', ...zone }] } as never, 't'), ConfigError, JSON.stringify(zone));
  const one = validateConfig({ zones: [{ id: 'z', origin: 'http://a:1' }] }, 't').zones[0]!;
  assert.deepEqual([one.origin, one.origins], ['http://a:1', [{ url: 'http://a:1', weight: 1 }]]);
  const two = validateConfig({ zones: [{ id: 'z', origins: [{ url: 'http://a:1/' }, { url: 'http://b:2', weight: 3 }], healthCheck: {} }] }, 't').zones[0]!;
  assert.deepEqual([two.origin, two.origins[1]], ['http://a:1', { url: 'http://b:2', weight: 3 }]);
  assert.deepEqual(two.healthCheck, { path: '/', intervalMs: 5000, timeoutMs: 2000, unhealthyAfter: 3, healthyAfter: 2 });
});

test('a health check that times out marks the origin down (an aborted check never throws)', async (t) => {
  const hung = createServer(() => { /* never answers */ });
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { hung.close(() => r()); hung.closeAllConnections(); }));
  const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: url, healthCheck: { ...HEALTH, timeoutMs: 50 } }] });
  await until('the hung origin marked down', async () => (await metric(edge, 'edgecache_origin_up', `zone="z",origin="${url}"`)) === 0);
  assert.equal((await send(`${edge.base}/x`)).status, 502);
});

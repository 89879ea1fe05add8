// /healthz and /readyz on the admin listener: degraded (with the reason) when every origin fails or Redis is
// unreachable, ok again when they are back; ready while serving, not ready while shutting down.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { send, sleep, startOrigin, startTestEdge } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';
import { serveProcess } from './helpers/serve-process.js';

interface Health { status: string; reasons?: string[] }
const healthOf = async (adminBase: string): Promise<Health> => JSON.parse((await send(`${adminBase}/healthz`)).body) as Health;

async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** An origin that can be stopped and started again on the same port (stopped after the test). */
async function stoppableOrigin(t: TestContext): Promise<{ port: number; start(port: number): Promise<number>; stop(): Promise<void> }> {
  let server: Server | undefined;
  const start = (port = 0): Promise<number> => new Promise((resolve) => {
    server = createServer((_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('ok'); });
    server.listen(port, '127.0.0.1', () => resolve((server!.address() as AddressInfo).port));
  });
  const stop = (): Promise<void> => new Promise((r) => { server!.close(() => r()); server!.closeAllConnections(); });
  const port = await start();
  t.after(() => (server?.listening ? stop() : undefined));
  return { port, start, stop };
}

test('healthz: degraded with the reason once every origin fails; one zone failing is not; ok again once it answers', async (t) => {
  const { port, start, stop } = await stoppableOrigin(t);
  const up = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('up'); });
  const edge = await startTestEdge(t, { zones: [
    { id: 'flaky', hosts: ['flaky.test'], origin: `http://127.0.0.1:${port}` },
    { id: 'steady', hosts: ['steady.test'], origin: up.url },
  ] });
  const get = (host: string): Promise<number> => send(`${edge.base}/x`, { headers: { host } }).then((r) => r.status);
  assert.equal(await get('flaky.test'), 200);
  assert.deepEqual(await healthOf(edge.adminBase).then((h) => [h.status, h.reasons]), ['ok', undefined]);

  await stop();
  for (let i = 0; i < 4; i++) assert.equal(await get('flaky.test'), 502);
  assert.equal((await healthOf(edge.adminBase)).status, 'ok', 'one zone\'s origin down: the node still serves the other');

  await up.close();
  for (let i = 0; i < 4; i++) assert.equal(await get('steady.test'), 502);
  const degraded = await healthOf(edge.adminBase);
  assert.equal(degraded.status, 'degraded');
  assert.deepEqual(degraded.reasons, ['origins: every origin is failing (zones flaky, steady)']);
  assert.equal((await send(`${edge.adminBase}/readyz`)).status, 200, 'degraded is still ready: stale content may be served');

  await start(port);
  assert.equal(await get('flaky.test'), 200);
  assert.equal((await healthOf(edge.adminBase)).status, 'ok');
});

test('healthz with --workers 2: degraded once every origin fails as the workers see it, ok again once it answers', { timeout: 120_000 }, async (t) => {
  const { port, start, stop } = await stoppableOrigin(t);
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const edge = serveProcess(t, ['--origin', `http://127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--workers', '2'], env);
  const line = await edge.logLine(/edgecache serving with workers/) as { edge: string; admin: string };
  const admin = `http://${line.admin}`;
  assert.equal((await send(`http://${line.edge}/x`)).status, 200);
  assert.equal((await healthOf(admin)).status, 'ok');

  await stop();
  // Each worker counts its own failures (3 in a row make a zone failing); new connections spread over both workers.
  for (let i = 0; i < 12; i++) assert.equal((await send(`http://${line.edge}/x`)).status, 502);
  await until(async () => (await healthOf(admin)).status === 'degraded', 'the primary to learn the workers\' failing origins', 10_000);
  assert.deepEqual((await healthOf(admin)).reasons, ['origins: every origin is failing (zones default)']);

  await start(port);
  for (let i = 0; i < 6; i++) await send(`http://${line.edge}/x`);
  await until(async () => (await healthOf(admin)).status === 'ok', 'ok once the origin answers', 10_000);
  edge.child.kill('SIGTERM');
  await edge.exited;
});

test('healthz: degraded while the cluster\'s Redis is unreachable, ok once it is back', { timeout: 90_000 }, async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  let redis = await startRedis();
  t.after(() => redis.stop());
  const origin = await startOrigin(t, (_req, res) => { res.end('ok'); });
  const edge = await startTestEdge(t, { origin: origin.url, cluster: { redis: redis.url } });
  assert.equal((await healthOf(edge.adminBase)).status, 'ok');
  const port = redis.port;
  await redis.stop();
  await until(async () => (await healthOf(edge.adminBase)).status === 'degraded', 'degraded');
  assert.deepEqual((await healthOf(edge.adminBase)).reasons, ['cluster: Redis unreachable (purges are not received; see README, Cluster)']);
  redis = await startRedis({ port });
  await until(async () => (await healthOf(edge.adminBase)).status === 'ok', 'ok again');
});

test('readyz: 200 while serving; 503 "shutting down" while in-flight requests drain', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/slow') { setTimeout(() => { res.writeHead(200); res.end('slow'); }, 1500); return; }
    res.end('ok');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const ready = await send(`${edge.adminBase}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { ready: true });
  const slow = new Promise<number>((resolve, reject) => {
    httpRequest(`${edge.base}/slow`, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); }).on('error', reject).end();
  });
  await sleep(200);
  const closing = edge.close(5000);
  const draining = await send(`${edge.adminBase}/readyz`);
  assert.equal(draining.status, 503);
  assert.deepEqual(JSON.parse(draining.body), { ready: false, reasons: ['shutting down'] });
  assert.equal(await slow, 200, 'the in-flight request finished');
  await closing;
});

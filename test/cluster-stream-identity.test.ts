// The purge stream's identity and start positions under Redis faults (real redis-server, faults injected here): a
// restore from an older snapshot, a node that starts while Redis is unreachable, and cluster.minReplicas.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisFor, startRedis } from './helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { createRedisBus, type RedisBusOptions } from '../src/cluster/redis-bus.js';
import { BusUnavailableError, type BusHandlers, type PurgeBus, type PurgeMessage, type StreamPosition } from '../src/cluster/bus.js';

const STREAM = 'test:purges';

async function proxyFor(t: TestContext, port: number): Promise<TcpProxy> {
  const p = await startTcpProxy(port);
  t.after(() => p.close());
  return p;
}

function busFor(t: TestContext, url: string, nodeId: string, extra: Partial<RedisBusOptions> = {}): PurgeBus {
  const bus = createRedisBus({ url, nodeId, stream: STREAM, publishTimeoutMs: 1000, ...extra });
  t.after(() => bus.close());
  return bus;
}

function recorder() {
  const applied: string[] = [];
  const resets: string[] = [];
  let position: StreamPosition | null = null;
  const handlers: BusHandlers = {
    apply(_msg, id) { applied.push(id); },
    onReset(reason) { resets.push(reason); },
    onApplied(id, streamId) { position = { id, streamId }; },
  };
  return { applied, resets, handlers, position: () => position };
}

const purge = (n: number): PurgeMessage => ({ zoneId: 'z', origin: 'test', request: { files: [`https://example.com/${n}`] } });

async function waitUntil(isDone: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isDone()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('Redis restored from an older snapshot: a node behind the restored head resets too (the identity is renewed)', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-rdb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await redisFor(t, { dir });
  if (!redis) return;
  const linkB = await proxyFor(t, redis.port);
  const ra = recorder();
  const rb = recorder();
  const a = busFor(t, redis.url, 'node-a');
  const b = busFor(t, linkB.url, 'node-b');
  await a.start(ra.handlers, null);
  await b.start(rb.handlers, null);
  const first = await a.publish(purge(1));
  await waitUntil(() => ra.applied.includes(first) && rb.applied.includes(first), 'both applied purge 1');
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  assert.equal(await admin.call('SAVE'), 'OK', 'snapshot with purge 1 only');
  admin.disconnect();

  linkB.cut(); // B is partitioned: it stays at purge 1
  await waitUntil(() => !b.state().connected, 'B noticed the partition');
  const later = [await a.publish(purge(2)), await a.publish(purge(3))];
  await waitUntil(() => later.every((id) => ra.applied.includes(id)), 'A applied purges 2 and 3');

  // Redis dies and comes back from the snapshot: purges 2 and 3, acknowledged, are gone; B is exactly at the head.
  process.kill(redis.pid, 'SIGKILL');
  await redis.stop();
  const restored = await startRedis({ port: redis.port, dir });
  t.after(() => restored.stop());
  linkB.heal();
  await waitUntil(() => ra.resets.length === 1, 'A (past the restored head) resets');
  assert.match(ra.resets[0]!, /past the stream's last id/);
  await waitUntil(() => rb.resets.length === 1, 'B (at the restored head, so continuous by position) resets too', 15_000);
  assert.match(rb.resets[0]!, /identity/);
  assert.equal(rb.applied.filter((id) => later.includes(id)).length, 0, 'B never saw purges 2 and 3: only the reset covers them');
  // Both go on from the new head (A's writer may reconnect after its reader saw the reset: publish once both are up).
  await waitUntil(() => a.state().connected, 'A is connected again (writer and reader)');
  const after = await a.publish(purge(4));
  await waitUntil(() => ra.applied.includes(after) && rb.applied.includes(after), 'both apply the next purge');
  assert.equal(ra.position()?.streamId, rb.position()?.streamId, 'both adopted the renewed identity');
  assert.equal(ra.resets.length + rb.resets.length, 2, 'one reset each');
});

test('Redis restarted empty: a node positioned before any purge (0-0) resets once its identity is gone', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const linkB = await proxyFor(t, redis.port);
  const ra = recorder();
  const rb = recorder();
  const a = busFor(t, redis.url, 'node-a');
  const b = busFor(t, linkB.url, 'node-b');
  await b.start(rb.handlers, null);
  await a.start(ra.handlers, null);
  await waitUntil(() => rb.position()?.id === '0-0', 'B is at 0-0 (no stream yet)');
  linkB.cut();
  await waitUntil(() => !b.state().connected, 'B noticed the partition');
  await a.publish(purge(1)); // B misses it…
  await redis.stop(); // …and Redis loses it (no persistence)
  const again = await startRedis({ port: redis.port });
  t.after(() => again.stop());
  linkB.heal();
  await waitUntil(() => rb.resets.length === 1, 'B resets: the stream it knew is gone');
  assert.match(rb.resets[0]!, /identity/);
  assert.deepEqual(rb.applied, []);
});

test('a node started while Redis is unreachable applies the purges published before it connects', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const linkB = await proxyFor(t, redis.port);
  const ra = recorder();
  const a = busFor(t, redis.url, 'node-a');
  await a.start(ra.handlers, null);
  await a.publish(purge(0)); // an older purge: before B started, B has nothing it covers
  await new Promise((r) => setTimeout(r, 2500)); // older than B's start-time margin
  linkB.cut();
  const rb = recorder();
  const b = busFor(t, linkB.url, 'node-b');
  await b.start(rb.handlers, null); // Redis unreachable: start() gives up waiting after a few seconds
  assert.equal(b.state().connected, false);
  const missed = await a.publish(purge(1)); // published while B runs (and may be caching) but cannot read
  linkB.heal();
  await waitUntil(() => rb.applied.includes(missed), 'B applied the purge published before it connected');
  assert.equal(rb.applied.length, 1, 'only purges published since B started');
  assert.deepEqual(rb.resets, []);
});

test('cluster.minReplicas: publish resolves once a replica has the purge, and fails fast without one', { timeout: 60_000 }, async (t) => {
  const primary = await redisFor(t);
  if (!primary) return;
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  t.after(() => replica.stop());
  const r = recorder();
  const bus = busFor(t, primary.url, 'node-a', { minReplicas: 1 });
  await bus.start(r.handlers, null);
  const check = new Redis(replica.url, { maxRetriesPerRequest: 1 });
  check.on('error', () => {});
  t.after(() => check.disconnect());
  let id = '';
  const deadline = Date.now() + 15_000;
  while (!id) { // the replica's first sync takes a moment
    id = await bus.publish(purge(1)).catch((err: unknown) => { assert.ok(err instanceof BusUnavailableError); return ''; });
    assert.ok(Date.now() < deadline, 'the replica never acknowledged');
  }
  const onReplica = (await check.call('XRANGE', STREAM, id, id)) as unknown[];
  assert.equal(onReplica.length, 1, 'acknowledged only once the replica has it');
  await replica.stop();
  const started = Date.now();
  await assert.rejects(bus.publish(purge(2)), (err: unknown) => err instanceof BusUnavailableError && /replicas/.test(err.message));
  assert.ok(Date.now() - started < 2500, `failed within the publish bound (${Date.now() - started} ms)`);
});

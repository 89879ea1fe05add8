// Tests for the Redis Streams purge bus against a real redis-server (started per test on a free port).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { redisFor, startRedis } from '../../test/helpers/redis-server.js';
import { BusUnavailableError, type BusHandlers, type PurgeBus, type PurgeMessage } from './bus.js';
import { createRedisBus, type RedisBusOptions } from './redis-bus.js';
import { compareStreamIds } from './stream-format.js';

const STREAM = 'test:purges';

function busFor(t: TestContext, url: string, nodeId: string, extra: Partial<RedisBusOptions> = {}): PurgeBus {
  const bus = createRedisBus({ url, nodeId, stream: STREAM, ...extra });
  t.after(() => bus.close());
  return bus;
}

function adminFor(t: TestContext, url: string): Redis {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  t.after(() => admin.disconnect());
  return admin;
}

interface Applied { id: string; msg: PurgeMessage; at: number }
function recorder(overrides: Partial<BusHandlers> = {}) {
  const applied: Applied[] = [];
  const resets: string[] = [];
  const handlers: BusHandlers = {
    apply(msg, id) {
      applied.push({ id, msg, at: performance.now() });
    },
    onReset(reason) {
      resets.push(reason);
    },
    ...overrides,
  };
  return { applied, resets, handlers, ids: () => applied.map((a) => a.id) };
}

function purge(n: number, origin = 'node-a'): PurgeMessage {
  return { zoneId: 'zone-1', origin, request: { files: [`https://example.com/${n}`], n } };
}

async function waitUntil(isDone: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isDone()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A loopback TCP proxy to Redis that can go silent (drop bytes, refuse new connections) like a partition. */
async function frozenProxyFor(t: TestContext, redisPort: number): Promise<{ url: string; freeze(isFrozen: boolean): void }> {
  let isFrozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (isFrozen) return void client.destroy();
    const upstream = createConnection({ host: '127.0.0.1', port: redisPort });
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from);
      from.on('data', (chunk) => void (isFrozen || to.write(chunk)));
      from.on('close', () => to.destroy());
      from.on('error', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
  const { port } = server.address() as { port: number };
  return { url: `redis://127.0.0.1:${port}`, freeze: (v) => void (isFrozen = v) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

test('a purge published on one node is applied on every node (its own too), all in the same stream order', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const names = ['node-a', 'node-b', 'node-c', 'node-d'];
  const nodes = names.map((name) => ({ name, bus: busFor(t, redis.url, name), rec: recorder() }));
  await Promise.all(nodes.map((n) => n.bus.start(n.rec.handlers, null)));
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];

  // Sequential purges from node a: measure publish → applied on the other three nodes.
  const sentAt = new Map<string, number>();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    const id = await a.bus.publish(purge(i));
    sentAt.set(id, t0);
    ids.push(id);
    await waitUntil(() => nodes.every((n) => n.rec.applied.length === ids.length), `purge ${i} applied everywhere`);
  }
  for (const n of nodes.slice(1)) {
    const lat = n.rec.applied.map((x) => x.at - (sentAt.get(x.id) as number));
    console.log(`# fan-out ${n.name}: median ${median(lat).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms (target: median < 150 ms)`);
  }

  // Concurrent purges from two nodes: the stream decides one order, and every node applies that order.
  const concurrent = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? b : a).bus.publish(purge(100 + i, i % 2 ? 'node-b' : 'node-a'))));
  ids.push(...concurrent);
  const streamOrder = [...ids].sort(compareStreamIds);
  await waitUntil(() => nodes.every((n) => n.rec.applied.length === ids.length), 'all 70 purges applied everywhere');
  for (const n of nodes) {
    assert.deepEqual(n.rec.ids(), streamOrder, `${n.name} applies in stream order`);
    assert.deepEqual(n.rec.resets, [], `${n.name}: a brand-new stream is not a reset`);
    const state = n.bus.state();
    assert.equal(state.applied, 70);
    assert.equal(state.lastAppliedId, streamOrder.at(-1));
    assert.equal(state.connected, true);
  }
  // Payloads arrive intact, with the publishing node as origin.
  const first = nodes[3]?.rec.applied.find((x) => x.id === ids[0]);
  assert.deepEqual(first?.msg, purge(0));
  const fromB = nodes[2]?.rec.applied.find((x) => x.id === concurrent[1]);
  assert.deepEqual(fromB?.msg, purge(101, 'node-b'));
});

test('a consumer restarted from its last applied id catches up with exactly what it missed', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const a = busFor(t, redis.url, 'node-a');
  await a.start(recorder().handlers, null);
  const old = await a.publish(purge(0)); // before b ever started: b must not see it

  const first = recorder();
  const b1 = busFor(t, redis.url, 'node-b');
  await b1.start(first.handlers, null);
  const seen = [await a.publish(purge(1)), await a.publish(purge(2)), await a.publish(purge(3))];
  await waitUntil(() => first.applied.length === 3, 'b applied 3');
  assert.deepEqual(first.ids(), seen);
  assert.ok(!first.ids().includes(old), 'fromId null means only messages from now on');
  const lastId = b1.state().lastAppliedId;
  assert.equal(lastId, seen[2]);
  await b1.close();

  const missed: string[] = [];
  for (let i = 4; i < 9; i++) missed.push(await a.publish(purge(i)));
  const second = recorder();
  const persisted: string[] = [];
  const b2 = busFor(t, redis.url, 'node-b');
  await b2.start({ ...second.handlers, onApplied: (id) => persisted.push(id) }, lastId);
  await waitUntil(() => second.applied.length === 5, 'b caught up');
  assert.deepEqual(second.ids(), missed);
  assert.deepEqual(second.applied.map((x) => x.msg), [4, 5, 6, 7, 8].map((i) => purge(i)));
  assert.deepEqual(second.resets, []);
  assert.equal(persisted.at(-1), missed.at(-1), 'onApplied reports each id to persist');
});

test('a consumer whose last id was trimmed away (XTRIM MAXLEN 0) gets onReset once, then continues from the head', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const admin = adminFor(t, redis.url);
  const a = busFor(t, redis.url, 'node-a');
  await a.start(recorder().handlers, null);
  const first = recorder();
  const b1 = busFor(t, redis.url, 'node-b');
  await b1.start(first.handlers, null);
  await a.publish(purge(1));
  await waitUntil(() => first.applied.length === 1, 'b applied 1');
  const lastId = b1.state().lastAppliedId;
  await b1.close();
  for (let i = 2; i < 7; i++) await a.publish(purge(i));
  assert.equal(await admin.xtrim(STREAM, 'MAXLEN', 0), 6); // purges 1–6: all gone

  const second = recorder();
  const b2 = busFor(t, redis.url, 'node-b');
  await b2.start(second.handlers, lastId); // the reset happens before start() resolves
  assert.equal(second.resets.length, 1);
  assert.match(second.resets[0] as string, /no longer in the stream/);
  const next = await a.publish(purge(7));
  await waitUntil(() => second.applied.length === 1, 'b applied the purge after the reset');
  assert.deepEqual(second.ids(), [next], 'nothing from before the reset is replayed');
  await a.publish(purge(8));
  await waitUntil(() => second.applied.length === 2, 'b applied another');
  assert.equal(second.resets.length, 1, 'onReset is called once');
  assert.equal(b2.state().resets, 1);
});

test('a small maxLen trims the stream; a consumer that fell behind it is reset once', async (t) => {
  // Small stream nodes so that approximate (~) trimming acts at this scale.
  const redis = await redisFor(t, { args: ['--stream-node-max-entries', '4'] });
  if (!redis) return;
  const admin = adminFor(t, redis.url);
  const a = busFor(t, redis.url, 'node-a', { maxLen: 10 });
  await a.start(recorder().handlers, null);
  const first = recorder();
  const b1 = busFor(t, redis.url, 'node-b', { maxLen: 10 });
  await b1.start(first.handlers, null);
  await a.publish(purge(0));
  await waitUntil(() => first.applied.length === 1, 'b applied 1');
  const lastId = b1.state().lastAppliedId;
  await b1.close();
  for (let i = 1; i <= 60; i++) await a.publish(purge(i));
  const len = await admin.xlen(STREAM);
  assert.ok(len >= 10 && len < 30, `MAXLEN ~ 10 keeps the stream short (XLEN ${len})`);

  const second = recorder();
  const b2 = busFor(t, redis.url, 'node-b', { maxLen: 10 });
  await b2.start(second.handlers, lastId);
  assert.equal(second.resets.length, 1);
  const next = await a.publish(purge(61));
  await waitUntil(() => second.applied.length === 1, 'b applied the next purge');
  assert.deepEqual(second.ids(), [next]);
  assert.equal(second.resets.length, 1);
});

test('entries trimmed while a connected consumer was busy are detected (reset once), not silently skipped', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const admin = adminFor(t, redis.url);
  const a = busFor(t, redis.url, 'node-a');
  await a.start(recorder().handlers, null);
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const rec = recorder();
  const b = busFor(t, redis.url, 'node-b');
  await b.start({ ...rec.handlers, apply: async (msg, id) => { rec.handlers.apply(msg, id); if (rec.applied.length === 1) await gate; } }, null);
  await a.publish(purge(1));
  await waitUntil(() => rec.applied.length === 1, 'b is applying the first purge');
  for (let i = 2; i < 6; i++) await a.publish(purge(i)); // b is stuck in apply() meanwhile…
  await admin.xtrim(STREAM, 'MAXLEN', 0); // …and these four are trimmed before b reads them
  release();
  await waitUntil(() => rec.resets.length === 1, 'b noticed the gap');
  const next = await a.publish(purge(6));
  await waitUntil(() => rec.ids().includes(next), 'b applied the purge after the reset');
  assert.equal(rec.applied.length, 2);
  assert.equal(rec.resets.length, 1);
});

test('apply() failing or an unreadable entry resets the cache once each, and consuming goes on', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const admin = adminFor(t, redis.url);
  const rec = recorder();
  const b = busFor(t, redis.url, 'node-b');
  await b.start({ ...rec.handlers, apply: (msg, id) => { if ((msg.request as { n: number }).n === 2) throw new Error('disk full'); rec.handlers.apply(msg, id); } }, null);
  const a = busFor(t, redis.url, 'node-a');
  await a.start(recorder().handlers, null);
  const one = await a.publish(purge(1));
  await a.publish(purge(2));
  await admin.xadd(STREAM, '*', 'garbage', 'x');
  const three = await a.publish(purge(3));
  await waitUntil(() => rec.applied.length === 2, 'b applied 1 and 3');
  assert.deepEqual(rec.ids(), [one, three]);
  assert.equal(rec.resets.length, 2);
  assert.match(rec.resets[0] as string, /disk full/);
  assert.match(rec.resets[1] as string, /unreadable/);
  await assert.rejects(a.publish({ zoneId: 'z', origin: 'node-a', request: undefined }), TypeError);
});

test('with Redis down, publish rejects with BusUnavailableError within ~1 s and state().connected is false', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const a = busFor(t, redis.url, 'node-a');
  await a.start(recorder().handlers, null);
  await a.publish(purge(0));
  assert.equal(a.state().connected, true);
  await redis.stop();
  for (let attempt = 0; attempt < 2; attempt++) {
    const t0 = Date.now();
    await assert.rejects(a.publish(purge(1)), (err: unknown) => err instanceof BusUnavailableError && err.code === 'EBUSUNAVAILABLE');
    // A liveness bound, not a speed target: it fails fast instead of queueing until Redis returns.
    assert.ok(Date.now() - t0 < 2500, `publish failed fast (${Date.now() - t0} ms)`);
    await waitUntil(() => !a.state().connected, 'the bus noticed the outage');
  }
  assert.equal(a.state().connected, false);
});

test('a bus created while Redis is unreachable rejects publish within ~1 s', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  await redis.stop(); // a port that nobody listens on any more
  const a = busFor(t, redis.url, 'node-a');
  const t0 = Date.now();
  await assert.rejects(a.publish(purge(1)), BusUnavailableError);
  assert.ok(Date.now() - t0 < 2500, `publish failed fast (${Date.now() - t0} ms)`);
  assert.equal(a.state().connected, false);
});

test('Redis restarted on the same port without its data: consumers reconnect, reset once (history lost), and resume', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const ra = recorder();
  const rb = recorder();
  const a = busFor(t, redis.url, 'node-a');
  const b = busFor(t, redis.url, 'node-b');
  await a.start(ra.handlers, null);
  await b.start(rb.handlers, null);
  await a.publish(purge(1));
  await waitUntil(() => rb.applied.length === 1, 'b applied 1');
  await redis.stop();
  await waitUntil(() => !a.state().connected && !b.state().connected, 'both noticed the outage');

  const again = await startRedis({ port: redis.port });
  t.after(() => again.stop());
  await waitUntil(() => a.state().connected && b.state().connected, 'both reconnected');
  // Wait for the resets first: a purge published before a node's reset is covered by it, not applied.
  await waitUntil(() => ra.resets.length === 1 && rb.resets.length === 1, 'both reset');
  assert.match(rb.resets[0] as string, /missing|no longer in the stream|identity/);
  const id = await a.publish(purge(2));
  await waitUntil(() => rb.ids().includes(id) && ra.ids().includes(id), 'both applied the purge after the restart');
  for (const [bus, rec] of [[a, ra], [b, rb]] as const) {
    assert.ok(bus.state().reconnects >= 1, `reconnects counted (${bus.state().reconnects})`);
    assert.equal(rec.resets.length, 1, 'the stream lost its history: a node cannot know what it missed');
    assert.equal(rec.applied.at(-1)?.id, id);
  }
});

test('Redis restarted on the same port with its data (AOF): consumers resume where they were, no reset', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-redis-aof-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const persistent = { dir, args: ['--appendonly', 'yes'] };
  const redis = await redisFor(t, persistent);
  if (!redis) return;
  const rb = recorder();
  const a = busFor(t, redis.url, 'node-a');
  const b = busFor(t, redis.url, 'node-b');
  await a.start(recorder().handlers, null);
  await b.start(rb.handlers, null);
  const before = await a.publish(purge(1));
  await waitUntil(() => rb.applied.length === 1, 'b applied 1');
  await redis.stop();
  await waitUntil(() => !b.state().connected, 'b noticed the outage');

  const again = await startRedis({ port: redis.port, ...persistent });
  t.after(() => again.stop());
  await waitUntil(() => a.state().connected, 'a reconnected');
  const after = [await a.publish(purge(2)), await a.publish(purge(3))];
  await waitUntil(() => rb.applied.length === 3, 'b applied the purges published after the restart');
  assert.deepEqual(rb.ids(), [before, ...after]);
  assert.deepEqual(rb.resets, []);
  await waitUntil(() => b.state().connected, 'b reconnected (its idle writer too)'); // reconnects count when both are back
  assert.ok(b.state().reconnects >= 1, `reconnects counted (${b.state().reconnects})`);
  const { lagMs } = b.state();
  assert.ok(lagMs >= 0 && lagMs < 60_000, `lag measured from the applied id's timestamp (${lagMs} ms)`);
});

test('a silent network (no FIN, no replies) is detected: publish fails fast, the blocked reader reconnects', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const proxy = await frozenProxyFor(t, redis.port);
  const a = busFor(t, proxy.url, 'node-a');
  const rb = recorder();
  const b = busFor(t, proxy.url, 'node-b');
  await a.start(recorder().handlers, null);
  await b.start(rb.handlers, null);
  const before = await a.publish(purge(1));
  await waitUntil(() => rb.applied.length === 1, 'b applied 1');

  proxy.freeze(true);
  const t0 = Date.now();
  await assert.rejects(a.publish(purge(2)), BusUnavailableError);
  assert.ok(Date.now() - t0 < 2500, `publish failed fast (${Date.now() - t0} ms)`);
  // b's XREAD BLOCK 1000 never answers: the stall watchdog drops the connection.
  await waitUntil(() => !b.state().connected, 'b noticed the silent connection', 12_000);

  proxy.freeze(false);
  await waitUntil(() => a.state().connected && b.state().connected, 'both reconnected', 12_000);
  const after = await a.publish(purge(3));
  await waitUntil(() => rb.ids().includes(after), 'b applied the purge after the partition');
  assert.deepEqual(rb.ids().filter((id) => id !== after), [before], 'the timed-out publish was never recorded');
  assert.deepEqual(rb.resets, []);
  assert.ok(b.state().reconnects >= 1, `reconnects counted (${b.state().reconnects})`);
});

test('close() stops a consumer blocked in XREAD without waiting for the block to time out', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const b = busFor(t, redis.url, 'node-b'); // close() is idempotent
  await b.start(recorder().handlers, null);
  await new Promise((r) => setTimeout(r, 200)); // now inside XREAD BLOCK 1000
  const t0 = Date.now();
  await b.close();
  assert.ok(Date.now() - t0 < 900, `close() took ${Date.now() - t0} ms; XREAD blocks for 1000`);
  assert.equal(b.state().connected, false);
  await assert.rejects(b.publish(purge(1)), BusUnavailableError);
});

// Sentinel: nodes find the primary through Sentinel and follow a failover; a promoted replica that lacks the last purge makes every node reset (no purge lost).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, hasRedisCli, startSentinel } from './helpers/redis-cluster.js';
import { REDIS_HINT } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';
import { createRedisBus } from '../src/cluster/redis-bus.js';
import type { PurgeBus, PurgeMessage } from '../src/cluster/bus.js';
import { until } from './helpers/until.js';

const STREAM = 'edgecache:purges';

function purgeOf(tag: string): PurgeMessage {
  return { zoneId: 'default', request: { kind: 'tags', tags: [tag] } as never, origin: 'test' };
}

test('Sentinel: a failover to a replica that missed the last purge resets every node, then purges flow through the new primary', { timeout: 120_000 }, async (t) => {
  if (!requireService(t, 'redis-cli', hasRedisCli(), REDIS_HINT)) return;
  const s = await startSentinel();
  t.after(() => s.stop());
  const target = { sentinels: [{ host: '127.0.0.1', port: s.sentinel.port }], name: s.name };

  const applied: string[][] = [[], []];
  const resets = [0, 0];
  const buses: PurgeBus[] = [];
  for (let n = 0; n < 2; n++) {
    const bus = createRedisBus({ target, nodeId: `node-${n}` });
    t.after(() => bus.close());
    await bus.start({ apply: async (m) => { applied[n]!.push((m.request as { tags: string[] }).tags[0]!); }, onReset: async () => { resets[n]!++; } }, null);
    buses.push(bus);
  }
  await until('both buses connected through Sentinel', 10_000, () => buses.every((b) => b.state().connected));
  await buses[0]!.publish(purgeOf('replicated'));
  await until('applied on both nodes', 10_000, () => applied.every((a) => a.includes('replicated')));
  await until('the replica has it', 10_000, () => cli(s.replica.port, 'XLEN', STREAM).trim() === '1');
  const identity = buses[0]!.state().streamId;
  assert.ok(identity, 'the stream has an identity');
  assert.equal(cli(s.replica.port, 'GET', `{${STREAM}}:id`).trim(), identity, 'replicated with it');

  // The replica stops (and its link is cut, so nothing is left in flight to it); a purge is acknowledged by the
  // primary alone and applied by both nodes.
  process.kill(s.replica.pid, 'SIGSTOP');
  let isReplicaStopped = true;
  t.after(() => { if (isReplicaStopped) process.kill(s.replica.pid, 'SIGCONT'); });
  assert.equal(cli(s.primary.port, 'CLIENT', 'KILL', 'TYPE', 'replica').trim(), '1', 'the replication link is cut');
  await buses[1]!.publish(purgeOf('lost-in-failover'));
  await until('the unreplicated purge applied on both nodes', 10_000, () => applied.every((a) => a.includes('lost-in-failover')));

  // The primary dies; Sentinel promotes the replica, which never got that purge.
  process.kill(s.primary.pid, 'SIGKILL');
  process.kill(s.replica.pid, 'SIGCONT');
  isReplicaStopped = false;
  await until('Sentinel promoted the replica', 60_000, () => s.primaryPort() === s.replica.port);
  assert.equal(cli(s.replica.port, 'XLEN', STREAM).trim(), '1', 'the new primary lacks the last purge');

  // Each node was past the new primary's last entry: history lost, so every node drops its cache.
  await until('every node reset', 30_000, () => resets.every((r) => r >= 1));
  await until('both buses connected to the new primary', 30_000, () => buses.every((b) => b.state().connected));
  assert.notEqual(buses[0]!.state().streamId, identity, 'the stream got a new identity');
  assert.equal(buses[1]!.state().streamId, buses[0]!.state().streamId, 'both nodes follow it');

  await until('a purge is published through the new primary', 10_000, async () => { try { await buses[0]!.publish(purgeOf('after')); return true; } catch { return false; } });
  await until('and applied on both nodes', 10_000, () => applied.every((a) => a.at(-1) === 'after'));
});

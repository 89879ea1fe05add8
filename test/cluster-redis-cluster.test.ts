// A 3-master Redis Cluster: the purge stream, heartbeats and shared tier work across its slots; a node never reports connected while it cannot read the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, hasRedisCli, startRedisCluster } from './helpers/redis-cluster.js';
import { REDIS_HINT } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';
import { createRedisBus } from '../src/cluster/redis-bus.js';
import type { PurgeBus, PurgeMessage } from '../src/cluster/bus.js';
import { createRedisTier, type RedisTier } from '../src/storage/redis-tier.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import { contractInput, type ContractEntry } from '../src/storage/store.contract.js';
import { until } from './helpers/until.js';

const STREAM = 'edgecache:purges';

function purgeOf(i: number): PurgeMessage {
  return { zoneId: 'default', request: { kind: 'tags', tags: [`t${i}`] } as never, origin: 'test' };
}

test('Redis Cluster: purges reach every node in order, heartbeats count them, the tier works per zone slot, and an unreadable stream is not "connected"', { timeout: 120_000 }, async (t) => {
  if (!requireService(t, 'redis-cli', hasRedisCli(), REDIS_HINT)) return;
  const rc = await startRedisCluster();
  t.after(() => rc.stop());
  const seed = `redis://127.0.0.1:${rc.masters[1]!.port}`;

  // The stream, its identity and the heartbeats share one slot, so the bus's scripts and pipelines work on a cluster.
  const slot = (k: string): number => Number(cli(rc.masters[0]!.port, 'CLUSTER', 'KEYSLOT', k).trim());
  assert.equal(slot(`{${STREAM}}:id`), slot(STREAM));
  assert.equal(slot(`{${STREAM}}:nodes`), slot(STREAM));

  const applied: string[][] = [[], []];
  const resets = [0, 0];
  const buses: PurgeBus[] = [];
  for (let n = 0; n < 2; n++) {
    const bus = createRedisBus({ target: { url: seed, isCluster: true }, nodeId: `node-${n}` });
    t.after(() => bus.close());
    await bus.start({ apply: async (m) => { applied[n]!.push((m.request as { tags: string[] }).tags[0]!); }, onReset: async () => { resets[n]!++; } }, null);
    buses.push(bus);
  }
  await until('both buses connected', 10_000, () => buses.every((b) => b.state().connected));
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push(await buses[i % 2]!.publish(purgeOf(i)));
  const want = Array.from({ length: 20 }, (_, i) => `t${i}`);
  await until('every purge applied on both nodes', 10_000, () => applied.every((a) => a.length === 20));
  assert.deepEqual(applied[0], want, 'node 0 applied them in order');
  assert.deepEqual(applied[1], want, 'node 1 applied them in order');
  await until('the heartbeats count both nodes', 10_000, async () => {
    const { fleet } = await (buses[0] as unknown as { progress(id: string): Promise<{ fleet: { applied: number; live: number } }> }).progress(ids.at(-1)!);
    return fleet.live === 2 && fleet.applied === 2;
  });
  assert.deepEqual(resets, [0, 0], 'no reset on a healthy cluster');

  // The shared tier: zones hash to their own slots; every script touches one zone's keys.
  const tiers: RedisTier[] = [0, 1].map(() => {
    const tier = createRedisTier({ target: { url: seed, isCluster: true }, normalize: normalizeVaryValue, opTimeoutMs: 3000 });
    t.after(() => tier.close());
    return tier;
  });
  const zones = ['alpha', 'beta', 'gamma', 'delta'];
  assert.ok(new Set(zones.map((z) => slot(`x{${z}}`))).size > 1, 'the zones land in different slots');
  const entries: ContractEntry[] = zones.map((zoneId) => ({ zoneId, path: `/${zoneId}.js`, tags: ['red'] }));
  for (const e of entries) assert.equal(await tiers[0]!.put(contractInput(e), await tiers[0]!.fence(e.zoneId!)), true, `stored in ${e.zoneId}`);
  for (const e of entries) assert.equal((await tiers[1]!.get(contractInput(e).objectKey, {}))?.body.toString(), contractInput(e).body.toString(), `node 1 reads ${e.zoneId}`);
  const lateFence = await tiers[1]!.fence('beta');
  assert.equal(await tiers[1]!.purgeStrict({ kind: 'tag', zoneId: 'beta', tag: 'red' }, false), 1, 'a tag purge in one zone');
  assert.equal(await tiers[0]!.get(contractInput(entries[1]!).objectKey, {}), undefined, 'purged in beta');
  assert.equal(await tiers[0]!.put(contractInput(entries[1]!), lateFence), false, 'a late write in beta is fenced');
  assert.notEqual(await tiers[0]!.get(contractInput(entries[0]!).objectKey, {}), undefined, 'alpha untouched');
  await tiers[0]!.clear();
  for (const e of entries) assert.equal(await tiers[1]!.get(contractInput(e).objectKey, {}), undefined, `clear reached ${e.zoneId}`);
  for (const tier of tiers) assert.equal(tier.state().errors, 0, 'no tier errors');

  // The master holding the stream's slot stops answering: the cluster cannot serve the stream, and no node says connected.
  const owner = rc.masters.find((m) => Number(cli(m.port, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot(STREAM))).trim()) > 0)!;
  assert.ok(owner, 'one master holds the stream');
  process.kill(owner.pid, 'SIGSTOP');
  let isStopped = true;
  t.after(() => { if (isStopped) process.kill(owner.pid, 'SIGCONT'); });
  await until('no bus reports connected while the stream cannot be read', 20_000, () => buses.every((b) => !b.state().connected));
  await assert.rejects(buses[0]!.publish(purgeOf(99)), 'publishing fails meanwhile');
  process.kill(owner.pid, 'SIGCONT');
  isStopped = false;
  await until('both buses connected again', 30_000, () => buses.every((b) => b.state().connected));
  const before = applied.map((a) => a.length);
  await until('a purge after the outage is published', 10_000, async () => { try { await buses[1]!.publish(purgeOf(100)); return true; } catch { return false; } });
  await until('and applied on both nodes', 10_000, () => applied.every((a, n) => a.at(-1) === 't100' && a.length > before[n]!));
});

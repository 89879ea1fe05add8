// cluster.* settings: where the purge stream's Redis is (one server, Redis Cluster, Sentinel), and what is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError } from './load.js';
import { clusterTarget, sharedCacheOf } from './schema.js';
import { companionKey, hashTagOf } from '../cluster/redis-connect.js';

const zones = [{ id: 'default', origin: 'http://127.0.0.1:1' }];

test('cluster.redis, redisCluster and sentinels become the Redis target of the bus and the tier', () => {
  const one = validateConfig({ zones, cluster: { redis: 'redis://10.0.0.5:6379' } }, 'test');
  assert.deepEqual(clusterTarget(one.cluster!), { url: 'redis://10.0.0.5:6379', isCluster: false });
  const rc = validateConfig({ zones, cluster: { redis: 'redis://10.0.0.5:7000', redisCluster: true } }, 'test');
  assert.deepEqual(clusterTarget(rc.cluster!), { url: 'redis://10.0.0.5:7000', isCluster: true });
  const sentinel = validateConfig({ zones, cluster: { sentinels: ['10.0.0.7:26379', '[::1]:26380'], name: 'edge' } }, 'test');
  assert.deepEqual(clusterTarget(sentinel.cluster!), { url: undefined, sentinels: [{ host: '10.0.0.7', port: 26379 }, { host: '::1', port: 26380 }], name: 'edge' });
  const tier = validateConfig({ zones, cluster: { redis: 'redis://a:1', sharedCache: { maxBytes: 1 << 20 } } }, 'test');
  assert.equal(sharedCacheOf(tier)?.maxBytes, 1 << 20);
  assert.equal(sharedCacheOf(validateConfig({ zones, cluster: { redis: 'redis://a:1', sharedCache: true } }, 'test'))?.maxBytes, undefined, 'default: from maxmemory');
});

test('a cluster without a Redis, Sentinel with Redis Cluster, and bad sentinel addresses are refused', () => {
  assert.throws(() => validateConfig({ zones, cluster: {} }, 'test'), (e: unknown) => e instanceof ConfigError && /redis .*or sentinels/.test(e.message));
  assert.throws(() => validateConfig({ zones, cluster: { redis: 'redis://a:1', redisCluster: true, sentinels: ['b:2'] } }, 'test'), ConfigError);
  assert.throws(() => validateConfig({ zones, cluster: { sentinels: ['no-port'] } }, 'test'), ConfigError);
  assert.throws(() => validateConfig({ zones, cluster: { redis: 'redis://a:1', sharedCache: { maxBytes: 0 } } }, 'test'), ConfigError);
});

test('keys used together share a Redis Cluster slot: the stream name is the hash tag of its companions', () => {
  assert.equal(companionKey('edgecache:purges', 'id'), '{edgecache:purges}:id');
  assert.equal(companionKey('app{ec}:purges', 'nodes'), 'app{ec}:purges:nodes', 'a name with a tag keeps it');
  assert.equal(hashTagOf('a}b{c}'), 'a}b{c}', 'the first { decides, as in Redis');
  assert.throws(() => hashTagOf('x{}y'), TypeError, 'an empty tag is no tag: wrapping would change the slot');
  assert.throws(() => validateConfig({ zones, cluster: { redis: 'redis://a:1', stream: 'bad}name' } }, 'test'), ConfigError);
});

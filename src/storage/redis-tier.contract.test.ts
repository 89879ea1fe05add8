// The store contract suite on the Redis shared tier (one throw-away redis-server, a fresh key prefix per test).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { runStoreContract } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { hasRedisServer, REDIS_HINT, startRedis, type RedisHandle } from '../../test/helpers/redis-server.js';
import { requireService } from '../../test/helpers/service.js';
import { createRedisTier, type RedisTier } from './redis-tier.js';

if (!hasRedisServer()) {
  test('redis tier: store contract', (t) => { requireService(t, 'redis-server', false, REDIS_HINT); });
} else {
  let server: Promise<RedisHandle> | undefined;
  let admin: Redis | undefined;
  let n = 0;
  after(async () => {
    admin?.disconnect();
    if (server) await (await server).stop();
  });
  runStoreContract('redis tier', async () => {
    server ??= startRedis();
    const { url } = await server;
    admin ??= new Redis(url, { maxRetriesPerRequest: 1 });
    const prefix = `contract:${process.pid}:${++n}:`;
    // A generous bound: the suite checks behaviour (5 MB bodies included), not latency.
    const open = (): RedisTier => createRedisTier({ url, prefix, normalize: normalizeVaryValue, opTimeoutMs: 5000 });
    let current = open();
    return {
      store: current,
      // The data lives in Redis: a new client with the same prefix sees everything the closed one stored.
      reopen: async () => { await current.close(); current = open(); return current; },
      cleanup: async () => {
        const errors = current.state().errors;
        await current.close();
        const keys = await admin!.keys(`${prefix}*`);
        if (keys.length > 0) await admin!.del(...keys);
        assert.equal(errors, 0, 'no tier operation failed');
      },
    };
  });
}

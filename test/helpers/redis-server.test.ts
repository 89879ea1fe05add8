// Tests for the redis-server helper: starts on a free port, answers PING, stops by pid, restarts on the same port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { hasRedisServer, REDIS_HINT, startRedis } from './redis-server.js';
import { requireService } from './service.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('startRedis runs a throw-away server that stop() ends by pid, removing its temp dir', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const r = await startRedis();
  t.after(() => r.stop());
  assert.equal(r.url, `redis://127.0.0.1:${r.port}`);
  assert.equal(isAlive(r.pid), true);
  const client = new Redis(r.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  t.after(() => client.disconnect());
  assert.equal(await client.ping(), 'PONG');
  assert.deepEqual(await client.config('GET', 'save'), ['save', '']);
  assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'no']);
  assert.equal(((await client.config('GET', 'dir')) as string[])[1], r.dir);
  await r.stop();
  assert.equal(isAlive(r.pid), false);
  assert.equal(existsSync(r.dir), false);
  await r.stop(); // idempotent
});

test('startRedis restarts on the same port, keeping data in a caller-owned dir', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-redis-keep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { dir, args: ['--appendonly', 'yes'] };
  const first = await startRedis(opts);
  t.after(() => first.stop());
  const c1 = new Redis(first.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  c1.on('error', () => {});
  t.after(() => c1.disconnect());
  await c1.set('k', 'v');
  await first.stop();
  assert.ok(existsSync(dir), 'a caller-owned dir is kept');

  const second = await startRedis({ ...opts, port: first.port });
  t.after(() => second.stop());
  assert.equal(second.port, first.port);
  const c2 = new Redis(second.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  c2.on('error', () => {});
  t.after(() => c2.disconnect());
  assert.equal(await c2.get('k'), 'v');
});

test('startRedis reports why a server could not start', async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  await assert.rejects(startRedis({ args: ['--no-such-option', 'x'] }), /could not start redis-server[\s\S]*no-such-option/i);
});

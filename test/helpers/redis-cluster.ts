// Test helper: a throw-away 3-master Redis Cluster, and a Sentinel-watched primary with one replica, on 127.0.0.1; every process stopped by its pid.
//
//   if (!requireService(t, 'redis-cli', hasRedisCli(), REDIS_HINT)) return;
//   const c = await startRedisCluster();
//   t.after(() => c.stop());
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCommand } from './service.js';
import { redisServerPath, startRedis, type RedisHandle } from './redis-server.js';

export function redisCliPath(): string | null {
  return findCommand('/usr/bin/redis-cli') ?? findCommand('redis-cli');
}

/** redis-server and redis-cli (the cluster is created with redis-cli --cluster create). */
export function hasRedisCli(): boolean {
  return redisServerPath() !== null && redisCliPath() !== null;
}

/** Runs redis-cli against 127.0.0.1:port (bounded: 10 s); its stdout, or throws with its stderr. */
export function cli(port: number, ...args: string[]): string {
  const r = spawnSync(redisCliPath()!, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try { if (check()) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await sleep(100);
  }
}

export interface RedisClusterHandle {
  masters: RedisHandle[];
  /** host:port seeds for ioredis / cluster.redis */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const masters: RedisHandle[] = [];
  const stop = async (): Promise<void> => { await Promise.all(masters.map((m) => m.stop())); };
  try {
    for (let i = 0; i < 3; i++) {
      masters.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000', '--cluster-config-file', 'nodes.conf'] }));
    }
    cli(masters[0]!.port, '--cluster', 'create', ...masters.map((m) => `127.0.0.1:${m.port}`), '--cluster-replicas', '0', '--cluster-yes');
    await until('cluster_state:ok on every master', 20_000, () => masters.every((m) => cli(m.port, 'CLUSTER', 'INFO').includes('cluster_state:ok')));
  } catch (err) {
    await stop();
    throw err;
  }
  return { masters, nodes: masters.map((m) => ({ host: '127.0.0.1', port: m.port })), stop };
}

export interface SentinelHandle {
  primary: RedisHandle;
  replica: RedisHandle;
  sentinel: RedisHandle;
  name: string;
  /** The port of the primary Sentinel names now. */
  primaryPort(): number;
  stop(): Promise<void>;
}

/** A primary, one replica and one Sentinel (quorum 1, down after 1 s) watching them under `name`. */
export async function startSentinel(name = 'ecprimary'): Promise<SentinelHandle> {
  const procs: RedisHandle[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-sentinel-'));
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = await startRedis();
    procs.push(primary);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    procs.push(replica);
    await until('the replica in sync', 10_000, () => cli(replica.port, 'INFO', 'replication').includes('master_link_status:up'));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      'sentinel resolve-hostnames no',
      '',
    ].join('\n'));
    const sentinel = await startRedis({ configFile: conf, args: ['--sentinel'] });
    procs.push(sentinel);
    const primaryPort = (): number => Number(cli(sentinel.port, 'SENTINEL', 'get-master-addr-by-name', name).trim().split('\n')[1]);
    await until('Sentinel sees the replica', 15_000, () => /num-slaves\n1\n/.test(cli(sentinel.port, 'SENTINEL', 'master', name)));
    return { primary, replica, sentinel, name, primaryPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

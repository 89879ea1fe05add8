// The purge bus's ioredis connections: how they are opened, the eviction-policy check, bounded waits (ready, closed, deadlines, aborts).
import type { RedisOptions } from 'ioredis';
import { openRedis, type RedisConn, type RedisTarget } from './redis-connect.js';

export const ABORTED = Symbol('aborted');

/** A connection of the bus (role writer or reader) for this node. */
export function openBusConnection(target: RedisTarget, role: 'writer' | 'reader', nodeId: string): RedisConn {
  const name = nodeId.replace(/[^\w.:-]/g, '_');
  const common: RedisOptions = {
    enableOfflineQueue: false, // fail fast while disconnected: nothing is queued
    maxRetriesPerRequest: 0, // in-flight commands fail when the connection drops…
    autoResendUnfulfilledCommands: false, // …and are not replayed after the caller was told they failed
    connectTimeout: 2000,
  };
  // No ioredis socketTimeout: its timer outlives close() and holds the process; stalls are handled by the bus (withDeadline).
  return openRedis(target, { ...common, connectionName: `edgecache-bus-${role}:${name}` });
}

/** The stream and its identity must not be evicted: an allkeys-* policy may (detected, but every node then resets). */
export async function checkEvictionPolicy(conn: RedisConn, timeoutMs: number, log: { error(o: object, m: string): void }, stream: string): Promise<void> {
  try {
    const reply = await withDeadline(conn.call('CONFIG', 'GET', 'maxmemory-policy'), Date.now() + timeoutMs);
    const policy = Array.isArray(reply) ? String(reply[1]) : '';
    if (policy.startsWith('allkeys-')) {
      log.error({ policy, stream }, 'purge bus: Redis may evict the purge stream (maxmemory-policy allkeys-*); use noeviction or a volatile-* policy, or a Redis of its own for the shared tier (cluster.sharedCache.redis)');
    }
  } catch { /* CONFIG may be disabled (managed Redis): nothing to check */ }
}

export function waitReady(conn: RedisConn, deadline: number, signal: AbortSignal): Promise<boolean> {
  if (conn.status === 'ready') return Promise.resolve(true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (isReady: boolean): void => {
      conn.off('ready', onReady);
      signal.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      resolve(isReady);
    };
    const onReady = (): void => finish(true);
    const onAbort = (): void => finish(false);
    const timer = Number.isFinite(deadline) ? setTimeout(() => finish(false), Math.max(0, deadline - Date.now())) : undefined;
    conn.once('ready', onReady);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** No reply from Redis in time: the command may still have been executed. */
export class StallError extends Error {}

/** Resolves once the connection has closed (or at once if it is not up), or on abort. */
export function waitClosed(conn: RedisConn, signal: AbortSignal): Promise<void> {
  if (conn.status !== 'ready' || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      conn.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    conn.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  p.catch(() => {}); // a late rejection after the deadline must not become unhandled
  const ms = Math.max(0, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StallError(`no reply within ${ms} ms`)), ms).unref(); // sockets keep us alive
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  p.catch(() => {});
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

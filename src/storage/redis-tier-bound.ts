// Time bounds on the shared tier's Redis operations (TIER_TIMEOUT), and the wait for its first connection.
import type { RedisConn } from '../cluster/redis-connect.js';
import { RedisTierError } from './redis-tier-error.js';

/** An operation's time bound: `at` may move on once the size of the body it moves is known. */
export interface Bound { at: number }

export function checkBound(bound: Bound): void {
  if (Date.now() >= bound.at) throw new RedisTierError('TIER_TIMEOUT', 'operation bound reached');
}

export function waitReady(conn: RedisConn, deadline: number): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (isReady: boolean): void => {
      conn.off('ready', onReady);
      conn.off('error', onFail);
      clearTimeout(timer);
      resolve(isReady);
    };
    const onReady = (): void => finish(true);
    const onFail = (): void => finish(false);
    const timer = setTimeout(onFail, Math.max(0, deadline - Date.now()));
    conn.once('ready', onReady);
    conn.once('error', onFail);
  });
}

/** Rejects with TIER_TIMEOUT once `bound.at` has passed (it may move on while `p` runs). */
export function withBound<T>(p: Promise<T>, bound: Bound): Promise<T> {
  p.catch(() => {}); // a late rejection after the bound must not become unhandled
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    const check = (): void => {
      const left = bound.at - Date.now();
      if (left > 0) { timer = setTimeout(check, left); timer.unref(); return; }
      reject(new RedisTierError('TIER_TIMEOUT', 'no reply in time'));
    };
    check();
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

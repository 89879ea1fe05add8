// Publishing to the purge stream: XADD in a script Redis runs even when full (a purge must get through), WAIT for replicas, trimming by age.
import { defineAllowOom, runAllowOom, type RedisConn } from './redis-connect.js';
import { withDeadline } from './bus-connection.js';

/** KEYS: the stream; ARGV: the approximate cap on entries, then the entry's fields. Returns its id. */
const LUA_APPEND = String.raw`return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))`;

export function defineAppendCommand(conn: RedisConn): void {
  defineAllowOom(conn, 'busAppend', 1, LUA_APPEND);
}

/** Appends a purge; the entry id Redis gave it (a StallError after `deadline`: it may still have been recorded). */
export function appendEntry(conn: RedisConn, stream: string, maxLen: number, fields: string[], deadline: number): Promise<unknown> {
  return withDeadline(runAllowOom(conn, 'busAppend', [stream, maxLen, ...fields]), deadline);
}

/** How many replicas acknowledged the writes so far (WAIT), 0 when WAIT failed or did not answer in time. */
export async function replicasWithIt(conn: RedisConn, replicas: number, deadline: number): Promise<number> {
  const timeout = Math.max(1, deadline - Date.now());
  return Number(await withDeadline(conn.call('WAIT', replicas, timeout), deadline + 100).catch(() => 0));
}

/** Drops entries older than `maxAgeMs` (XTRIM MINID ~); failures are only logged. */
export function trimOlderThan(conn: RedisConn, stream: string, maxAgeMs: number, log: { warn(o: object, m: string): void }): void {
  conn.call('XTRIM', stream, 'MINID', '~', `${Math.max(0, Date.now() - maxAgeMs)}-0`).catch((err: unknown) => {
    log.warn({ err: err instanceof Error ? err.message : String(err), stream }, 'purge bus: trimming old entries failed');
  });
}

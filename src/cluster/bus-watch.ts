// The purge bus's view of its two connections: errors logged once per outage, "both up" transitions, and a connection ioredis ended restarted.
import { backoff } from './backoff.js';
import type { RedisConn } from './redis-connect.js';

export interface WatchOptions {
  stream: string;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  isClosing(): boolean;
  /** A connection became ready (after each reconnect too). */
  onReady(role: 'writer' | 'reader'): void;
}

export interface ConnectionWatch {
  /** Both connections are ready. */
  isUp(): boolean;
  /** Times both came back after being down. */
  reconnects(): number;
}

export function watchConnections(writer: RedisConn, reader: RedisConn, opts: WatchOptions): ConnectionWatch {
  let isUp = false;
  let wasEverUp = false;
  let reconnects = 0;
  const update = (): void => {
    const up = writer.status === 'ready' && reader.status === 'ready';
    if (up === isUp) return;
    isUp = up;
    if (opts.isClosing()) return;
    if (up && wasEverUp) {
      reconnects++;
      opts.log.info({ stream: opts.stream, reconnects }, 'purge bus: reconnected to Redis');
    } else if (!up) {
      opts.log.warn({ stream: opts.stream }, 'purge bus: lost the connection to Redis; publishing fails until it is back');
    }
    if (up) wasEverUp = true;
  };
  for (const [conn, role] of [[writer, 'writer'], [reader, 'reader']] as const) {
    let isErrorLogged = false;
    let restarts = 0;
    conn.on('error', (err: unknown) => {
      if (isErrorLogged || opts.isClosing()) return;
      isErrorLogged = true; // once per outage; ioredis repeats it on every retry
      opts.log.warn({ role, err: err instanceof Error ? err.message : String(err), stream: opts.stream }, 'purge bus: Redis connection error');
    });
    conn.on('ready', () => {
      isErrorLogged = false;
      restarts = 0;
      opts.onReady(role);
      update();
    });
    conn.on('close', update);
    conn.on('end', () => {
      update();
      if (opts.isClosing()) return;
      // ioredis gives a connection up when its connector fails (a Sentinel lookup cut short): start it again, as the
      // retry strategy would have, so the bus never stays disconnected while the process runs.
      setTimeout(() => { if (!opts.isClosing() && conn.status === 'end') conn.connect().catch(() => {}); }, backoff(++restarts)).unref();
    });
  }
  return { isUp: () => isUp, reconnects: () => reconnects };
}

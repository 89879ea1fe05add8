// Measuring this node's clock against Redis's (TIME), the tolerance the README assumes, and the warning past it.
import { performance } from 'node:perf_hooks';
import type { RedisConn } from './redis-connect.js';
import { withDeadline } from './bus-connection.js';

/** The clock difference to Redis the README assumes at most. */
export const CLOCK_TOLERANCE_MS = 1000;
/** How often the offset is measured again (besides on every writer reconnect). */
export const OFFSET_EVERY_MS = 60_000;

/** This node's clock minus Redis's (TIME, half the round trip added); null on a reply that is not TIME's. Rejects on failure. */
async function measureClockOffset(conn: RedisConn, now: () => number, timeoutMs: number): Promise<number | null> {
  const sent = performance.now();
  const reply = await withDeadline(conn.call('TIME'), Date.now() + timeoutMs);
  const rtt = performance.now() - sent;
  if (!Array.isArray(reply)) return null;
  const redisNow = Number(reply[0]) * 1000 + Number(reply[1]) / 1000 + rtt / 2;
  return Math.round(now() - redisNow);
}

/** Whether a measured offset is beyond what the README assumes (null: not measured). */
function isClockOff(offsetMs: number | null): boolean {
  return offsetMs !== null && Math.abs(offsetMs) > CLOCK_TOLERANCE_MS;
}

/** Measures the offset into `state.clockOffsetMs`, warning once when it goes beyond the tolerance; a failure leaves it as it was. */
export async function updateClockOffset(
  conn: RedisConn, now: () => number, timeoutMs: number, state: { clockOffsetMs: number | null }, log: { warn(o: object, m: string): void },
): Promise<void> {
  try {
    const offset = await measureClockOffset(conn, now, timeoutMs);
    if (offset === null) return;
    const wasOff = isClockOff(state.clockOffsetMs);
    state.clockOffsetMs = offset;
    if (isClockOff(offset) && !wasOff) {
      log.warn({ offsetMs: offset, toleranceMs: CLOCK_TOLERANCE_MS }, 'cluster: this node\'s clock is off from Redis\'s by more than a second; fix NTP (tier ages do not depend on it, logs and lag figures do)');
    }
  } catch { /* measured again on the next reconnect or tick */ }
}

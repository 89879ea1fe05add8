// Origin failures answered 502/504, logged at warn with their cause (code, low-level cause, origin, zone): at most one
// line per second for each zone, origin and cause, the lines held back counted in the next (an origin down under load
// must not turn the log into the outage).
import type { OriginError } from './client.js';

interface Warn { warn(obj: object, msg: string): void }

const INTERVAL_MS = 1_000;
const MAX_KEYS = 1_024;

export function createFailureLog(logger: Warn, now: () => number = Date.now): (e: OriginError, zoneId: string | undefined) => void {
  const last = new Map<string, { at: number; held: number }>();
  return (e, zoneId) => {
    if (e.code === 'ORIGIN_ABORTED') return; // the client left: nothing wrong with the origin
    const key = `${zoneId}\n${e.origin}\n${e.code}\n${e.causeCode}`;
    const t = now();
    const seen = last.get(key);
    if (seen && t - seen.at < INTERVAL_MS) { seen.held++; return; }
    if (!seen && last.size >= MAX_KEYS) last.clear();
    last.set(key, { at: t, held: 0 });
    logger.warn({
      zone: zoneId, origin: e.origin, code: e.code, cause: e.causeCode, status: e.status, err: e.message,
      ...(seen && seen.held > 0 ? { alsoFailed: seen.held } : {}),
    }, 'origin request failed');
  };
}

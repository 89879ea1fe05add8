// Where the purge bus reads from: the stream's head as a cursor, XINFO with "no such key" as null, and the start-time position.
import { performance } from 'node:perf_hooks';
import { parseStreamInfo, type Cursor, type StreamInfo } from './stream-format.js';

/** A node that starts without a position reads from its start time less this (a safety margin: replaying a purge is harmless). */
const START_MARGIN_MS = 2000;

export function headOf(info: StreamInfo | null): Cursor {
  return info === null ? { id: '0-0', offset: 0 } : { id: info.lastGeneratedId, offset: info.entriesAdded };
}

/** XINFO STREAM, with "no such key" as null. */
export async function readStreamInfo(reply: Promise<unknown>): Promise<StreamInfo | null> {
  try {
    return parseStreamInfo(await reply);
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return null;
    throw err;
  }
}

/** Redis's clock now (a TIME reply), less the time since `startedAt` (performance.now()), less a margin: the stream id of the start time. */
export function startTimeCursor(timeReply: unknown, startedAt: number): Cursor {
  const redisNow = Array.isArray(timeReply) ? Number(timeReply[0]) * 1000 + Math.floor(Number(timeReply[1]) / 1000) : NaN;
  if (!Number.isFinite(redisNow)) throw new Error('unexpected TIME reply');
  return { id: `${Math.max(0, Math.floor(redisNow - (performance.now() - startedAt) - START_MARGIN_MS))}-0`, offset: 0 };
}

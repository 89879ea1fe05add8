// The purge stream's formats, pure: entry ids, XINFO/XREAD replies, message fields, and whether a cursor can still read on.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { PurgeMessage } from './bus.js';

const STREAM_ID = /^(\d+)-(\d+)$/;

export function isStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/** Orders two complete stream ids ("ms-seq"); seq can exceed 2^53, so BigInt. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/** The millisecond timestamp part of a stream id. */
export function streamIdMs(id: string): number {
  return Number(splitId(id)[0]);
}

function splitId(id: string): [bigint, bigint] {
  const m = STREAM_ID.exec(id);
  if (m === null) throw new TypeError(`not a stream id: ${JSON.stringify(id)}`);
  return [BigInt(m[1] as string), BigInt(m[2] as string)];
}

export interface StreamInfo {
  length: number;
  firstId: string | null;
  lastGeneratedId: string;
  /** '0-0' when nothing was XDEL'd (or on Redis < 7, which does not report it). Trimming does not set it. */
  maxDeletedId: string;
  /** Entries ever added (Redis ≥ 7), else null. */
  entriesAdded: number | null;
}

/** Parses an XINFO STREAM reply (a flat [name, value, …] array). */
export function parseStreamInfo(reply: unknown): StreamInfo {
  if (!Array.isArray(reply)) throw new Error('unexpected XINFO STREAM reply');
  const fields = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  const first = fields.get('first-entry');
  const lastGeneratedId = String(fields.get('last-generated-id') ?? '0-0');
  const added = fields.get('entries-added');
  return {
    length: Number(fields.get('length') ?? 0),
    firstId: Array.isArray(first) && typeof first[0] === 'string' ? first[0] : null,
    lastGeneratedId,
    maxDeletedId: String(fields.get('max-deleted-entry-id') ?? '0-0'),
    entriesAdded: added === undefined || added === null ? null : Number(added),
  };
}

/** Where a consumer stands: the id it reads after, and — when known — that id's ordinal in the stream
 *  (entries-added at the moment it was the last entry; '0-0' is ordinal 0). */
export interface Cursor {
  id: string;
  offset: number | null;
}

/** isHistoryLost: the stream lost entries it once had (recreated, rolled back, deleted), not merely trimmed its head:
 *  other nodes may have missed them too, so the stream's identity is renewed for all of them to notice. */
export type Verdict = { isContinuous: true } | { isContinuous: false; reason: string; isHistoryLost: boolean };

/**
 * Can a consumer at `cursor` still read every entry added after it? `info` is XINFO STREAM taken at or after
 * the read it judges (null: no such key). Trimming only removes from the head and the head only moves
 * forward, so one entry at or before the cursor still present proves nothing after it was trimmed. Errs
 * towards a reset when it cannot tell (e.g. the head stopped exactly at the cursor's successor).
 */
export function judgeCursor(cursor: Cursor, info: StreamInfo | null): Verdict {
  const at = cursor.id;
  if (info === null) {
    if (at === '0-0') return { isContinuous: true };
    return broken(`the stream is missing, so its history was lost (Redis restarted without persistence, or the key was deleted); this node was at ${at}`, true);
  }
  const last = info.lastGeneratedId;
  if (compareStreamIds(at, last) > 0) return broken(`this node is at ${at}, past the stream's last id ${last}: the stream was recreated or rolled back (an older snapshot, a replica that lacked the last entries)`, true);
  if (compareStreamIds(info.maxDeletedId, at) > 0) return broken(`entries after ${at} were deleted (max-deleted-entry-id ${info.maxDeletedId})`, true);
  if (compareStreamIds(at, last) === 0) return { isContinuous: true }; // nothing was added after the cursor
  if (info.firstId !== null && compareStreamIds(info.firstId, at) <= 0) return { isContinuous: true };
  if (cursor.offset !== null && info.entriesAdded !== null) {
    if (info.entriesAdded < cursor.offset) return broken(`the stream has fewer entries than this node has read (${info.entriesAdded} < ${cursor.offset}): it was recreated or rolled back`, true);
    if (info.entriesAdded - info.length <= cursor.offset) return { isContinuous: true }; // removed ones all precede the cursor
  }
  const head = info.firstId === null ? 'the stream is empty' : `its first entry is ${info.firstId}`;
  return broken(`entries after ${at} are no longer in the stream (trimmed, or the stream was recreated): ${head}, last id ${last}`, false);
}

function broken(reason: string, isHistoryLost: boolean): Verdict {
  return { isContinuous: false, reason, isHistoryLost };
}

// ---------------------------------------------------------------- messages

const FORMAT_VERSION = '1';
/** Requests longer than this travel deflated (field requestz, base64): a 500-URL purge shrinks several times over. */
const COMPRESS_OVER_BYTES = 1024;
/** A deflated request never inflates past this (the purge API's own body bound is 1 MiB). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export function encodeMessage(msg: PurgeMessage): string[] {
  if (typeof msg.zoneId !== 'string' || msg.zoneId === '') throw new TypeError('PurgeMessage.zoneId must be a non-empty string');
  if (typeof msg.origin !== 'string' || msg.origin === '') throw new TypeError('PurgeMessage.origin must be a non-empty string');
  const request = JSON.stringify(msg.request);
  if (request === undefined) throw new TypeError('PurgeMessage.request must be JSON-serialisable');
  if (request.length > COMPRESS_OVER_BYTES) {
    return ['v', FORMAT_VERSION, 'zone', msg.zoneId, 'origin', msg.origin, 'requestz', deflateRawSync(request).toString('base64')];
  }
  return ['v', FORMAT_VERSION, 'zone', msg.zoneId, 'origin', msg.origin, 'request', request];
}

export function decodeMessage(fields: unknown): PurgeMessage {
  if (!Array.isArray(fields)) throw new Error('entry has no fields');
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(String(fields[i]), String(fields[i + 1]));
  if (f.get('v') !== FORMAT_VERSION) throw new Error(`unknown message format version ${JSON.stringify(f.get('v'))}`);
  const zoneId = f.get('zone');
  const origin = f.get('origin');
  const packed = f.get('requestz');
  const request = packed === undefined ? f.get('request') : inflateRawSync(Buffer.from(packed, 'base64'), { maxOutputLength: MAX_REQUEST_BYTES }).toString('utf8');
  if (!zoneId || !origin || request === undefined) throw new Error('entry lacks zone, origin or request');
  return { zoneId, origin, request: JSON.parse(request) as unknown };
}

/** The entries of our stream in an XREAD reply ([[key, [[id, fields], …]]] or null). */
export function parseXreadReply(reply: unknown): [string, unknown][] {
  if (reply === null) return [];
  if (!Array.isArray(reply) || !Array.isArray(reply[0]) || !Array.isArray(reply[0][1])) throw new Error('unexpected XREAD reply');
  return (reply[0][1] as unknown[]).map((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw new Error('unexpected XREAD entry');
    return [entry[0], entry[1]];
  });
}

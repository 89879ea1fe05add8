// The disk index's first format (frames of JSON arrays), still read on upgrade: its records are re-encoded as binary frames (disk-index-record.ts).
import { primaryKey } from '../cache/key.js';
import type { DirectivesSource, LifetimeSource } from '../cache/policy/types.js';
import { FrameEncoder, type IndexRecord } from './disk-index-record.js';

/*
 * A frame: u32 BE payload length | u32 BE CRC-32 | one JSON array of records (a record: a 17-element array, see
 * `fromWire`; a deletion: the entry's seq). Files of this format have no header.
 */
type Wire = [number, string, string, string, string, string, readonly string[], string, number, number[], LifetimeSource, DirectivesSource,
  readonly string[], number, number, number, number];

const isNum = (x: unknown): x is number => typeof x === 'number';
const isStr = (x: unknown): x is string => typeof x === 'string';
const isStrList = (x: unknown): x is string[] => Array.isArray(x) && x.every(isStr);

function isWire(w: unknown): w is Wire {
  if (!Array.isArray(w) || w.length !== 17) return false;
  const fr: unknown = w[9];
  if (!Array.isArray(fr) || fr.length !== 6 || !fr.every(isNum)) return false;
  if (!isNum(w[0]) || !isNum(w[8]) || !isNum(w[14]) || !isNum(w[15]) || !isNum(w[16])) return false;
  if (!isStr(w[1]) || !isStr(w[2]) || !isStr(w[3]) || !isStr(w[4]) || !isStr(w[5]) || !isStr(w[7]) || !isStr(w[10]) || !isStr(w[11])) return false;
  return isStrList(w[6]) && isStrList(w[12]);
}

function fromWire(w: Wire): IndexRecord {
  const fr = w[9];
  const flags = fr[5]!;
  return {
    seq: w[0], zoneId: w[1], host: w[2], path: w[3], query: w[4], objectKey: w[5] === '' ? primaryKey(w[1], w[2], w[3], w[4]) : w[5],
    keyNames: w[6], selector: w[7], status: w[8],
    freshness: {
      lifetime: fr[0]!, correctedInitialAge: fr[1]!, responseTime: fr[2]!, staleWhileRevalidate: fr[3]!, staleIfError: fr[4]!,
      noStaleServing: (flags & 1) !== 0, alwaysRevalidate: (flags & 2) !== 0, heuristic: (flags & 4) !== 0,
      lifetimeSource: w[10], directivesSource: w[11],
    },
    tags: w[12], forcedStale: w[13] === 1, storedAt: w[14], bodyLength: w[15], file: w[16],
  };
}

/**
 * Hands each intact frame of a file in the first format to `onPayload`, re-encoded (binary payload); returns the
 * byte where the intact part ends and how many records were malformed (skipped).
 */
export function readLegacyFrames(buf: Buffer, crc32: (b: Uint8Array) => number, onPayload: (payload: Buffer) => void): { end: number; bad: number } {
  let at = 0;
  let bad = 0;
  const enc = new FrameEncoder();
  while (at + 8 <= buf.length) {
    const len = buf.readUInt32BE(at);
    const end = at + 8 + len;
    if (end > buf.length) break;
    const payload = buf.subarray(at + 8, end);
    if (crc32(payload) !== buf.readUInt32BE(at + 4)) break;
    let records: unknown;
    try { records = JSON.parse(payload.toString('utf8')); } catch { break; }
    if (!Array.isArray(records)) break;
    for (const w of records) {
      if (typeof w === 'number' && Number.isSafeInteger(w)) enc.delete(w);
      else if (isWire(w)) enc.put(fromWire(w), w[5] === '');
      else bad++;
    }
    onPayload(enc.finish());
    at = end;
  }
  return { end: at, bad };
}

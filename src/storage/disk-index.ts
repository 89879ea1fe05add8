// The disk store's index: what open() needs of each entry file but its fields, in a snapshot plus append-only journals of checksummed frames, compacted in the background.
import { closeSync, fdatasync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { primaryKey } from '../cache/key.js';
import type { DirectivesSource, Freshness, LifetimeSource } from '../cache/policy/types.js';
import type { MemoryVariant } from './variant.js';

/*
 * Files: `index-<gen>.snapshot` (every live record when journal <gen> was started) and `index-<gen>.journal` (records
 * appended since). A frame is u32 BE payload length | u32 BE CRC-32 of the payload | payload, the payload being one
 * JSON array of records (a record: an array; a deletion: the entry's seq), parsed in one call. Records are keyed by their entry file's sequence number and never change once written
 * (a variant rewritten gets a new entry file and a new record), so replaying puts and deletes in any overlap is
 * idempotent: a compaction serialises the live variants while journal <gen+1> already takes new records.
 *
 * The entry files stay the truth: open() checks the index against the directory (a record without its file is dropped,
 * a file without a record is read whole), and an entry's fields are checksummed when it is served.
 */
const FRAME_HEAD = 8;
/** A snapshot's frames hold about this many payload bytes. */
const FRAME_TARGET = 1 << 20;
const FILE_RE = /^index-([0-9]{1,15})\.(snapshot|journal)$/;

/** One entry file's index record: an EntryMeta without its fields (headers). */
export interface IndexRecord {
  seq: number; zoneId: string; host: string; path: string; query: string; objectKey: string;
  keyNames: readonly string[]; selector: string; status: number; freshness: Freshness; tags: readonly string[];
  forcedStale: boolean; storedAt: number; bodyLength: number; file: number;
}

/** The index record of a variant's entry file `seq` as the variant is now; `file`: its body file's id (default: the one it has). */
export function indexRecordOf(v: MemoryVariant, seq: number, file = v.fileId!): IndexRecord {
  return {
    seq, zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: v.keyNames,
    selector: v.selector, status: v.status, freshness: { ...v.freshness }, tags: v.tags, forcedStale: v.forcedStale,
    storedAt: v.storedAt, bodyLength: v.bodyLength, file,
  };
}

export type Wire = [number, string, string, string, string, string, readonly string[], string, number, number[], LifetimeSource, DirectivesSource,
  readonly string[], number, number, number, number];

function toWire(r: IndexRecord): Wire {
  const f = r.freshness;
  const flags = (f.noStaleServing ? 1 : 0) | (f.alwaysRevalidate ? 2 : 0) | (f.heuristic ? 4 : 0);
  // The object key is the zone, host, path and query joined: kept whole only when it is not (a preflight's own key).
  const key = r.objectKey === primaryKey(r.zoneId, r.host, r.path, r.query) ? '' : r.objectKey;
  return [r.seq, r.zoneId, r.host, r.path, r.query, key, r.keyNames, r.selector, r.status,
    [f.lifetime, f.correctedInitialAge, f.responseTime, f.staleWhileRevalidate, f.staleIfError, flags],
    f.lifetimeSource, f.directivesSource, r.tags, r.forcedStale ? 1 : 0, r.storedAt, r.bodyLength, r.file];
}

const isNum = (x: unknown): x is number => typeof x === 'number';
const isStr = (x: unknown): x is string => typeof x === 'string';

/** Whether `w` is a well-formed record on the wire (checked once when read; `fromWire` then converts it when used). */
function isWire(w: unknown): w is Wire {
  if (!Array.isArray(w) || w.length !== 17) return false;
  const fr: unknown = w[9];
  if (!Array.isArray(fr) || fr.length !== 6 || !isNum(fr[0]) || !isNum(fr[1]) || !isNum(fr[2]) || !isNum(fr[3]) || !isNum(fr[4]) || !isNum(fr[5])) return false;
  if (!isNum(w[0]) || !isNum(w[8]) || !isNum(w[14]) || !isNum(w[15]) || !isNum(w[16])) return false;
  if (!isStr(w[1]) || !isStr(w[2]) || !isStr(w[3]) || !isStr(w[4]) || !isStr(w[5]) || !isStr(w[7]) || !isStr(w[10]) || !isStr(w[11])) return false;
  return Array.isArray(w[6]) && Array.isArray(w[12]);
}

/** The record a checked wire array (`isWire`) stands for. */
export function fromWire(w: Wire): IndexRecord {
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

/** CRC-32 (IEEE, as zip and PNG), computed natively: a million records' frames are checked at each start. */
export function crc32(buf: Uint8Array): number { return zlibCrc32(buf) >>> 0; }

function frame(lines: string[]): Buffer {
  const payload = Buffer.from(`[${lines.join(',')}]`, 'utf8');
  const head = Buffer.alloc(FRAME_HEAD);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

/** Hands each intact frame's records to `onRecord`; returns the byte where the intact part ends (a torn tail starts there). */
function readFrames(buf: Buffer, onRecord: (w: unknown) => void): number {
  let at = 0;
  while (at + FRAME_HEAD <= buf.length) {
    const len = buf.readUInt32BE(at);
    const end = at + FRAME_HEAD + len;
    if (end > buf.length) break;
    const payload = buf.subarray(at + FRAME_HEAD, end);
    if (crc32(payload) !== buf.readUInt32BE(at + 4)) break;
    let records: unknown;
    try { records = JSON.parse(payload.toString('utf8')); } catch { break; }
    if (!Array.isArray(records)) break;
    for (const w of records) onRecord(w);
    at = end;
  }
  return at;
}

/**
 * What reading the index found. `records`: each live entry's record as read (a checked wire array, converted by
 * `fromWire` when it is loaded: a million records held as objects until then cost the load most of its time in GC).
 * `journalLines`: records read from journals (a compaction folds them into a snapshot).
 */
export interface IndexImage { records: Map<number, Wire>; torn: number; maxSeq: number; journalLines: number }

export class DiskIndex {
  #gen = 0;
  #fd: number | undefined;
  #queue: string[] = [];
  #flushQueued = false;
  /** Records in the journal now (puts and deletes): a compaction is due when they far outnumber the live ones. */
  journalRecords = 0;
  #compacting = false;

  constructor(readonly dir: string, readonly fail: (err: unknown) => void) {}

  /** Reads the newest snapshot and the journals after it (sync: open() only). Frames past a torn or corrupt one are ignored. */
  read(): IndexImage {
    const names = readdirSync(this.dir);
    for (const n of names) if (n.startsWith('index-') && n.endsWith('.snapshot.tmp')) { try { unlinkSync(join(this.dir, n)); } catch { /* gone */ } }
    const files = names.map((n) => FILE_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null);
    const snaps = files.filter((m) => m[2] === 'snapshot').map((m) => Number(m[1])).sort((a, b) => a - b);
    const journals = files.filter((m) => m[2] === 'journal').map((m) => Number(m[1])).sort((a, b) => a - b);
    const from = snaps.length > 0 ? snaps[snaps.length - 1]! : journals[0] ?? 0;
    const records = new Map<number, Wire>();
    let torn = 0;
    let maxSeq = 0;
    let journalLines = 0;
    const apply = (w: unknown): void => {
      if (typeof w === 'number') { records.delete(w); if (w > maxSeq) maxSeq = w; return; }
      if (!isWire(w)) { torn++; return; }
      records.set(w[0], w);
      if (w[0] > maxSeq) maxSeq = w[0];
      if (w[16] > maxSeq) maxSeq = w[16];
    };
    const readOne = (name: string, onRecord: (w: unknown) => void): void => {
      let buf: Buffer;
      try { buf = readFileSync(join(this.dir, name)); } catch { return; }
      // An empty journal (a run that recorded nothing) goes: each open starts one, they must not pile up.
      if (buf.length === 0 && name.endsWith('.journal')) { try { unlinkSync(join(this.dir, name)); } catch { /* kept */ } return; }
      if (readFrames(buf, onRecord) < buf.length) torn++;
    };
    if (snaps.length > 0) readOne(`index-${from}.snapshot`, apply);
    for (const g of journals) if (g >= from) readOne(`index-${g}.journal`, (w) => { journalLines++; apply(w); });
    this.#gen = Math.max(from, journals[journals.length - 1] ?? 0);
    return { records, torn, maxSeq, journalLines };
  }

  /** Starts a new journal (the next generation) for appends; what was read stays until a compaction replaces it. */
  openJournal(): void {
    try {
      this.#gen++;
      this.#fd = openSync(join(this.dir, `index-${this.#gen}.journal`), 'a');
      this.journalRecords = 0;
    } catch (err) { this.fail(err); }
  }

  put(r: IndexRecord): void { this.#append(JSON.stringify(toWire(r))); }

  delete(seq: number): void { this.#append(String(seq)); }

  #append(line: string): void {
    if (this.#fd === undefined) return;
    this.#queue.push(line);
    this.journalRecords++;
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flush());
  }

  /** Writes the queued records as one frame, synced in the background (a lost tail costs a slower open, never a wrong one). */
  #flush(): void {
    this.#flushQueued = false;
    const fd = this.#fd;
    if (fd === undefined || this.#queue.length === 0) return;
    const lines = this.#queue;
    this.#queue = [];
    try { writeSync(fd, frame(lines)); } catch (err) { this.fail(err); return; }
    fdatasync(fd, (err) => { if (err) this.fail(err); });
  }

  /**
   * Rewrites the index as one snapshot of `live()` (the store's records now): a new journal takes appends from here
   * on, the snapshot is written in frames between other work, then the older files go. No-op while one runs.
   */
  async compact(live: () => Iterable<IndexRecord>): Promise<void> {
    if (this.#compacting || this.#fd === undefined) return;
    this.#compacting = true;
    try {
      this.#flush();
      const old = this.#gen;
      const oldFd = this.#fd;
      this.openJournal();
      try { closeSync(oldFd); } catch { /* closed */ }
      const gen = this.#gen;
      const tmp = join(this.dir, `index-${gen}.snapshot.tmp`);
      const fd = openSync(tmp, 'w');
      try {
        let lines: string[] = [];
        let bytes = 0;
        for (const r of live()) {
          const line = JSON.stringify(toWire(r));
          lines.push(line);
          bytes += line.length;
          if (bytes >= FRAME_TARGET) {
            writeSync(fd, frame(lines));
            lines = [];
            bytes = 0;
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        }
        if (lines.length > 0) writeSync(fd, frame(lines));
        fsyncSync(fd);
      } finally { closeSync(fd); }
      renameSync(tmp, join(this.dir, `index-${gen}.snapshot`));
      for (const n of readdirSync(this.dir)) {
        const m = FILE_RE.exec(n);
        if (m !== null && Number(m[1]) <= old) unlinkSync(join(this.dir, n));
      }
    } catch (err) { this.fail(err); } finally { this.#compacting = false; }
  }

  close(): void {
    this.#flush();
    if (this.#fd === undefined) return;
    try { fsyncSync(this.#fd); closeSync(this.#fd); } catch (err) { this.fail(err); }
    this.#fd = undefined;
  }
}

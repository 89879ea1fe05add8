// The disk store's index: what open() needs of each entry file but its fields, in a snapshot plus append-only journals of checksummed binary frames, compacted in the background; a clean close is recorded.
import { closeSync, fdatasync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { primaryKey } from '../cache/key.js';
import type { MemoryVariant } from './variant.js';
import { FrameEncoder, IndexRecords, type IndexRecord } from './disk-index-record.js';
import { readLegacyFrames } from './disk-index-legacy.js';

export type { IndexRecord } from './disk-index-record.js';

/*
 * Files, in `<cache path>/index/`: `index-<gen>.snapshot` (every live record when journal <gen> was started) and `index-<gen>.journal` (records
 * appended since), each a header (MAGIC, u32 LE version) then frames: u32 BE payload length | u32 BE CRC-32 of the
 * payload | payload (disk-index-record.ts). The first format's files (JSON frames, disk-index-legacy.ts) were in the
 * cache directory itself: read once on upgrade. Records are keyed by their entry file's sequence number and never change once written
 * (a variant rewritten gets a new entry file and a new record), so replaying puts and deletes in any overlap is
 * idempotent: a compaction serialises the live variants while journal <gen+1> already takes new records.
 *
 * The entry files stay the truth: open() checks the index against the directory (a record without its file is dropped,
 * a file without a record is read whole), and an entry's fields are checksummed when it is served. Except after a
 * clean close: close() ends the journal with a CLEAN record once every file operation is done and the journal synced,
 * and an open that finds the newest journal ending with it trusts the index without listing the entry files. Each open
 * starts a new journal (synced into the directory) before it changes any file, so a crash afterwards never leaves a
 * CLEAN record newest.
 */
/** The index's directory under the cache path. */
export const INDEX_DIR = 'index';
const MAGIC = Buffer.from('ECIX');
const VERSION = 2;
/** What each file of this format starts with (an empty journal is just this). */
export const HEADER = Buffer.concat([MAGIC, Buffer.from([VERSION, 0, 0, 0])]);
const FRAME_HEAD = 8;
/** A snapshot's frames hold about this many record bytes. */
const FRAME_TARGET = 1 << 20;
const FILE_RE = /^index-([0-9]{1,15})\.(snapshot|journal)$/;

/** The index record of a variant's entry file `seq` as the variant is now; `file`: its body file's id (default: the one it has). */
export function indexRecordOf(v: MemoryVariant, seq: number, file = v.fileId!): IndexRecord {
  return {
    seq, zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: v.keyNames,
    selector: v.selector, status: v.status, freshness: { ...v.freshness }, tags: v.tags, forcedStale: v.forcedStale,
    storedAt: v.storedAt, bodyLength: v.bodyLength, file,
  };
}

/** CRC-32 (IEEE, as zip and PNG), computed natively: a million records' frames are checked at each start. */
export function crc32(buf: Uint8Array): number { return zlibCrc32(buf) >>> 0; }

function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEAD);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

function encodePut(enc: FrameEncoder, r: IndexRecord): void {
  // The object key is the zone, host, path and query joined: kept whole only when it is not (a preflight's own key).
  enc.put(r, r.objectKey === primaryKey(r.zoneId, r.host, r.path, r.query));
}

/** Reads a file's frames into `records`; returns the byte where the intact part ends (a torn tail starts there). */
function readFrames(buf: Buffer, records: IndexRecords): number {
  let at = HEADER.length;
  while (at + FRAME_HEAD <= buf.length) {
    const len = buf.readUInt32BE(at);
    const end = at + FRAME_HEAD + len;
    if (end > buf.length) break;
    const start = at + FRAME_HEAD;
    if (crc32(buf.subarray(start, end)) !== buf.readUInt32BE(at + 4)) break;
    if (!records.addFrame(buf, start, end)) break;
    at = end;
  }
  return at;
}

/**
 * What reading the index found. `records`: each live record, by seq (decoded when loaded). `journalLines`: records
 * read from journals (a compaction folds them into a snapshot). `clean`: the newest journal ends with a clean close's
 * record, every file read whole: the index names exactly the entry files there are.
 */
export interface IndexImage { records: IndexRecords; torn: number; maxSeq: number; journalLines: number; clean: boolean; legacy: boolean }

export class DiskIndex {
  #gen = 0;
  #fd: number | undefined;
  #enc = new FrameEncoder();
  #flushQueued = false;
  /** Journals read that held no record: deleted once a newer one is in the directory. */
  #empty: string[] = [];
  /** The first format's files, read at this open: deleted once a compaction wrote their records anew. */
  #legacyFiles: string[] = [];
  /** A write of the index failed this run: it may lack records, so a close does not vouch for it. */
  #failed = false;
  /** Records in the journal now (puts and deletes): a compaction is due when they far outnumber the live ones. */
  journalRecords = 0;
  #compacting = false;

  /** Its own directory, `<cache path>/index`. */
  readonly dir: string;

  constructor(path: string, readonly fail: (err: unknown) => void) { this.dir = join(path, INDEX_DIR); }

  #fail(err: unknown): void { this.#failed = true; this.fail(err); }

  /**
   * Reads the newest snapshot and the journals after it (sync: open() only). Frames past a torn or corrupt one are
   * ignored. Without an index directory (a directory of an older version, or none yet) the first format's files
   * are read from the cache directory, and deleted once a compaction has written their records anew.
   */
  read(): IndexImage {
    let names: string[];
    try { names = readdirSync(this.dir); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(this.dir, { recursive: true });
      return this.#readLegacy();
    }
    for (const n of names) if (n.startsWith('index-') && n.endsWith('.snapshot.tmp')) { try { unlinkSync(join(this.dir, n)); } catch { /* gone */ } }
    const files = names.map((n) => FILE_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null);
    const snaps = files.filter((m) => m[2] === 'snapshot').map((m) => Number(m[1])).sort((a, b) => a - b);
    const journals = files.filter((m) => m[2] === 'journal').map((m) => Number(m[1])).sort((a, b) => a - b);
    const from = snaps.length > 0 ? snaps[snaps.length - 1]! : journals[0] ?? 0;
    const records = new IndexRecords();
    let torn = 0;
    let journalLines = 0;
    let cleanAtEnd = false;
    const readOne = (name: string): void => {
      cleanAtEnd = false;
      records.cleanSeq = undefined;
      let buf: Buffer;
      try { buf = readFileSync(join(this.dir, name)); } catch { torn++; return; }
      const journal = name.endsWith('.journal');
      if (buf.length === 0 || buf.equals(HEADER)) { if (journal) this.#empty.push(name); return; }
      const before = records.opsRead;
      if (!buf.subarray(0, HEADER.length).equals(HEADER) || readFrames(buf, records) < buf.length) torn++;
      if (journal) journalLines += records.opsRead - before;
      cleanAtEnd = records.cleanSeq !== undefined;
    };
    if (snaps.length > 0) readOne(`index-${from}.snapshot`);
    for (const g of journals) if (g >= from) readOne(`index-${g}.journal`);
    records.seal();
    this.#gen = Math.max(from, journals[journals.length - 1] ?? 0);
    // Trusted only when the last file read is the newest journal and ended with a clean close's record.
    const clean = cleanAtEnd && torn === 0 && journals.length > 0;
    return { records, torn, maxSeq: records.maxSeq, journalLines, clean, legacy: false };
  }

  /** The first format's index files in the cache directory, read as `read` reads its own (never trusted as clean). */
  #readLegacy(): IndexImage {
    const root = dirname(this.dir);
    const files = readdirSync(root).map((n) => FILE_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null);
    this.#legacyFiles = files.map((m) => join(root, m[0]));
    const snaps = files.filter((m) => m[2] === 'snapshot').map((m) => Number(m[1])).sort((a, b) => a - b);
    const journals = files.filter((m) => m[2] === 'journal').map((m) => Number(m[1])).sort((a, b) => a - b);
    const from = snaps.length > 0 ? snaps[snaps.length - 1]! : journals[0] ?? 0;
    const records = new IndexRecords();
    let torn = 0;
    const readOne = (name: string): void => {
      let buf: Buffer;
      try { buf = readFileSync(join(root, name)); } catch { torn++; return; }
      const { end, bad } = readLegacyFrames(buf, crc32, (payload) => { if (!records.addFrame(payload, 0, payload.length)) torn++; });
      torn += bad + (end < buf.length ? 1 : 0);
    };
    if (snaps.length > 0) readOne(`index-${from}.snapshot`);
    for (const g of journals) if (g >= from) readOne(`index-${g}.journal`);
    records.seal();
    return { records, torn, maxSeq: records.maxSeq, journalLines: 0, clean: false, legacy: files.length > 0 };
  }

  /**
   * Starts a new journal (the next generation) for appends, synced into the directory before anything else changes
   * (a clean close's record is then no longer the newest); what was read stays until a compaction replaces it.
   */
  openJournal(): void {
    try {
      this.#gen++;
      mkdirSync(this.dir, { recursive: true });
      const fd = openSync(join(this.dir, `index-${this.#gen}.journal`), 'a');
      this.#fd = fd;
      if (fstatSync(fd).size === 0) writeSync(fd, HEADER);
      fsyncSync(fd);
      syncDir(this.dir);
      this.journalRecords = 0;
      for (const n of this.#empty) { try { unlinkSync(join(this.dir, n)); } catch { /* kept */ } }
      this.#empty = [];
    } catch (err) { this.#fail(err); }
  }

  put(r: IndexRecord): void {
    if (this.#fd === undefined) return;
    encodePut(this.#enc, r);
    this.#queued();
  }

  delete(seq: number): void {
    if (this.#fd === undefined) return;
    this.#enc.delete(seq);
    this.#queued();
  }

  #queued(): void {
    this.journalRecords++;
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flush());
  }

  /** Writes the queued records as one frame, synced in the background (a lost tail costs a slower open, never a wrong one). */
  #flush(): void {
    this.#flushQueued = false;
    const fd = this.#fd;
    if (fd === undefined || this.#enc.records === 0) return;
    try { writeSync(fd, frame(this.#enc.finish())); } catch (err) { this.#fail(err); return; }
    fdatasync(fd, (err) => { if (err) this.#fail(err); });
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
        writeSync(fd, HEADER);
        const enc = new FrameEncoder();
        for (const r of live()) {
          encodePut(enc, r);
          if (enc.bytes >= FRAME_TARGET) {
            writeSync(fd, frame(enc.finish()));
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        }
        if (enc.records > 0) writeSync(fd, frame(enc.finish()));
        fsyncSync(fd);
      } finally { closeSync(fd); }
      renameSync(tmp, join(this.dir, `index-${gen}.snapshot`));
      for (const n of readdirSync(this.dir)) {
        const m = FILE_RE.exec(n);
        if (m !== null && Number(m[1]) <= old) unlinkSync(join(this.dir, n));
      }
      for (const f of this.#legacyFiles) { try { unlinkSync(f); } catch { /* gone */ } }
      this.#legacyFiles = [];
    } catch (err) { this.#fail(err); } finally { this.#compacting = false; }
  }

  /**
   * Writes what is queued and closes the journal. `cleanSeq` (the store's seq; given when every file operation of
   * the run has finished and none failed) ends it with a clean close's record, after the records before it are synced.
   */
  close(cleanSeq?: number): void {
    this.#flush();
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      fsyncSync(fd);
      if (cleanSeq !== undefined && !this.#failed) {
        this.#enc.clean(cleanSeq);
        writeSync(fd, frame(this.#enc.finish()));
        fsyncSync(fd);
      }
      closeSync(fd);
    } catch (err) { this.#fail(err); }
  }
}

/**
 * Makes a cache directory what a run killed after its start leaves (for crash-image tests and benches): a newer, empty
 * journal after the one the last clean close ended, so the next open checks the index against the files.
 */
export function markCrashed(path: string): void {
  const dir = join(path, INDEX_DIR);
  mkdirSync(dir, { recursive: true });
  const gens = readdirSync(dir).map((n) => FILE_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  writeFileSync(join(dir, `index-${Math.max(0, ...gens) + 1}.journal`), HEADER);
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* not supported everywhere */ } finally { if (fd !== undefined) closeSync(fd); }
}

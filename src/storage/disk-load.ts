// What DiskStore.open() finds on disk: the directory scanned (entry and body files, leftovers of cut writes removed), and the entries in write order, from the index or read from their files.
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeEntry } from './disk-format.js';
import { BODIES_DIR, BODY_RE } from './disk-body.js';
import { MARKER_FILE } from './disk-purge-log.js';
import { primaryKey } from '../cache/key.js';
import { smi, type IndexRecord, type IndexRecords } from './disk-index-record.js';

/*
 * Entry files (their layout: disk-format.ts) are named `<seq base36, 11 digits>.entry` (older ones `<seq>-<random>.entry`)
 * and never reused; `seq` orders writes across restarts (a purge marker or journal record covers exactly the files whose
 * seq is not above its own). A variant knows its entry file by that number (MemoryVariant.entry).
 */
const ENTRY_RE = /^([0-9a-z]{11})(-[0-9a-f]{8})?\.entry$/;
/** Files read ahead of the one being inserted while loading (entry files hold meta only: small). */
const READ_AHEAD = 64;
/** Entries handed over at once: a million awaits of an async generator, one per entry, cost seconds of a start. */
const BATCH = 1024;
const EMPTY = Buffer.alloc(0);

/** An entry file's name by its seq (`legacy`: names of the older form, by seq). */
export function entryName(seq: number, legacy: ReadonlyMap<number, string>): string {
  return legacy.get(seq) ?? `${seq.toString(36).padStart(11, '0')}.entry`;
}

export interface DirectoryScan {
  /** Entry files' seqs, ascending (write order); empty when they were not listed. */
  files: number[];
  /** Body files' ids, ascending; undefined when they were not listed (a clean close: the index's records name them). */
  bodyIds: Float64Array | undefined;
  /** Entry files of the older naming, by seq. */
  legacy: Map<number, string>;
}

/**
 * The seq of a `<11 base36 digits>.entry` name, read in place (no slices: a million names are listed at each start);
 * undefined when a character is not a lowercase base36 digit or the number is past the safe integers. Eleven such
 * digits are exactly the padded form of their value, so the name is the one `entryName` gives.
 */
function base36Name(n: string): number | undefined {
  let seq = 0;
  for (let i = 0; i < 11; i++) {
    const c = n.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (d === -1) return undefined;
    seq = seq * 36 + d;
  }
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/** Lists the entry and body files; temp files (writes a crash cut short) are deleted. */
export async function scanDirectory(dir: string): Promise<DirectoryScan> {
  const names = await readdir(dir);
  for (const n of names) if (n.endsWith('.entry.tmp') || n === `${MARKER_FILE}.tmp`) await unlink(join(dir, n)).catch(() => {});
  const ids: number[] = [];
  for (const n of await readdir(join(dir, BODIES_DIR))) {
    const m = BODY_RE.exec(n);
    if (m) ids.push(parseInt(m[1]!, 36));
    else if (n.endsWith('.body.tmp')) await unlink(join(dir, BODIES_DIR, n)).catch(() => {});
  }
  const files: number[] = [];
  const legacy = new Map<number, string>();
  for (const n of names) {
    // A million names: the common form is told by its length before a pattern is tried.
    if (n.length === 17 && n.endsWith('.entry')) {
      const seq = base36Name(n);
      if (seq !== undefined) { files.push(seq); continue; }
    }
    const m = ENTRY_RE.exec(n);
    if (m === null) continue;
    const seq = parseInt(m[1]!, 36);
    files.push(seq);
    if (m[2] !== undefined) legacy.set(seq, n);
  }
  files.sort((a, b) => a - b);
  return { files, bodyIds: Float64Array.from(ids).sort(), legacy };
}

/** An entry's record; with its fields when read from its file; `file` absent in the older format (its body inline). */
export type FoundMeta = Omit<IndexRecord, 'file'> & { headers?: [string, string][]; file?: number };

/** One entry as found: its record (from the index, or its file's meta with its fields), or why it is unusable. */
export type FoundEntry =
  | { seq: number; meta: FoundMeta; body: Buffer; indexed: boolean; reason?: undefined }
  | { seq: number; reason: string };

/**
 * The entries in write order, in batches: from the index's records where it has one (no read), else read and verified
 * from their files (a crash between a file's write and its record's; an index lost or older than the files), a few
 * ahead. Without `scan.files` (a clean close: the index names exactly the files there are) the records alone. Records
 * whose files are not there are left out; their seqs are pushed to `gone`.
 */
export async function* foundEntries(dir: string, scan: DirectoryScan, files: readonly number[] | undefined, records: IndexRecords, gone: number[]): AsyncGenerator<FoundEntry[]> {
  const reads = new Map<number, Promise<Buffer | Error>>();
  const seqs = records.seqs;
  const toRead: number[] = [];
  if (files !== undefined) for (let f = 0, r = 0; f < files.length; f++) {
    while (r < seqs.length && seqs[r]! < files[f]!) r++;
    if (r === seqs.length || seqs[r] !== files[f]) toRead.push(files[f]!);
  }
  let ahead = 0;
  let readAt = 0;
  let batch: FoundEntry[] = [];
  let r = 0;
  let f = 0;
  const total = files === undefined ? seqs.length : files.length;
  while (files === undefined ? r < total : f < total) {
    let found: FoundEntry;
    const seq = files === undefined ? smi(seqs[r]!) : files[f++]!;
    if (files !== undefined) while (r < seqs.length && seqs[r]! < seq) gone.push(seqs[r++]!);
    if (r < seqs.length && seqs[r] === seq) {
      found = { seq, meta: records.record(r++, primaryKey), body: EMPTY, indexed: true };
    } else {
      readAt++;
      for (; ahead < toRead.length && ahead < readAt + READ_AHEAD; ahead++) {
        const s = toRead[ahead]!;
        reads.set(s, readFile(join(dir, entryName(s, scan.legacy))).catch((e: Error) => e));
      }
      const buf = await reads.get(seq)!;
      reads.delete(seq);
      const decoded = buf instanceof Error ? buf : await decodeEntry(buf).catch((e: Error) => e);
      if (decoded instanceof Error) found = { seq, reason: decoded.message };
      else if (decoded.meta.seq !== seq) found = { seq, reason: 'sequence number does not match the name' };
      else found = { seq, meta: decoded.meta, body: decoded.body, indexed: false };
    }
    if (found.reason === undefined && found.meta.file !== undefined && scan.bodyIds !== undefined && !hasId(scan.bodyIds, found.meta.file)) found = { seq, reason: 'its body file is missing' };
    batch.push(found);
    if (batch.length >= BATCH) { yield batch; batch = []; }
  }
  while (r < seqs.length) gone.push(seqs[r++]!);
  if (batch.length > 0) yield batch;
}


/** Whether `ids` (ascending) holds `id`: a binary search. */
export function hasId(ids: Float64Array, id: number): boolean {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = ids[mid]!;
    if (x === id) return true;
    if (x < id) lo = mid + 1; else hi = mid - 1;
  }
  return false;
}

/** The ids of `listed` (ascending) that `named` (any order; sorted here) does not hold. */
export function unnamed(listed: Float64Array, named: Float64Array): number[] {
  named.sort();
  const out: number[] = [];
  for (let i = 0, k = 0; i < listed.length; i++) {
    const id = listed[i]!;
    while (k < named.length && named[k]! < id) k++;
    if (k === named.length || named[k] !== id) out.push(id);
  }
  return out;
}

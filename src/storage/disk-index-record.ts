// The disk index's binary records: frames encoded with a string table, read in place from the file's buffer, sorted by seq (radix) into the live set open() loads.
import type { DirectivesSource, Freshness, LifetimeSource } from '../cache/policy/types.js';

/** One entry file's index record: an EntryMeta without its fields (headers). */
export interface IndexRecord {
  seq: number; zoneId: string; host: string; path: string; query: string; objectKey: string;
  keyNames: readonly string[]; selector: string; status: number; freshness: Freshness; tags: readonly string[];
  forcedStale: boolean; storedAt: number; bodyLength: number; file: number;
}

/*
 * A frame's payload: u32 LE string count | the strings (u32 LE: byte length << 1 | encoding, 0 latin1, 1 UTF-16LE;
 * then the bytes) | records to its end. Records (LE):
 *   PUT    u8 1 | seq, file, storedAt, bodyLength, lifetime, correctedInitialAge, responseTime, staleWhileRevalidate,
 *          staleIfError: f64 | status u16 | flags u8 | zone, host, path, query, objectKey ('' : zone, host, path and
 *          query joined), selector, keyNames and tags (each joined by NUL), lifetimeSource, directivesSource: u32
 *          string numbers
 *   DELETE u8 2 | seq f64
 *   CLEAN  u8 3 | the store's seq at close f64: the store was closed cleanly after the frames before it were synced.
 * Strings repeat (zones, hosts, selectors, key names, sources): a frame holds each once and a read decodes it once.
 */
const PUT = 1;
const DELETE = 2;
const CLEAN = 3;
const PUT_BYTES = 1 + 9 * 8 + 2 + 1 + 10 * 4;
const STRINGS = 10;
const NOT_LATIN1 = /[^\u0000-\u00ff]/;
const NUL = '\u0000';
const NONE: readonly string[] = Object.freeze([]);
/**
 * A whole number read as a double (a typed array, a DataView), as a small integer when it is one: a double-typed value
 * stored in a field kept per variant (its entry's seq, its body file's id and length) makes that field a boxed number
 * in every object of its shape (16 bytes each).
 */
export function smi(x: number): number { const i = x | 0; return i === x ? i : x; }

/** Seqs and body file ids: safe integers above 0 (a record with another is not one this store wrote). */
const isId = (x: number): boolean => Number.isSafeInteger(x) && x > 0;

/** Builds one frame's payload from records (a journal flush, a snapshot's slice). */
export class FrameEncoder {
  #strings = new Map<string, number>();
  #table: string[] = [];
  #body = Buffer.allocUnsafe(1 << 16);
  #view = new DataView(this.#body.buffer, this.#body.byteOffset, this.#body.length);
  #at = 0;
  records = 0;

  /** Bytes of records so far (strings not counted). */
  get bytes(): number { return this.#at; }

  #room(n: number): void {
    if (this.#at + n <= this.#body.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#body.length * 2, this.#at + n));
    this.#body.copy(next, 0, 0, this.#at);
    this.#body = next;
    this.#view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  #str(s: string): number {
    let n = this.#strings.get(s);
    if (n === undefined) { n = this.#table.length; this.#table.push(s); this.#strings.set(s, n); }
    return n;
  }

  put(r: IndexRecord, objectKeyDerived: boolean): void {
    this.#room(PUT_BYTES);
    const v = this.#view;
    let at = this.#at;
    v.setUint8(at, PUT); at += 1;
    const f = r.freshness;
    for (const x of [r.seq, r.file, r.storedAt, r.bodyLength, f.lifetime, f.correctedInitialAge, f.responseTime, f.staleWhileRevalidate, f.staleIfError]) {
      v.setFloat64(at, x, true); at += 8;
    }
    v.setUint16(at, r.status, true); at += 2;
    v.setUint8(at, (f.noStaleServing ? 1 : 0) | (f.alwaysRevalidate ? 2 : 0) | (f.heuristic ? 4 : 0) | (r.forcedStale ? 8 : 0)); at += 1;
    for (const s of [r.zoneId, r.host, r.path, r.query, objectKeyDerived ? '' : r.objectKey, r.selector, r.keyNames.join(NUL), r.tags.join(NUL), f.lifetimeSource, f.directivesSource]) {
      v.setUint32(at, this.#str(s), true); at += 4;
    }
    this.#at = at;
    this.records++;
  }

  delete(seq: number): void { this.#mark(DELETE, seq); }

  clean(seq: number): void { this.#mark(CLEAN, seq); }

  #mark(kind: number, seq: number): void {
    this.#room(9);
    this.#view.setUint8(this.#at, kind);
    this.#view.setFloat64(this.#at + 1, seq, true);
    this.#at += 9;
    this.records++;
  }

  /** The payload (string table, then the records); the encoder is empty again. */
  finish(): Buffer {
    const heads: Buffer[] = [];
    const parts: Buffer[] = [];
    let tableBytes = 4;
    for (const s of this.#table) {
      const latin1 = !NOT_LATIN1.test(s);
      const bytes = Buffer.from(s, latin1 ? 'latin1' : 'utf16le');
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(bytes.length * 2 + (latin1 ? 0 : 1), 0);
      heads.push(head);
      parts.push(head, bytes);
      tableBytes += 4 + bytes.length;
    }
    const out = Buffer.allocUnsafe(tableBytes + this.#at);
    out.writeUInt32LE(this.#table.length, 0);
    let at = 4;
    for (const p of parts) { p.copy(out, at); at += p.length; }
    this.#body.copy(out, at, 0, this.#at);
    this.#strings = new Map();
    this.#table = [];
    this.#at = 0;
    this.records = 0;
    return out;
  }
}

/** A frame read: its buffer, where its strings start (decoded once, when first used), and those decoded. */
interface Frame { buf: Buffer; view: DataView; starts: Uint32Array; strings: (string | undefined)[] }

/** Growable typed columns of the operations read (puts and deletes), in read order. */
class Ops {
  seqs = new Float64Array(1024);
  /** The frame of a put, or DELETED. */
  frames = new Uint32Array(1024);
  offsets = new Uint32Array(1024);
  length = 0;

  push(seq: number, frame: number, offset: number): void {
    if (this.length === this.seqs.length) {
      const n = this.length * 2;
      const s = new Float64Array(n); s.set(this.seqs); this.seqs = s;
      const f = new Uint32Array(n); f.set(this.frames); this.frames = f;
      const o = new Uint32Array(n); o.set(this.offsets); this.offsets = o;
    }
    this.seqs[this.length] = seq;
    this.frames[this.length] = frame;
    this.offsets[this.length] = offset;
    this.length++;
  }
}
const DELETED = 0xffffffff;

/**
 * The records of an index, as read: frames kept as they are on disk and each live record as (frame, offset), sorted by
 * seq once every file is read. A record's fields are decoded only when it is loaded (`record`).
 */
export class IndexRecords {
  readonly #frames: Frame[] = [];
  #ops = new Ops();
  /** Seqs of the live records, ascending (after `seal`). */
  seqs = new Float64Array(0);
  #frameOf = new Uint32Array(0);
  #offsetOf = new Uint32Array(0);
  maxSeq = 0;
  /** Puts and deletes read. */
  opsRead = 0;
  /** The seq a CLEAN record carried, when the last frame read ended with one (reset by any later record). */
  cleanSeq: number | undefined = undefined;
  readonly #lists = new Map<string, readonly string[]>();

  get size(): number { return this.seqs.length; }

  /**
   * Reads one frame's payload (checked by its caller's CRC) in place; false when it is malformed (then nothing of it
   * is used: a torn or foreign frame).
   */
  addFrame(buf: Buffer, start: number, end: number): boolean {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    if (end - start < 4) return false;
    const count = view.getUint32(start, true);
    if (count > (end - start) / 4) return false;
    const starts = new Uint32Array(count + 1);
    let at = start + 4;
    for (let i = 0; i < count; i++) {
      if (at + 4 > end) return false;
      const head = view.getUint32(at, true);
      if ((head & 1) === 1 && ((head >>> 1) & 1) === 1) return false; // UTF-16 strings have an even length
      starts[i] = at;
      at += 4 + (head >>> 1);
    }
    if (at > end) return false;
    starts[count] = at;
    const frame = this.#frames.length;
    // Check every record first: a frame is used whole or not at all.
    for (let p = at; p < end;) {
      const kind = view.getUint8(p);
      if (kind === PUT) {
        if (p + PUT_BYTES > end || !isId(view.getFloat64(p + 1, true)) || !isId(view.getFloat64(p + 9, true))) return false;
        for (let k = 0; k < STRINGS; k++) if (view.getUint32(p + PUT_BYTES - 4 * (STRINGS - k), true) >= count) return false;
        p += PUT_BYTES;
      } else if (kind === DELETE || kind === CLEAN) {
        if (p + 9 > end || !isId(view.getFloat64(p + 1, true))) return false;
        p += 9;
      } else return false;
    }
    let used = false;
    for (let p = at; p < end;) {
      const kind = view.getUint8(p);
      const seq = view.getFloat64(p + 1, true);
      if (kind === CLEAN) { this.cleanSeq = seq; if (seq > this.maxSeq) this.maxSeq = seq; p += 9; continue; }
      this.opsRead++;
      this.cleanSeq = undefined;
      if (seq > this.maxSeq) this.maxSeq = seq;
      if (kind === DELETE) { this.#ops.push(seq, DELETED, 0); p += 9; continue; }
      const file = view.getFloat64(p + 9, true);
      if (file > this.maxSeq) this.maxSeq = file;
      this.#ops.push(seq, frame, p);
      used = true;
      p += PUT_BYTES;
    }
    if (used) this.#frames.push({ buf, view, starts, strings: new Array<string | undefined>(count) });
    return true;
  }

  /** Every file read: the live records (each seq's last operation a put), sorted by seq. */
  seal(): void {
    const ops = this.#ops;
    const n = ops.length;
    const order = radixOrder(ops.seqs, n);
    let live = 0;
    const seqs = new Float64Array(n);
    const frames = new Uint32Array(n);
    const offsets = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const o = order[i]!;
      const seq = ops.seqs[o]!;
      // The last operation on a seq in read order decides (the sort is stable).
      if (i + 1 < n && ops.seqs[order[i + 1]!] === seq) continue;
      if (ops.frames[o] === DELETED) continue;
      seqs[live] = seq;
      frames[live] = ops.frames[o]!;
      offsets[live] = ops.offsets[o]!;
      live++;
    }
    this.seqs = seqs.subarray(0, live);
    this.#frameOf = frames.subarray(0, live);
    this.#offsetOf = offsets.subarray(0, live);
    this.#ops = new Ops();
  }

  #string(f: Frame, n: number): string {
    let s = f.strings[n];
    if (s !== undefined) return s;
    const at = f.starts[n]!;
    const head = f.view.getUint32(at, true);
    const bytes = head >>> 1;
    s = f.buf.toString((head & 1) === 0 ? 'latin1' : 'utf16le', at + 4, at + 4 + bytes);
    f.strings[n] = s;
    return s;
  }

  #list(f: Frame, n: number): readonly string[] {
    const joined = this.#string(f, n);
    if (joined === '') return NONE;
    let list = this.#lists.get(joined);
    if (list === undefined) {
      list = joined.split(NUL);
      if (this.#lists.size < 4096) this.#lists.set(joined, list);
    }
    return list;
  }

  /**
   * The live record `i` (by seq order), decoded; `objectKeyOf` makes the key when the record left it to be derived.
   * Lists (key names, tags) are shared between records that have the same.
   */
  record(i: number, objectKeyOf: (zone: string, host: string, path: string, query: string) => string): IndexRecord {
    const f = this.#frames[this.#frameOf[i]!]!;
    const v = f.view;
    const p = this.#offsetOf[i]!;
    const s = p + PUT_BYTES - 4 * STRINGS;
    const flags = v.getUint8(p + 75);
    const zoneId = this.#string(f, v.getUint32(s + 0, true));
    const host = this.#string(f, v.getUint32(s + 4, true));
    const path = this.#string(f, v.getUint32(s + 8, true));
    const query = this.#string(f, v.getUint32(s + 12, true));
    const key = this.#string(f, v.getUint32(s + 16, true));
    return {
      seq: smi(v.getFloat64(p + 1, true)), file: smi(v.getFloat64(p + 9, true)), storedAt: v.getFloat64(p + 17, true), bodyLength: smi(v.getFloat64(p + 25, true)),
      freshness: {
        lifetime: v.getFloat64(p + 33, true), correctedInitialAge: v.getFloat64(p + 41, true), responseTime: v.getFloat64(p + 49, true),
        staleWhileRevalidate: v.getFloat64(p + 57, true), staleIfError: v.getFloat64(p + 65, true),
        noStaleServing: (flags & 1) !== 0, alwaysRevalidate: (flags & 2) !== 0, heuristic: (flags & 4) !== 0,
        lifetimeSource: this.#string(f, v.getUint32(s + 32, true)) as LifetimeSource, directivesSource: this.#string(f, v.getUint32(s + 36, true)) as DirectivesSource,
      },
      status: v.getUint16(p + 73, true), forcedStale: (flags & 8) !== 0,
      zoneId, host, path, query, objectKey: key === '' ? objectKeyOf(zoneId, host, path, query) : key, selector: this.#string(f, v.getUint32(s + 20, true)),
      keyNames: this.#list(f, v.getUint32(s + 24, true)), tags: this.#list(f, v.getUint32(s + 28, true)),
    };
  }

  /** The body files the live records name (sealed), ascending, and those more than one names: no map of every file. */
  fileIds(): { sorted: Float64Array; shared: Set<number> } {
    const n = this.seqs.length;
    const files = new Float64Array(n);
    for (let i = 0; i < n; i++) files[i] = this.#frames[this.#frameOf[i]!]!.view.getFloat64(this.#offsetOf[i]! + 9, true);
    files.sort();
    const shared = new Set<number>();
    for (let i = 1; i < n; i++) if (files[i] === files[i - 1]) shared.add(files[i]!);
    return { sorted: files, shared };
  }

  /** The frames are no longer needed (every record loaded). */
  release(): void { this.#frames.length = 0; this.#lists.clear(); }
}

/**
 * The order (indices) of `keys[0..n)` ascending, stable: an LSD radix sort on 11-bit digits of the keys less their
 * minimum; passes whose digit is the same for every key are skipped (a million seqs within 2^22 of each other: two
 * passes). Keys are safe non-negative integers.
 */
export function radixOrder(keys: Float64Array, n: number): Uint32Array {
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) { const k = keys[i]!; if (k < min) min = k; if (k > max) max = k; }
  const range = max - min;
  if (range === 0) return order;
  // Digits of the offset from min: the low 32 bits in three passes, then the high ones.
  const lo = new Uint32Array(n);
  const hi = range >= 0x100000000 ? new Uint32Array(n) : lo;
  for (let i = 0; i < n; i++) {
    const d = keys[i]! - min;
    lo[i] = d % 0x100000000;
    if (hi !== lo) hi[i] = Math.floor(d / 0x100000000);
  }
  let next = new Uint32Array(n);
  const count = new Uint32Array(2048);
  const passes: [Uint32Array, number][] = [];
  for (let shift = 0; shift < 32; shift += 11) if (range >= 2 ** shift) passes.push([lo, shift]);
  for (let shift = 0; shift < 21; shift += 11) if (range >= 2 ** (32 + shift)) passes.push([hi, shift]);
  for (const [digits, shift] of passes) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(digits[i]! >>> shift) & 2047]!++;
    if (count[(digits[0]! >>> shift) & 2047] === n) continue;
    let sum = 0;
    for (let b = 0; b < 2048; b++) { const c = count[b]!; count[b] = sum; sum += c; }
    for (let i = 0; i < n; i++) { const o = order[i]!; next[count[(digits[o]! >>> shift) & 2047]!++] = o; }
    const t = order; order = next; next = t;
  }
  return order;
}

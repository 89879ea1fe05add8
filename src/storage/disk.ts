// Disk cache store (`cache.store: disk`): a MemoryStore index, bodies in files (a bounded memory tier keeps hot ones), each variant's meta in its own checksummed file, an index file for open().
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeaderValues } from '../cache/key.js';
import type { Freshness } from '../cache/policy/types.js';
import { decodeEntry, encodeEntry, type EntryMeta } from './disk-format.js';
import { releaseLock, takeLock } from './disk-lock.js';
import { MemoryStore, type MemoryStoreOptions } from './memory.js';
import type { CacheStore, PurgeTarget, StoreStats, StoredVariant, VariantInput, ZoneStoreStats } from './store.js';
import { BODIES_DIR, BODY_RE, DiskBody, HotList, writeBodyFile, type BodyHome } from './disk-body.js';
import { BodyWriter } from './body-writer.js';
import { MemoryVariant, type Body } from './variant.js';
import { fsyncDir, MARKER_FILE, PurgeLog } from './disk-purge-log.js';
import { DiskIndex, type IndexRecord } from './disk-index.js';
import { WarmFields } from './disk-fields.js';
import type { FieldsHold } from './store.js';

/*
 * Entry files (their layout: disk-format.ts) are named `<seq base36, 11 digits>.entry` (older ones `<seq>-<random>.entry`)
 * and never reused; `seq` orders writes across restarts (a purge marker or journal record covers exactly the files whose
 * seq is not above its own). A variant knows its entry file by that number (MemoryVariant.entry).
 */
const ENTRY_RE = /^([0-9a-z]{11})(-[0-9a-f]{8})?\.entry$/;
/** Fields kept in memory for this many variants at most (besides held ones), per 64 MiB of memory tier; at least 1024. */
const WARM_PER_64_MIB = 32_768;
const NO_FIELDS: [string, string][] = [];
const EMPTY = Buffer.alloc(0);
/** Files read ahead of the one being inserted while loading (entry files hold meta only: small). */
const READ_AHEAD = 64;
/**
 * How long a body file outlives its last variant: a hit that found the variant just before it went opens the file a
 * moment later. A crash meanwhile leaves an orphan, deleted by the next open.
 */
const UNLINK_GRACE_MS = 2000;

export { DiskStoreError, decodeEntry, type DiskStoreErrorCode } from './disk-format.js';

export interface DiskStoreLogger { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }

export interface DiskStoreOptions {
  path: string;
  /** Bounds the in-memory index (metadata: variants, objects, fields); bodies are bounded by the two below. */
  maxBytes: number;
  /** The memory tier: bytes of bodies kept in memory as well as on disk (least recently used demoted first). Default 64 MiB. */
  memoryMaxBytes?: number;
  /** Bytes of body files on disk (least recently used variants evicted first). Default: unbounded. */
  diskMaxBytes?: number;
  normalize: MemoryStoreOptions['normalize'];
  logger?: DiskStoreLogger;
}

export interface DiskStats {
  loaded: number;        // entries loaded by open()
  indexed: number;       // of those, loaded from the index file (their entry files not read)
  corrupt: number;       // torn or corrupt entry files deleted (by open(), or found when their fields were loaded)
  fieldLoads: number;    // cold variants' fields read from their entry files
  warmFields: number;    // variants whose fields are in memory (recently stored or served)
  writes: number;        // entry files written
  writeErrors: number;   // entry, marker or journal writes that failed (the entry just is not persisted)
  unlinkErrors: number;
  pending: number;       // file operations in progress
  memoryBytes: number;   // body bytes in the memory tier (bodies written to disk and still in memory)
  diskBytes: number;     // body bytes in body files
  promotions: number;    // bodies read from disk and kept in memory
}

export class DiskStore implements CacheStore, BodyHome {
  readonly #opts: DiskStoreOptions;
  readonly #mem: MemoryStore;
  /** Each variant's file operations in flight, in order (an entry write, then the unlink of the file it replaces). */
  readonly #chains = new Map<MemoryVariant, Promise<void>>();
  /** Entry files of the older naming (`<seq>-<random>.entry`), by seq. */
  readonly #legacy = new Map<number, string>();
  readonly #index: DiskIndex;
  readonly #fields: WarmFields;
  /** Loads of cold variants' fields in flight: concurrent requests for one variant share one read. */
  readonly #loads = new Map<MemoryVariant, Promise<boolean>>();
  readonly #pending = new Set<Promise<void>>();
  readonly #stats: DiskStats = { loaded: 0, indexed: 0, corrupt: 0, fieldLoads: 0, warmFields: 0, writes: 0, writeErrors: 0, unlinkErrors: 0, pending: 0, memoryBytes: 0, diskBytes: 0, promotions: 0 };
  readonly dir: string;
  /** The memory tier: bodies in memory that have a file too (demotable), least recently used first. */
  readonly #hot = new HotList();
  readonly #memoryMax: number;
  readonly #diskMax: number;
  #diskBytes = 0;
  /** Body files being written, by body record: variants sharing a body wait for one write. */
  readonly #bodyWrites = new Map<Body, Promise<DiskBody | undefined>>();
  /** Body files waiting out UNLINK_GRACE_MS. */
  readonly #graves = new Map<NodeJS.Timeout, number>();
  readonly #log: PurgeLog;
  #seq = 0;
  #closed = false;
  /** Collects the file operations a purge starts, so its journal record is dropped only after they finish. */
  #collect: Promise<void>[] | undefined;

  private constructor(opts: DiskStoreOptions) {
    this.#opts = opts;
    this.dir = opts.path;
    this.#log = new PurgeLog(opts.path, (what, err) => this.#fail(what, err));
    this.#memoryMax = opts.memoryMaxBytes ?? 64 * 1024 * 1024;
    this.#diskMax = opts.diskMaxBytes ?? Number.MAX_SAFE_INTEGER;
    this.#mem = new MemoryStore({
      maxBytes: opts.maxBytes, normalize: opts.normalize, chargeBodies: false,
      onRemove: (v) => this.#onRemove(v),
      onMarkStale: (v) => { if ((v as MemoryVariant).entry !== 0) this.#persist(v as MemoryVariant); },
    });
    this.#index = new DiskIndex(opts.path, (err) => this.#fail('index', err));
    const warmMax = Math.max(1024, Math.floor((this.#memoryMax / (64 * 1024 * 1024)) * WARM_PER_64_MIB));
    this.#fields = new WarmFields(warmMax, (v) => v.entry !== 0 && !this.#chains.has(v), (v) => this.#mem.holds(v));
  }

  /** Opens (creating) the directory, takes its lock, loads every intact entry; a torn or corrupt file is deleted. */
  static async open(opts: DiskStoreOptions): Promise<DiskStore> {
    await mkdir(join(opts.path, BODIES_DIR), { recursive: true });
    takeLock(opts.path);
    const store = new DiskStore(opts);
    try { await store.#load(); } catch (err) { releaseLock(opts.path); throw err; }
    return store;
  }

  epoch(): number { return this.#mem.epoch(); }
  variantsOf(objectKey: string): readonly StoredVariant[] { return this.#mem.variantsOf(objectKey); }
  hasVariants(objectKey: string): boolean { return this.#mem.hasVariants(objectKey); }
  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    const v = this.#mem.lookup(objectKey, headers) as MemoryVariant | undefined;
    // A hit on a body in the memory tier makes it its most recently used.
    if (v !== undefined && v.bodyRecord.hotNewer !== undefined) this.#hot.touch(v.bodyRecord);
    return v;
  }
  stats(): StoreStats { return this.#mem.stats(); }
  zoneStats(): Record<string, ZoneStoreStats> { return this.#mem.zoneStats(); }
  diskStats(): DiskStats {
    return { ...this.#stats, pending: this.#pending.size, memoryBytes: this.#hot.bytes, diskBytes: this.#diskBytes, warmFields: this.#fields.size };
  }

  /** A cold variant's fields, read from its entry file (checksummed); a damaged file removes the variant (false). */
  loadFields(v: StoredVariant, hold?: FieldsHold): Promise<boolean> | undefined {
    const mv = v as MemoryVariant;
    if (mv.hasFields) { if (hold !== undefined && this.#mem.holds(mv)) this.#fields.hold(mv, hold); return undefined; }
    let p = this.#loads.get(mv);
    if (p === undefined) {
      p = this.#readFields(mv).finally(() => this.#loads.delete(mv));
      this.#loads.set(mv, p);
    }
    return hold === undefined ? p : p.then((ok) => { if (ok && mv.hasFields) this.#fields.hold(mv, hold); return ok; });
  }

  async #readFields(v: MemoryVariant): Promise<boolean> {
    for (let tries = 0; tries < 3; tries++) {
      await this.#chains.get(v); // a rewrite of its entry file finishes first
      if (v.hasFields) return true;
      const seq = v.entry;
      if (seq === 0 || !this.#mem.holds(v)) return false;
      const name = this.#nameOf(seq);
      const decoded = await readFile(join(this.dir, name)).then(decodeEntry).catch((e: Error) => e);
      if (v.hasFields) return true;
      if (!this.#mem.holds(v)) return false;
      if (v.entry !== seq) continue; // rewritten meanwhile: read the new file
      const reason = decoded instanceof Error ? decoded.message : decoded.meta.seq !== seq ? 'sequence number does not match the name' : undefined;
      if (reason !== undefined || decoded instanceof Error) {
        this.#stats.corrupt++;
        this.#opts.logger?.warn({ file: join(this.dir, name), reason }, 'disk cache: a torn or corrupt entry was found when served; it is removed');
        this.#mem.remove(v);
        return false;
      }
      v.headers = decoded.meta.headers;
      this.#stats.fieldLoads++;
      this.#fields.add(v);
      return true;
    }
    return false;
  }

  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    const filled = input.bodyFile instanceof DiskBody && input.bodyFile.home === this && input.bodyFile.record === undefined ? input.bodyFile : undefined;
    const length = input.bodyFile?.length ?? input.body.length;
    const v = this.#closed || length > this.#diskMax ? undefined : this.#mem.insert(input, sinceEpoch) as MemoryVariant | undefined;
    if (filled !== undefined) {
      // A fill streamed to its own file (beginFill): the file is the body's now, or goes when it was not stored.
      if (v === undefined || v.bodyRecord.file !== filled) { this.#bury(filled.id); return v; }
      filled.record = v.bodyRecord;
      this.#diskBytes += filled.length;
    }
    if (v) this.#persist(v);
    if (filled !== undefined) this.#boundDisk();
    return v;
  }

  /** A body file for a fill to stream into (file-body.ts); committed, it is stored with VariantInput.bodyFile. */
  beginFill(): BodyWriter | undefined {
    return this.#closed ? undefined : new BodyWriter(this, ++this.#seq);
  }

  /** RFC 9111 §4.3.4: the freshened headers and freshness are written too, so a restart keeps them. */
  refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void {
    this.#mem.refresh(v, headers, freshness);
    if ((v as MemoryVariant).entry !== 0) this.#persist(v as MemoryVariant);
  }

  remove(v: StoredVariant): void { this.#mem.remove(v); }

  purge(target: PurgeTarget, soft: boolean): number {
    if (target.kind === 'everything') {
      // Recorded before it applies: files written up to now are purged (or stale) on every later open.
      const m = (this.#log.markers.zones[target.zoneId] ??= { hard: 0, soft: 0 });
      if (soft) { m.soft = this.#seq; m.softAt = Date.now(); } else { m.hard = this.#seq; m.hardAt = Date.now(); }
      this.#log.saveMarkers();
      return this.#mem.purge(target, soft);
    }
    this.#log.append({ seq: this.#seq, target, soft });
    const ops: Promise<void>[] = [];
    this.#collect = ops;
    let n: number;
    try { n = this.#mem.purge(target, soft); } finally { this.#collect = undefined; }
    this.#log.begin();
    void this.#track(Promise.all(ops).then(() => this.#log.done()));
    return n;
  }

  clear(): void {
    this.#log.markers.cleared = this.#seq;
    this.#log.saveMarkers();
    this.#mem.clear();
  }

  /** Resolves once every file write and unlink started so far has finished. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Finishes pending writes, closes the journal and releases the directory; the files stay for the next open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    this.#log.close();
    this.#index.close();
    this.#fields.clear();
    this.#mem.clear();
    // Body files waiting out their grace period go now (nothing serves them any more).
    for (const [t, id] of this.#graves) { clearTimeout(t); void this.#track(this.#unlinkBody(id)); }
    this.#graves.clear();
    await this.flush();
    releaseLock(this.#opts.path);
  }

  async #load(): Promise<void> {
    const T0 = performance.now(); const lap = (w: string): void => { if (process.env.EC_LAP) process.stderr.write(`${w} ${Math.round(performance.now() - T0)}\n`); };
    const dir = this.#opts.path;
    const names = await readdir(dir);
    for (const n of names) if (n.endsWith('.entry.tmp') || n === `${MARKER_FILE}.tmp`) await unlink(join(dir, n)).catch(() => {});
    // Body files by id; a temp one is a write a crash cut short.
    const bodyIds = new Set<number>();
    for (const n of await readdir(join(dir, BODIES_DIR))) {
      const m = BODY_RE.exec(n);
      if (m) bodyIds.add(parseInt(m[1]!, 36));
      else if (n.endsWith('.body.tmp')) await unlink(join(dir, BODIES_DIR, n)).catch(() => {});
    }
    // Entry files by seq, in write order.
    const files: number[] = [];
    for (const n of names) {
      const m = ENTRY_RE.exec(n);
      if (m === null) continue;
      const seq = parseInt(m[1]!, 36);
      files.push(seq);
      if (m[2] !== undefined) this.#legacy.set(seq, n);
    }
    files.sort((a, b) => a - b);
    lap('readdirs');
    const image = this.#index.read();
    const journal = this.#log.readJournal();
    let max = Math.max(files.length > 0 ? files[files.length - 1]! : 0, image.maxSeq);
    for (const id of bodyIds) max = Math.max(max, id);
    for (const r of journal) max = Math.max(max, r.seq);
    const markers = this.#log.readMarkers();
    if (markers === undefined) {
      // Written atomically, so this is damage from outside: purges may be lost, so nothing on disk is trusted.
      this.#opts.logger?.error({ path: dir }, 'disk cache: purge markers unreadable; dropping the whole disk cache');
      this.#log.markers = { cleared: max, zones: {} };
      this.#log.saveMarkers();
    } else {
      this.#log.markers = markers;
      max = Math.max(max, markers.cleared);
      for (const m of Object.values(markers.zones)) max = Math.max(max, m.hard, m.soft);
    }
    this.#seq = max;
    lap('index read');

    // One record per body file, whichever variants name it (shared bodies stay shared).
    const bodies = new Map<number, DiskBody>();
    const migrate: MemoryVariant[] = [];
    const unindexed: MemoryVariant[] = [];
    // Only entry files the index has no record of are read (a crash between a file's write and its record's).
    const reads = new Map<number, Promise<Buffer | Error>>();
    const toRead = files.filter((seq) => !image.records.has(seq));
    let ahead = 0;
    let readAt = 0;
    let j = 0;
    for (const seq of files) {
      const rec = image.records.get(seq);
      image.records.delete(seq);
      // Targeted purges replay in order with the files: one covers exactly the files written before it.
      while (j < journal.length && journal[j]!.seq < seq) { const r = journal[j++]!; this.#mem.purge(r.target, r.soft); }
      let meta: IndexRecord & { headers?: [string, string][]; file?: number };
      let body: Buffer = EMPTY;
      let reason: string | undefined;
      if (rec !== undefined) {
        meta = rec;
      } else {
        readAt++;
        for (; ahead < toRead.length && ahead < readAt + READ_AHEAD; ahead++) {
          const s = toRead[ahead]!;
          reads.set(s, readFile(join(dir, this.#nameOf(s))).catch((e: Error) => e));
        }
        const buf = await reads.get(seq)!;
        reads.delete(seq);
        const decoded = buf instanceof Error ? buf : await decodeEntry(buf).catch((e: Error) => e);
        if (decoded instanceof Error) { reason = decoded.message; meta = undefined!; }
        else { meta = decoded.meta as IndexRecord & { headers: [string, string][] }; body = decoded.body; if (decoded.meta.seq !== seq) reason = 'sequence number does not match the name'; }
      }
      if (reason === undefined && meta.file !== undefined && !bodyIds.has(meta.file)) reason = 'its body file is missing';
      if (reason !== undefined) {
        this.#stats.corrupt++;
        this.#opts.logger?.warn({ file: join(dir, this.#nameOf(seq)), reason }, 'disk cache: a torn or corrupt entry was skipped and deleted');
        void this.#track(this.#unlinkEntry(seq));
        continue;
      }
      const zone = this.#log.markers.zones[meta.zoneId];
      if (seq <= this.#log.markers.cleared || (zone && seq <= zone.hard)) { void this.#track(this.#unlinkEntry(seq)); continue; }
      let file: DiskBody | undefined;
      if (meta.file !== undefined) {
        file = bodies.get(meta.file);
        if (file === undefined) bodies.set(meta.file, (file = new DiskBody(this, meta.file, meta.bodyLength)));
      }
      const v = this.#mem.insert({
        zoneId: meta.zoneId, host: meta.host, path: meta.path, query: meta.query, objectKey: meta.objectKey,
        keyNames: meta.keyNames, selector: meta.selector, status: meta.status, headers: meta.headers ?? NO_FIELDS, body, bodyFile: file,
        freshness: meta.freshness, tags: meta.tags, soft: meta.forcedStale || (zone !== undefined && seq <= zone.soft),
        storedAt: meta.storedAt,
      }) as MemoryVariant | undefined;
      if (!v) { void this.#track(this.#unlinkEntry(seq)); continue; }
      v.entry = seq;
      if (file !== undefined && file.record === undefined) { file.record = v.bodyRecord; this.#diskBytes += file.length; }
      // An entry of the older format (body after its meta): rewritten as a body file and a meta file.
      if (file === undefined) migrate.push(v);
      else if (rec === undefined) unindexed.push(v);
      else { v.dropFields(); this.#stats.indexed++; }
      this.#stats.loaded++;
    }
    while (j < journal.length) { const r = journal[j++]!; this.#mem.purge(r.target, r.soft); }
    lap('inserted');
    // Body files no entry names (a crash between a body's write and its entry's, or during a purge) are deleted.
    for (const id of bodyIds) {
      const f = bodies.get(id);
      if (f === undefined || f.record === undefined || f.record.refs === 0) void this.#track(this.#unlinkBody(id));
    }
    // The journal's purges are now applied and their files gone: start it afresh.
    await this.flush();
    lap('flushed');
    await fsyncDir(dir);
    lap('fsynced');
    this.#log.openJournal();
    this.#index.openJournal();
    // Records whose files are gone (left in the index by a crash) go; entries read from their files get records.
    for (const seq of image.records.keys()) this.#index.delete(seq);
    for (const v of unindexed) if (this.#mem.holds(v)) { this.#index.put(this.#recordOf(v, v.entry)); v.dropFields(); }
    for (const v of migrate) if (this.#mem.holds(v)) this.#persist(v);
    this.#boundDisk();
    // One snapshot of what was loaded replaces the files read, in the background.
    if (image.journalLines > 0 || image.torn > 0 || image.records.size > 0 || unindexed.length > 0) void this.#compact();
  }

  /** The index record of a variant's entry file `seq` as the variant is now; `file`: its body file's id (default: the one it has). */
  #recordOf(v: MemoryVariant, seq: number, file = (v.bodyRecord.file as DiskBody).id): IndexRecord {
    return {
      seq, zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: v.keyNames,
      selector: v.selector, status: v.status, freshness: { ...v.freshness }, tags: v.tags, forcedStale: v.forcedStale,
      storedAt: v.storedAt, bodyLength: v.bodyLength, file,
    };
  }

  /** Rewrites the index as one snapshot of the live variants whose entry files are written. */
  #compact(): Promise<void> {
    const mem = this.#mem;
    const chains = this.#chains;
    const recordOf = (v: MemoryVariant, seq: number): IndexRecord => this.#recordOf(v, seq);
    return this.#track(this.#index.compact(function* live() {
      for (const v of mem.allVariants()) {
        // A variant gone meanwhile, or whose file is being written (its record goes to the new journal when it is).
        if (v.entry === 0 || chains.has(v) || v.bodyRecord.file === undefined || !mem.holds(v)) continue;
        yield recordOf(v, v.entry);
      }
    }));
  }

  /** After a journal append: a compaction once the journal holds far more records than there are variants. */
  #maybeCompact(): void {
    if (this.#index.journalRecords > Math.max(100_000, 2 * this.#mem.stats().variants)) void this.#compact();
  }

  #nameOf(seq: number): string {
    return this.#legacy.get(seq) ?? `${seq.toString(36).padStart(11, '0')}.entry`;
  }

  /**
   * Writes the variant's current state to a new entry file (after its body's file, written once for every variant
   * sharing it), records it in the index, then unlinks the entry file it replaces (if any). A cold variant's fields
   * are read from the file it replaces.
   */
  #persist(v: MemoryVariant): void {
    if (this.#closed) return;
    try {
      const seq = ++this.#seq;
      const old = v.entry;
      v.entry = seq;
      const record = v.bodyRecord;
      const index = this.#recordOf(v, seq, 0);
      const fields = v.hasFields ? v.headers : undefined;
      const prev = this.#chains.get(v);
      const p = this.#track((prev ?? Promise.resolve()).then(async () => {
        const file = await this.#bodyFile(record);
        let headers = fields;
        if (headers === undefined && old !== 0) {
          const decoded = await readFile(join(this.dir, this.#nameOf(old))).then(decodeEntry).catch(() => undefined);
          headers = decoded?.meta.headers;
        }
        let written = false;
        if (file !== undefined && headers !== undefined) {
          const meta: EntryMeta = { ...index, keyNames: [...index.keyNames], tags: [...index.tags], headers, file: file.id };
          written = await this.#write(this.#nameOf(seq), Buffer.from(JSON.stringify(meta)));
          if (written) this.#index.put({ ...index, file: file.id });
        }
        if (old !== 0) await this.#unlinkEntry(old); // even when the write failed: an outdated file must not load
        if (v.entry !== seq) return;
        if (!written) {
          // Not persisted: served from memory while its fields are; a cold one cannot be served any more.
          v.entry = 0;
          if (!v.hasFields) this.#mem.remove(v);
        }
      }));
      this.#chains.set(v, p);
      void p.finally(() => {
        if (this.#chains.get(v) !== p) return;
        this.#chains.delete(v);
        if (v.entry !== 0 && v.hasFields && this.#mem.holds(v)) this.#fields.add(v);
        this.#maybeCompact();
      });
    } catch (err) { this.#fail('write', err); }
  }

  /** The body's file: written now (once, whatever variants share it) unless it has one; undefined when the write failed. */
  #bodyFile(b: Body): Promise<DiskBody | undefined> {
    if (b.file !== undefined) return Promise.resolve(b.file as DiskBody);
    const writing = this.#bodyWrites.get(b);
    if (writing !== undefined) return writing;
    const buf = b.buf!;
    const id = ++this.#seq;
    const p = writeBodyFile(this.dir, id, buf).then(() => {
      this.#bodyWrites.delete(b);
      const file = new DiskBody(this, id, buf.length);
      file.record = b;
      this.#stats.writes++;
      if (b.refs === 0) { void this.#track(this.#unlinkBody(id)); return file; }
      b.file = file;
      this.#diskBytes += file.length;
      this.#hot.push(b);
      this.#boundMemory();
      this.#boundDisk();
      return file;
    }, (err: unknown) => {
      this.#bodyWrites.delete(b);
      this.#stats.writeErrors++;
      this.#opts.logger?.warn({ path: this.dir, err: String(err) }, 'disk cache: cannot write a body file (it is served from memory but not persisted)');
      return undefined;
    });
    this.#bodyWrites.set(b, p);
    return p;
  }

  /** The memory tier over its bound: the least recently used bodies leave memory (their files stay). */
  #boundMemory(): void {
    while (this.#hot.bytes > this.#memoryMax && this.#hot.oldest !== undefined) {
      const b = this.#hot.oldest;
      this.#hot.remove(b);
      b.buf = undefined;
    }
  }

  /** The disk over its bound: the least recently used variants are evicted until their files fit. */
  #boundDisk(): void {
    while (this.#diskBytes > this.#diskMax && this.#mem.evictOldest()) { /* onRemove frees the files */ }
  }

  /** A body read whole from disk stays in memory when it fits well within the memory tier (an eighth of it at most). */
  promote(file: DiskBody, buf: Buffer): void {
    const b = file.record;
    if (b === undefined || b.refs === 0 || b.file !== file || b.buf !== undefined || buf.length > this.#memoryMax / 8) return;
    b.buf = buf;
    this.#hot.push(b);
    this.#stats.promotions++;
    this.#boundMemory();
  }

  async #write(name: string, json: Buffer): Promise<boolean> {
    const file = join(this.#opts.path, name);
    try {
      const parts = await encodeEntry(json, Buffer.alloc(0));
      const fh = await open(`${file}.tmp`, 'w');
      try {
        const { bytesWritten } = await fh.writev(parts);
        if (bytesWritten !== parts.reduce((n, b) => n + b.length, 0)) throw new Error(`short write (${bytesWritten} bytes)`);
        await fh.datasync();
      } finally { await fh.close(); }
      await rename(`${file}.tmp`, file);
      this.#stats.writes++;
      return true;
    } catch (err) {
      this.#stats.writeErrors++;
      this.#opts.logger?.warn({ file, err: String(err) }, 'disk cache: cannot write an entry (it is served from memory but not persisted)');
      await unlink(`${file}.tmp`).catch(() => {});
      return false;
    }
  }

  /** Unlinks an entry file and drops its index record. */
  async #unlinkEntry(seq: number): Promise<void> {
    const name = this.#nameOf(seq);
    try { await unlink(join(this.#opts.path, name)); this.#index.delete(seq); this.#legacy.delete(seq); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') { this.#index.delete(seq); return; }
      this.#stats.unlinkErrors++;
      this.#log.keep = true; // a purged file may still be there: replay the journal on the next open
      this.#opts.logger?.warn({ file: join(this.#opts.path, name), err: String(err) }, 'disk cache: cannot delete an entry file');
    }
  }

  #onRemove(sv: StoredVariant): void {
    if (this.#closed) return; // close() empties the index; the files stay for the next open
    const v = sv as MemoryVariant;
    this.#fields.delete(v);
    const b = v.bodyRecord;
    if (b.refs === 0) {
      // The body's last variant: out of the memory tier, and its file goes after a grace period (a hit may be opening it).
      this.#hot.remove(b);
      const file = b.file as DiskBody | undefined;
      if (file !== undefined) {
        b.file = undefined;
        this.#diskBytes -= file.length;
        this.#bury(file.id);
      }
    }
    const seq = v.entry;
    if (seq === 0) return;
    const prev = this.#chains.get(v);
    const p = this.#track((prev ?? Promise.resolve()).then(() => this.#unlinkEntry(seq)));
    this.#chains.set(v, p);
    void p.finally(() => { if (this.#chains.get(v) === p) this.#chains.delete(v); });
  }

  /** Unlinks a body file after UNLINK_GRACE_MS (at once on close). */
  #bury(id: number): void {
    const t = setTimeout(() => { this.#graves.delete(t); void this.#track(this.#unlinkBody(id)); }, UNLINK_GRACE_MS);
    t.unref();
    this.#graves.set(t, id);
  }

  async #unlinkBody(id: number): Promise<void> {
    try { await unlink(join(this.dir, BODIES_DIR, `${id.toString(36)}.body`)); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.#stats.unlinkErrors++;
      this.#opts.logger?.warn({ id, err: String(err) }, 'disk cache: cannot delete a body file');
    }
  }

  #track(p: Promise<void>): Promise<void> {
    this.#pending.add(p);
    this.#collect?.push(p);
    void p.finally(() => this.#pending.delete(p));
    return p;
  }

  #fail(what: 'write' | 'journal' | 'index', err: unknown): void {
    this.#stats.writeErrors++;
    this.#opts.logger?.error({ path: this.#opts.path, what, err: String(err) }, 'disk cache: write failed');
  }
}

// Disk cache store (`cache.store: disk`): a MemoryStore index, bodies in files (a bounded memory tier keeps hot ones), each variant's meta in its own checksummed file, an index file for open().
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeaderValues } from '../cache/key.js';
import type { Freshness } from '../cache/policy/types.js';
import { decodeEntry, writeEntryFile, type EntryMeta } from './disk-format.js';
import { releaseLock, takeLock } from './disk-lock.js';
import { MemoryStore } from './memory.js';
import type { DiskStats, DiskStoreOptions } from './disk-options.js';
import type { CacheStore, FieldsHold, PurgeTarget, StoreStats, StoredVariant, VariantInput, ZoneStoreStats } from './store.js';
import { BODIES_DIR, DiskBody } from './disk-body.js';
import { BodyFiles } from './disk-bodies.js';
import { BodyWriter } from './body-writer.js';
import type { MemoryVariant } from './variant.js';
import { PurgeLog } from './disk-purge-log.js';
import { DiskIndex, indexRecordOf } from './disk-index.js';
import { entryName } from './disk-load.js';
import { loadStore } from './disk-open.js';
import { WarmFields } from './disk-fields.js';

/** Fields kept in memory for this many variants at most (besides held ones), per 64 MiB of memory tier; at least 1024. */
const WARM_PER_64_MIB = 32_768;
export { DiskStoreError, decodeEntry, type DiskStoreErrorCode } from './disk-format.js';

export type { DiskStats, DiskStoreLogger, DiskStoreOptions } from './disk-options.js';

export class DiskStore implements CacheStore {
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
  readonly #stats: DiskStats = { loaded: 0, indexed: 0, corrupt: 0, fieldLoads: 0, warmFields: 0, writes: 0, writeErrors: 0, unlinkErrors: 0, pending: 0, memoryBytes: 0, diskBytes: 0, promotions: 0, openFiles: 0 };
  readonly dir: string;
  /** Body files and the memory tier over them. */
  readonly #bodies: BodyFiles;
  readonly #log: PurgeLog;
  #seq = 0;
  #closed = false;
  /** Body files of fills begun and neither stored nor aborted yet. */
  readonly #fills = new Set<number>();
  /** Collects the file operations a purge starts, so its journal record is dropped only after they finish. */
  #collect: Promise<void>[] | undefined;

  private constructor(opts: DiskStoreOptions) {
    this.#opts = opts;
    this.dir = opts.path;
    this.#log = new PurgeLog(opts.path, (what, err) => this.#fail(what, err));
    const memoryMax = opts.memoryMaxBytes ?? 64 * 1024 * 1024;
    this.#bodies = new BodyFiles({
      dir: opts.path, memoryMaxBytes: memoryMax, diskMaxBytes: opts.diskMaxBytes ?? Number.MAX_SAFE_INTEGER, nextId: () => ++this.#seq,
      stats: this.#stats, warn: (o, m) => this.#opts.logger?.warn(o, m), track: (p) => this.#track(p), evictOldest: () => this.#mem.evictOldest(),
      holds: (v) => this.#mem.holds(v),
    });
    this.#mem = new MemoryStore({
      maxBytes: opts.maxBytes, normalize: opts.normalize, chargeBodies: false, files: this.#bodies,
      onRemove: (v) => this.#onRemove(v),
      onMarkStale: (v) => { if ((v as MemoryVariant).entry !== 0) this.#persist(v as MemoryVariant); },
    });
    this.#index = new DiskIndex(opts.path, (err) => this.#fail('index', err));
    const warmMax = Math.max(1024, Math.floor((memoryMax / (64 * 1024 * 1024)) * WARM_PER_64_MIB));
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
  purgedSince(v: StoredVariant, sinceEpoch: number): boolean { return this.#mem.purgedSince(v, sinceEpoch); }
  variantsOf(objectKey: string): readonly StoredVariant[] { return this.#mem.variantsOf(objectKey); }
  hasVariants(objectKey: string): boolean { return this.#mem.hasVariants(objectKey); }
  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    const v = this.#mem.lookup(objectKey, headers) as MemoryVariant | undefined;
    // A hit on a body in the memory tier makes it its most recently used.
    const b = v?.bodyRecord;
    if (b !== undefined && b.hotNewer !== undefined) this.#bodies.hot.touch(b);
    return v;
  }
  stats(): StoreStats { return this.#mem.stats(); }
  zoneStats(): Record<string, ZoneStoreStats> { return this.#mem.zoneStats(); }
  diskStats(): DiskStats {
    return { ...this.#stats, pending: this.#pending.size, memoryBytes: this.#bodies.hot.bytes, diskBytes: this.#bodies.diskBytes, warmFields: this.#fields.size, openFiles: this.#bodies.openFiles };
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
    const filled = input.bodyFile instanceof DiskBody && input.bodyFile.home === this.#bodies && input.bodyFile.record === undefined ? input.bodyFile : undefined;
    if (filled !== undefined) this.#fills.delete(filled.id);
    const length = input.bodyFile?.length ?? input.body.length;
    const v = this.#closed || length > this.#bodies.deps.diskMaxBytes ? undefined : this.#mem.insert(input, sinceEpoch) as MemoryVariant | undefined;
    if (filled !== undefined) {
      // A fill streamed to its own file (beginFill): the file is the body's now, or goes when it was not stored.
      if (v === undefined || v.bodyRecord?.file !== filled) { this.#bodies.bury(filled.id); return v; }
      this.#bodies.adopt(filled, v.bodyRecord);
    }
    if (v) this.#persist(v);
    if (filled !== undefined) this.#bodies.boundDisk();
    return v;
  }

  /** A body file for a fill to stream into (file-body.ts); committed, it is stored with VariantInput.bodyFile. */
  beginFill(): BodyWriter | undefined {
    if (this.#closed) return undefined;
    const w = new BodyWriter(this.#bodies, ++this.#seq);
    // Open until stored (insert) or aborted: a close with one open does not vouch for the body files (it may leave one).
    this.#fills.add(w.id);
    const abort = w.abort.bind(w);
    w.abort = () => abort().finally(() => this.#fills.delete(w.id));
    return w;
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
    this.#fields.clear();
    this.#mem.clear();
    this.#bodies.buryNow();
    await this.flush();
    // Every file operation is done: the index names exactly the entry and body files there are, unless one of them
    // failed (a file not unlinked, a write lost), a fill is still open (its file may come after), or entry files have
    // names the index does not give.
    const s = this.#stats;
    this.#index.close(s.unlinkErrors === 0 && s.writeErrors === 0 && this.#legacy.size === 0 && this.#fills.size === 0 ? this.#seq : undefined);
    releaseLock(this.#opts.path);
  }

  /** Loads what is on disk (disk-open.ts), lending it the store's parts. */
  #load(): Promise<void> {
    return loadStore({
      dir: this.dir, logger: this.#opts.logger, mem: this.#mem, log: this.#log, index: this.#index, bodies: this.#bodies, stats: this.#stats,
      legacy: this.#legacy, setSeq: (seq) => { this.#seq = seq; }, track: (p) => this.#track(p), unlinkEntry: (seq) => this.#unlinkEntry(seq),
      persist: (v) => this.#persist(v), compact: () => this.#compact(), flush: () => this.flush(),
    });
  }

  /** Rewrites the index as one snapshot of the live variants whose entry files are written. */
  #compact(): Promise<void> {
    const mem = this.#mem;
    const chains = this.#chains;
    return this.#track(this.#index.compact(function* live() {
      for (const v of mem.allVariants()) {
        // A variant gone meanwhile, or whose file is being written (its record goes to the new journal when it is).
        if (v.entry === 0 || chains.has(v) || v.fileId === undefined || !mem.holds(v)) continue;
        yield indexRecordOf(v, v.entry);
      }
    }));
  }

  /** After a journal append: a compaction once the journal holds far more records than there are variants. */
  #maybeCompact(): void {
    if (this.#index.journalRecords > Math.max(100_000, 2 * this.#mem.stats().variants)) void this.#compact();
  }

  #nameOf(seq: number): string { return entryName(seq, this.#legacy); }

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
      const index = indexRecordOf(v, seq, 0);
      const fields = v.hasFields ? v.headers : undefined;
      const prev = this.#chains.get(v);
      const p = this.#track((prev ?? Promise.resolve()).then(async () => {
        // Its body as it is now (parked meanwhile, it has no record: its file is known).
        const record = v.bodyRecord;
        const file = record === undefined ? { id: v.fileId! } : await this.#bodies.fileOf(record);
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

  async #write(name: string, json: Buffer): Promise<boolean> {
    const file = join(this.#opts.path, name);
    try {
      await writeEntryFile(file, json);
      this.#stats.writes++;
      return true;
    } catch (err) {
      this.#stats.writeErrors++;
      this.#opts.logger?.warn({ file, err: String(err) }, 'disk cache: cannot write an entry (it is served from memory but not persisted)');
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
    if (b === undefined) this.#bodies.releaseFile(v.fileId!, v.bodyLength); // parked: the variant held its file alone
    else if (b.refs === 0) this.#bodies.release(b);
    const seq = v.entry;
    if (seq === 0) return;
    const prev = this.#chains.get(v);
    const p = this.#track((prev ?? Promise.resolve()).then(() => this.#unlinkEntry(seq)));
    this.#chains.set(v, p);
    void p.finally(() => { if (this.#chains.get(v) === p) this.#chains.delete(v); });
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

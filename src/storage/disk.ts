// Disk cache store (`cache.store: disk`): a MemoryStore index, bodies in files (a bounded memory tier keeps hot ones), each variant's meta in its own checksummed file.
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
import type { Body, MemoryVariant } from './variant.js';
import { fsyncDir, MARKER_FILE, PurgeLog } from './disk-purge-log.js';

/*
 * Entry files (their layout: disk-format.ts) are named `<seq base36, 11 digits>-<random>.entry` and never reused; `seq`
 * orders writes across restarts (a purge marker or journal record covers exactly the files whose seq is not above its own).
 */
const ENTRY_RE = /^([0-9a-z]{11})-[0-9a-f]{8}\.entry$/;
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
  corrupt: number;       // torn or corrupt files skipped and deleted by open()
  writes: number;        // entry files written
  writeErrors: number;   // entry, marker or journal writes that failed (the entry just is not persisted)
  unlinkErrors: number;
  pending: number;       // file operations in progress
  memoryBytes: number;   // body bytes in the memory tier (bodies written to disk and still in memory)
  diskBytes: number;     // body bytes in body files
  promotions: number;    // bodies read from disk and kept in memory
}

interface FileRec { name: string; chain: Promise<void> }

export class DiskStore implements CacheStore, BodyHome {
  readonly #opts: DiskStoreOptions;
  readonly #mem: MemoryStore;
  readonly #files = new Map<StoredVariant, FileRec>();
  readonly #pending = new Set<Promise<void>>();
  readonly #stats: DiskStats = { loaded: 0, corrupt: 0, writes: 0, writeErrors: 0, unlinkErrors: 0, pending: 0, memoryBytes: 0, diskBytes: 0, promotions: 0 };
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
      onMarkStale: (v) => { if (this.#files.has(v)) this.#persist(v); },
    });
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
  diskStats(): DiskStats { return { ...this.#stats, pending: this.#pending.size, memoryBytes: this.#hot.bytes, diskBytes: this.#diskBytes }; }

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
    if (this.#files.has(v)) this.#persist(v);
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
    this.#files.clear();
    this.#mem.clear();
    // Body files waiting out their grace period go now (nothing serves them any more).
    for (const [t, id] of this.#graves) { clearTimeout(t); void this.#track(this.#unlinkBody(id)); }
    this.#graves.clear();
    await this.flush();
    releaseLock(this.#opts.path);
  }

  async #load(): Promise<void> {
    const dir = this.#opts.path;
    const names = (await readdir(dir)).sort();
    for (const n of names) if (n.endsWith('.entry.tmp') || n === `${MARKER_FILE}.tmp`) await unlink(join(dir, n)).catch(() => {});
    // Body files by id; a temp one is a write a crash cut short.
    const bodyIds = new Set<number>();
    for (const n of await readdir(join(dir, BODIES_DIR))) {
      const m = BODY_RE.exec(n);
      if (m) bodyIds.add(parseInt(m[1]!, 36));
      else if (n.endsWith('.body.tmp')) await unlink(join(dir, BODIES_DIR, n)).catch(() => {});
    }
    const journal = this.#log.readJournal();
    const entries = names.filter((n) => ENTRY_RE.test(n));
    const seqOf = (n: string): number => parseInt(n.slice(0, 11), 36);
    let max = entries.length > 0 ? seqOf(entries[entries.length - 1]!) : 0;
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

    // One record per body file, whichever variants name it (shared bodies stay shared).
    const bodies = new Map<number, DiskBody>();
    const migrate: StoredVariant[] = [];
    const reads: (Promise<Buffer | Error> | undefined)[] = [];
    let j = 0;
    for (let i = 0; i < entries.length; i++) {
      for (let k = reads.length; k < Math.min(entries.length, i + READ_AHEAD); k++) {
        reads.push(readFile(join(dir, entries[k]!)).catch((e: Error) => e));
      }
      const name = entries[i]!;
      const seq = seqOf(name);
      const buf = await reads[i]!;
      reads[i] = undefined;
      // Targeted purges replay in order with the files: one covers exactly the files written before it.
      while (j < journal.length && journal[j]!.seq < seq) { const r = journal[j++]!; this.#mem.purge(r.target, r.soft); }
      const decoded = buf instanceof Error ? buf : await decodeEntry(buf).catch((e: Error) => e);
      const reason = decoded instanceof Error ? decoded.message
        : decoded.meta.seq !== seq ? 'sequence number does not match the name'
        : decoded.meta.file !== undefined && !bodyIds.has(decoded.meta.file) ? 'its body file is missing' : undefined;
      if (reason !== undefined || decoded instanceof Error) {
        this.#stats.corrupt++;
        this.#opts.logger?.warn({ file: join(dir, name), reason }, 'disk cache: a torn or corrupt entry was skipped and deleted');
        void this.#track(this.#unlink(name));
        continue;
      }
      const { meta, body } = decoded;
      const zone = this.#log.markers.zones[meta.zoneId];
      if (seq <= this.#log.markers.cleared || (zone && seq <= zone.hard)) { void this.#track(this.#unlink(name)); continue; }
      let file: DiskBody | undefined;
      if (meta.file !== undefined) {
        file = bodies.get(meta.file);
        if (file === undefined) bodies.set(meta.file, (file = new DiskBody(this, meta.file, meta.bodyLength)));
      }
      const v = this.#mem.insert({
        zoneId: meta.zoneId, host: meta.host, path: meta.path, query: meta.query, objectKey: meta.objectKey,
        keyNames: meta.keyNames, selector: meta.selector, status: meta.status, headers: meta.headers, body, bodyFile: file,
        freshness: meta.freshness, tags: meta.tags, soft: meta.forcedStale || (zone !== undefined && seq <= zone.soft),
        storedAt: meta.storedAt,
      }) as MemoryVariant | undefined;
      if (!v) { void this.#track(this.#unlink(name)); continue; }
      if (file !== undefined && file.record === undefined) { file.record = v.bodyRecord; this.#diskBytes += file.length; }
      this.#files.set(v, { name, chain: Promise.resolve() });
      // An entry of the older format (body after its meta): rewritten as a body file and a meta file.
      if (file === undefined) migrate.push(v);
      this.#stats.loaded++;
    }
    while (j < journal.length) { const r = journal[j++]!; this.#mem.purge(r.target, r.soft); }
    // Body files no entry names (a crash between a body's write and its entry's, or during a purge) are deleted.
    for (const id of bodyIds) {
      const f = bodies.get(id);
      if (f === undefined || f.record === undefined || f.record.refs === 0) void this.#track(this.#unlinkBody(id));
    }
    for (const v of migrate) if (this.#files.has(v)) this.#persist(v);
    // The journal's purges are now applied and their files gone: start it afresh.
    await this.flush();
    await fsyncDir(dir);
    this.#log.openJournal();
    this.#boundDisk();
  }

  /**
   * Writes the variant's current state to a new entry file (after its body's file, written once for every variant
   * sharing it), then unlinks the entry file it replaces (if any).
   */
  #persist(v: StoredVariant): void {
    if (this.#closed) return;
    try {
      const seq = ++this.#seq;
      const name = `${seq.toString(36).padStart(11, '0')}-${randomBytes(4).toString('hex')}.entry`;
      const meta: EntryMeta = {
        seq, zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: [...v.keyNames],
        selector: v.selector, status: v.status, headers: v.headers, freshness: v.freshness, tags: [...v.tags],
        forcedStale: v.forcedStale, storedAt: v.storedAt, bodyLength: v.bodyLength,
      };
      const record = (v as MemoryVariant).bodyRecord;
      const prev = this.#files.get(v);
      const old = prev?.name;
      const rec: FileRec = prev ?? { name, chain: Promise.resolve() };
      rec.name = name;
      this.#files.set(v, rec);
      rec.chain = this.#track(rec.chain.then(async () => {
        const file = await this.#bodyFile(record);
        if (file !== undefined) {
          meta.file = file.id;
          await this.#write(name, Buffer.from(JSON.stringify(meta)));
        }
        if (old !== undefined) await this.#unlink(old); // even when the write failed: an outdated file must not load
      }));
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

  async #write(name: string, json: Buffer): Promise<void> {
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
    } catch (err) {
      this.#stats.writeErrors++;
      this.#opts.logger?.warn({ file, err: String(err) }, 'disk cache: cannot write an entry (it is served from memory but not persisted)');
      await unlink(`${file}.tmp`).catch(() => {});
    }
  }

  async #unlink(name: string): Promise<void> {
    try { await unlink(join(this.#opts.path, name)); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.#stats.unlinkErrors++;
      this.#log.keep = true; // a purged file may still be there: replay the journal on the next open
      this.#opts.logger?.warn({ file: join(this.#opts.path, name), err: String(err) }, 'disk cache: cannot delete an entry file');
    }
  }

  #onRemove(v: StoredVariant): void {
    if (this.#closed) return; // close() empties the index; the files stay for the next open
    const b = (v as MemoryVariant).bodyRecord;
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
    const rec = this.#files.get(v);
    if (!rec) return;
    this.#files.delete(v);
    rec.chain = this.#track(rec.chain.then(() => this.#unlink(rec.name)));
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

  #fail(what: 'write' | 'journal', err: unknown): void {
    this.#stats.writeErrors++;
    this.#opts.logger?.error({ path: this.#opts.path, what, err: String(err) }, 'disk cache: write failed');
  }
}

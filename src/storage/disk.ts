// Disk cache store (`cache.store: disk`): a MemoryStore index and bodies, every variant mirrored to its own checksummed file.
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeaderValues } from '../cache/key.js';
import type { Freshness } from '../cache/policy/types.js';
import { decodeEntry, encodeEntry, type EntryMeta } from './disk-format.js';
import { releaseLock, takeLock } from './disk-lock.js';
import { MemoryStore, type MemoryStoreOptions } from './memory.js';
import type { CacheStore, PurgeTarget, StoreStats, StoredVariant, VariantInput, ZoneStoreStats } from './store.js';

/*
 * Entry files (their layout: disk-format.ts) are named `<seq base36, 11 digits>-<random>.entry` and never reused; `seq`
 * orders writes across restarts (a purge marker or journal record covers exactly the files whose seq is not above its own).
 */
const ENTRY_RE = /^([0-9a-z]{11})-[0-9a-f]{8}\.entry$/;
const MARKER_FILE = 'purged-everything.json';
const JOURNAL_FILE = 'purges.journal';
/** Files read ahead of the one being inserted while loading. */
const READ_AHEAD = 8;

export { DiskStoreError, decodeEntry, type DiskStoreErrorCode } from './disk-format.js';

export interface DiskStoreLogger { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }

export interface DiskStoreOptions {
  path: string;
  maxBytes: number;
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
}

interface FileRec { name: string; chain: Promise<void> }
interface ZoneMarker { hard: number; soft: number; hardAt?: number; softAt?: number }
/** Purge-everything generations (per zone) and clear(): files with a seq at or below them are purged. */
interface Markers { cleared: number; zones: Record<string, ZoneMarker> }
interface JournalRecord { seq: number; target: PurgeTarget; soft: boolean }

export class DiskStore implements CacheStore {
  readonly #opts: DiskStoreOptions;
  readonly #mem: MemoryStore;
  readonly #files = new Map<StoredVariant, FileRec>();
  readonly #pending = new Set<Promise<void>>();
  readonly #stats: DiskStats = { loaded: 0, corrupt: 0, writes: 0, writeErrors: 0, unlinkErrors: 0, pending: 0 };
  #markers: Markers = { cleared: 0, zones: {} };
  #seq = 0;
  #closed = false;
  /** Purge journal: targeted purges are appended before they apply, replayed on open, emptied once their files are gone. */
  #journalFd: number | undefined;
  #journalRecords = 0;
  #journalOpen = 0;
  #journalKeep = false;
  #syncQueued = false;
  /** Collects the file operations a purge starts, so its journal record is dropped only after they finish. */
  #collect: Promise<void>[] | undefined;

  private constructor(opts: DiskStoreOptions) {
    this.#opts = opts;
    this.#mem = new MemoryStore({
      maxBytes: opts.maxBytes, normalize: opts.normalize,
      onRemove: (v) => this.#onRemove(v),
      onMarkStale: (v) => { if (this.#files.has(v)) this.#persist(v); },
    });
  }

  /** Opens (creating) the directory, takes its lock, loads every intact entry; a torn or corrupt file is deleted. */
  static async open(opts: DiskStoreOptions): Promise<DiskStore> {
    await mkdir(opts.path, { recursive: true });
    takeLock(opts.path);
    const store = new DiskStore(opts);
    try { await store.#load(); } catch (err) { releaseLock(opts.path); throw err; }
    return store;
  }

  epoch(): number { return this.#mem.epoch(); }
  variantsOf(objectKey: string): readonly StoredVariant[] { return this.#mem.variantsOf(objectKey); }
  hasVariants(objectKey: string): boolean { return this.#mem.hasVariants(objectKey); }
  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined { return this.#mem.lookup(objectKey, headers); }
  stats(): StoreStats { return this.#mem.stats(); }
  zoneStats(): Record<string, ZoneStoreStats> { return this.#mem.zoneStats(); }
  diskStats(): DiskStats { return { ...this.#stats, pending: this.#pending.size }; }

  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    if (this.#closed) return undefined;
    const v = this.#mem.insert(input, sinceEpoch);
    if (v) this.#persist(v);
    return v;
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
      const m = (this.#markers.zones[target.zoneId] ??= { hard: 0, soft: 0 });
      if (soft) { m.soft = this.#seq; m.softAt = Date.now(); } else { m.hard = this.#seq; m.hardAt = Date.now(); }
      this.#saveMarkers();
      return this.#mem.purge(target, soft);
    }
    this.#appendJournal({ seq: this.#seq, target, soft });
    const ops: Promise<void>[] = [];
    this.#collect = ops;
    let n: number;
    try { n = this.#mem.purge(target, soft); } finally { this.#collect = undefined; }
    this.#journalOpen++;
    void this.#track(Promise.all(ops).then(() => this.#recordDone()));
    return n;
  }

  clear(): void {
    this.#markers.cleared = this.#seq;
    this.#saveMarkers();
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
    if (this.#journalFd !== undefined) {
      try {
        if (this.#journalOpen === 0 && !this.#journalKeep) ftruncateSync(this.#journalFd, 0);
        fsyncSync(this.#journalFd);
        closeSync(this.#journalFd);
      } catch (err) { this.#fail('journal', err); }
      this.#journalFd = undefined;
    }
    this.#files.clear();
    this.#mem.clear();
    releaseLock(this.#opts.path);
  }

  async #load(): Promise<void> {
    const dir = this.#opts.path;
    const names = (await readdir(dir)).sort();
    for (const n of names) if (n.endsWith('.entry.tmp') || n === `${MARKER_FILE}.tmp`) await unlink(join(dir, n)).catch(() => {});
    const journal = this.#readJournal();
    const entries = names.filter((n) => ENTRY_RE.test(n));
    const seqOf = (n: string): number => parseInt(n.slice(0, 11), 36);
    let max = entries.length > 0 ? seqOf(entries[entries.length - 1]!) : 0;
    for (const r of journal) max = Math.max(max, r.seq);
    const markers = this.#readMarkers();
    if (markers === undefined) {
      // Written atomically, so this is damage from outside: purges may be lost, so nothing on disk is trusted.
      this.#opts.logger?.error({ path: dir }, 'disk cache: purge markers unreadable; dropping the whole disk cache');
      this.#markers = { cleared: max, zones: {} };
      this.#saveMarkers();
    } else {
      this.#markers = markers;
      max = Math.max(max, markers.cleared);
      for (const m of Object.values(markers.zones)) max = Math.max(max, m.hard, m.soft);
    }
    this.#seq = max;

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
      if (decoded instanceof Error || decoded.meta.seq !== seq) {
        this.#stats.corrupt++;
        this.#opts.logger?.warn({ file: join(dir, name), reason: decoded instanceof Error ? decoded.message : 'sequence number does not match the name' },
          'disk cache: a torn or corrupt entry was skipped and deleted');
        void this.#track(this.#unlink(name));
        continue;
      }
      const { meta, body } = decoded;
      const zone = this.#markers.zones[meta.zoneId];
      if (seq <= this.#markers.cleared || (zone && seq <= zone.hard)) { void this.#track(this.#unlink(name)); continue; }
      const v = this.#mem.insert({
        zoneId: meta.zoneId, host: meta.host, path: meta.path, query: meta.query, objectKey: meta.objectKey,
        keyNames: meta.keyNames, selector: meta.selector, status: meta.status, headers: meta.headers, body,
        freshness: meta.freshness, tags: meta.tags, soft: meta.forcedStale || (zone !== undefined && seq <= zone.soft),
        storedAt: meta.storedAt,
      });
      if (!v) { void this.#track(this.#unlink(name)); continue; }
      this.#files.set(v, { name, chain: Promise.resolve() });
      this.#stats.loaded++;
    }
    while (j < journal.length) { const r = journal[j++]!; this.#mem.purge(r.target, r.soft); }
    // The journal's purges are now applied and their files gone: start it afresh.
    await this.flush();
    await fsyncDir(dir);
    try {
      this.#journalFd = openSync(join(dir, JOURNAL_FILE), 'a');
      if (!this.#journalKeep) ftruncateSync(this.#journalFd, 0);
    } catch (err) { this.#fail('journal', err); }
  }

  /** Writes the variant's current state to a new file, then unlinks the file it replaces (if any). */
  #persist(v: StoredVariant): void {
    if (this.#closed) return;
    try {
      const seq = ++this.#seq;
      const name = `${seq.toString(36).padStart(11, '0')}-${randomBytes(4).toString('hex')}.entry`;
      const meta: EntryMeta = {
        seq, zoneId: v.zoneId, host: v.host, path: v.path, query: v.query, objectKey: v.objectKey, keyNames: [...v.keyNames],
        selector: v.selector, status: v.status, headers: v.headers, freshness: v.freshness, tags: [...v.tags],
        forcedStale: v.forcedStale, storedAt: v.storedAt, bodyLength: v.body.length,
      };
      const json = Buffer.from(JSON.stringify(meta));
      const body = v.body;
      const prev = this.#files.get(v);
      const old = prev?.name;
      const rec: FileRec = prev ?? { name, chain: Promise.resolve() };
      rec.name = name;
      this.#files.set(v, rec);
      rec.chain = this.#track(rec.chain.then(async () => {
        await this.#write(name, json, body);
        if (old !== undefined) await this.#unlink(old); // even when the write failed: an outdated file must not load
      }));
    } catch (err) { this.#fail('write', err); }
  }

  async #write(name: string, json: Buffer, body: Buffer): Promise<void> {
    const file = join(this.#opts.path, name);
    try {
      const parts = await encodeEntry(json, body);
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
      this.#journalKeep = true; // a purged file may still be there: replay the journal on the next open
      this.#opts.logger?.warn({ file: join(this.#opts.path, name), err: String(err) }, 'disk cache: cannot delete an entry file');
    }
  }

  #onRemove(v: StoredVariant): void {
    const rec = this.#files.get(v);
    if (!rec || this.#closed) return;
    this.#files.delete(v);
    rec.chain = this.#track(rec.chain.then(() => this.#unlink(rec.name)));
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

  /** The purge markers; undefined when the file exists but cannot be read or parsed. */
  #readMarkers(): Markers | undefined {
    let text: string;
    try { text = readFileSync(join(this.#opts.path, MARKER_FILE), 'utf8'); } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { cleared: 0, zones: {} } : undefined;
    }
    try {
      const m = JSON.parse(text) as Markers;
      if (typeof m.cleared !== 'number' || typeof m.zones !== 'object' || m.zones === null) return undefined;
      if (Object.values(m.zones).some((z) => typeof z?.hard !== 'number' || typeof z.soft !== 'number')) return undefined;
      return { cleared: m.cleared, zones: m.zones };
    } catch { return undefined; }
  }

  #saveMarkers(): void {
    const file = join(this.#opts.path, MARKER_FILE);
    try {
      const fd = openSync(`${file}.tmp`, 'w');
      try { writeSync(fd, JSON.stringify({ version: 1, ...this.#markers })); fsyncSync(fd); } finally { closeSync(fd); }
      renameSync(`${file}.tmp`, file);
    } catch (err) { this.#fail('write', err); }
  }

  #readJournal(): JournalRecord[] {
    let text: string;
    try { text = readFileSync(join(this.#opts.path, JOURNAL_FILE), 'utf8'); } catch { return []; }
    const out: JournalRecord[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const r = JSON.parse(line) as JournalRecord;
        if (typeof r.seq === 'number' && typeof r.target?.kind === 'string' && r.target.kind !== 'everything') out.push(r);
      } catch { /* a torn last line: that purge never returned */ }
    }
    return out;
  }

  #appendJournal(r: JournalRecord): void {
    const fd = this.#journalFd;
    if (fd === undefined || this.#closed) return;
    try {
      writeSync(fd, `${JSON.stringify(r)}\n`);
      this.#journalRecords++;
    } catch (err) { this.#fail('journal', err); return; }
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    setImmediate(() => {
      this.#syncQueued = false;
      if (this.#journalFd === fd) fdatasync(fd, (err) => { if (err) this.#fail('journal', err); });
    });
  }

  /** Every file operation of a journalled purge has finished: once none is open, the journal can be emptied. */
  #recordDone(): void {
    if (--this.#journalOpen > 0 || this.#journalKeep) return;
    const records = this.#journalRecords;
    void fsyncDir(this.#opts.path).then(() => {
      const fd = this.#journalFd;
      if (fd === undefined || this.#journalOpen > 0 || this.#journalKeep || this.#journalRecords !== records) return;
      try { ftruncateSync(fd, 0); this.#journalRecords = 0; } catch (err) { this.#fail('journal', err); }
    });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  try { const fh = await open(dir, 'r'); try { await fh.sync(); } finally { await fh.close(); } } catch { /* not supported everywhere */ }
}

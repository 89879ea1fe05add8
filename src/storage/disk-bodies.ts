// The disk tier's bodies: their files (written once per shared body, unlinked after a grace period) and the memory tier over them (LRU by bytes, promotions).
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BODIES_DIR, DiskBody, HotList, writeBodyFile, type BodyHome } from './disk-body.js';
import type { Body, MemoryVariant, ParkedFiles } from './variant.js';

/**
 * How long a body file outlives its last variant: a hit that found the variant just before it went opens the file a
 * moment later. A crash meanwhile leaves an orphan, deleted by the next open.
 */
const UNLINK_GRACE_MS = 2000;

/** What the bodies ask of their store: ids, counters, the log, tracking of file operations, evicting for disk room. */
export interface BodyFilesDeps {
  dir: string;
  memoryMaxBytes: number;
  diskMaxBytes: number;
  nextId(): number;
  stats: { writes: number; writeErrors: number; unlinkErrors: number; promotions: number };
  warn(obj: object, msg: string): void;
  track(p: Promise<void>): Promise<void>;
  /** Evicts the least recently used variant; false when there is none. */
  evictOldest(): boolean;
  /** Whether the variant is still stored. */
  holds(v: MemoryVariant): boolean;
}

export class BodyFiles implements BodyHome, ParkedFiles {
  readonly dir: string;
  /** The memory tier: bodies in memory that have a file too (demotable), least recently used first. */
  readonly hot = new HotList();
  diskBytes = 0;
  /** Body files being written, by body record: variants sharing a body wait for one write. */
  readonly #writes = new Map<Body, Promise<DiskBody | undefined>>();
  /** Body files waiting out UNLINK_GRACE_MS. */
  readonly #graves = new Map<NodeJS.Timeout, number>();

  constructor(readonly deps: BodyFilesDeps) { this.dir = deps.dir; }

  /** A file of this store's (committed by a fill, or loaded) now holds `b`'s bytes. */
  adopt(file: DiskBody, b: Body): void {
    file.record = b;
    this.diskBytes += file.length;
  }

  /** A handle on a parked body's file (variant.ts): reading it whole may bring the body back into memory (promote). */
  file(id: number, length: number, owner: MemoryVariant): DiskBody {
    const f = new DiskBody(this, id, length);
    f.owner = owner;
    return f;
  }

  /** The body's file: written now (once, whatever variants share it) unless it has one; undefined when the write failed. */
  fileOf(b: Body): Promise<DiskBody | undefined> {
    if (b.file !== undefined) return Promise.resolve(b.file as DiskBody);
    const writing = this.#writes.get(b);
    if (writing !== undefined) return writing;
    const buf = b.buf;
    if (buf === undefined) return Promise.resolve(undefined); // a record let go (its variant parked the body): nothing to write
    const id = this.deps.nextId();
    const p = writeBodyFile(this.dir, id, buf).then(() => {
      this.#writes.delete(b);
      const file = new DiskBody(this, id, buf.length);
      file.record = b;
      this.deps.stats.writes++;
      if (b.refs === 0) { void this.deps.track(this.unlink(id)); return file; }
      b.file = file;
      this.diskBytes += file.length;
      this.hot.push(b);
      this.#boundMemory();
      this.boundDisk();
      return file;
    }, (err: unknown) => {
      this.#writes.delete(b);
      this.deps.stats.writeErrors++;
      this.deps.warn({ path: this.dir, err: String(err) }, 'disk cache: cannot write a body file (it is served from memory but not persisted)');
      return undefined;
    });
    this.#writes.set(b, p);
    return p;
  }

  /** The body's last variant went: out of the memory tier, and its file goes after a grace period (a hit may be opening it). */
  release(b: Body): void {
    this.hot.remove(b);
    const file = b.file as DiskBody | undefined;
    if (file === undefined) return;
    b.file = undefined;
    this.diskBytes -= file.length;
    this.bury(file.id);
  }

  /** A parked body's variant went (it held the file alone): the file goes after the grace period. */
  releaseFile(id: number, length: number): void {
    this.diskBytes -= length;
    this.bury(id);
  }

  /** The memory tier over its bound: the least recently used bodies leave memory (their files stay). */
  #boundMemory(): void {
    while (this.hot.bytes > this.deps.memoryMaxBytes && this.hot.oldest !== undefined) {
      const b = this.hot.oldest;
      this.hot.remove(b);
      b.buf = undefined;
      // Its variant, if cold and alone on it, now holds the file id itself (variant.ts park).
      const owner = b.owner;
      if (owner !== undefined && this.deps.holds(owner)) owner.park();
    }
  }

  /** The disk over its bound: the least recently used variants are evicted until their files fit. */
  boundDisk(): void {
    while (this.diskBytes > this.deps.diskMaxBytes && this.deps.evictOldest()) { /* release() frees the files */ }
  }

  /** A body read whole from disk stays in memory when it fits well within the memory tier (an eighth of it at most). */
  promote(file: DiskBody, buf: Buffer): void {
    if (buf.length > this.deps.memoryMaxBytes / 8) return;
    const owner = file.owner;
    // A file that is its own record (loaded, or given back to a parked variant); a parked body's file (its variant
    // holds the id): the variant gets a record again, the file itself.
    const b = file.record ?? (file.file === file ? file : owner !== undefined && this.deps.holds(owner) ? owner.unparkAs(file) : undefined);
    if (b === undefined || b.refs === 0 || b.file !== file || b.buf !== undefined) return;
    b.buf = buf;
    this.hot.push(b);
    this.deps.stats.promotions++;
    this.#boundMemory();
  }

  /** Unlinks a body file after UNLINK_GRACE_MS (at once on close). */
  bury(id: number): void {
    const t = setTimeout(() => { this.#graves.delete(t); void this.deps.track(this.unlink(id)); }, UNLINK_GRACE_MS);
    t.unref();
    this.#graves.set(t, id);
  }

  /** Body files waiting out their grace period go now (nothing serves them any more). */
  buryNow(): void {
    for (const [t, id] of this.#graves) { clearTimeout(t); void this.deps.track(this.unlink(id)); }
    this.#graves.clear();
  }

  async unlink(id: number): Promise<void> {
    try { await unlink(join(this.dir, BODIES_DIR, `${id.toString(36)}.body`)); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.deps.stats.unlinkErrors++;
      this.deps.warn({ id, err: String(err) }, 'disk cache: cannot delete a body file');
    }
  }
}

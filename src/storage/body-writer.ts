// A body file written as a fill streams in (disk tier): appended at its temp name, fsynced and renamed on commit, unlinked on abort.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { bodyPath, DiskBody, type BodyHome } from './disk-body.js';

/**
 * One fill's body file. Readers may open `path` at any time and read up to `written` bytes (a fill's clients stream
 * from the growing file). Until `commit` it has a temp name that open() deletes, so a crash never leaves it served.
 */
export class BodyWriter {
  /** Where the bytes are now: the temp name, then the final one after commit (an open descriptor survives the rename). */
  path: string;
  /** Bytes written to the file (readable by others). */
  written = 0;
  #fh: Promise<FileHandle>;
  #queue: Promise<void> = Promise.resolve();
  #failed: Error | undefined;
  #done = false;
  /** The commit's rename, once started: a reader that found no file at the temp name looks again after it. */
  #renamed: Promise<void> | undefined;

  constructor(readonly home: BodyHome, readonly id: number) {
    this.path = `${bodyPath(home.dir, id)}.tmp`;
    this.#fh = open(this.path, 'w');
    this.#fh.catch(() => {});
  }

  /** Appends `buf` after what was queued before it; `onWritten` runs once it is in the file. Errors surface in commit(). */
  append(buf: Buffer, onWritten: () => void): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        const fh = await this.#fh;
        let at = 0;
        while (at < buf.length) {
          const { bytesWritten } = await fh.write(buf, at, buf.length - at, this.written + at);
          if (bytesWritten <= 0) throw new Error('short write');
          at += bytesWritten;
        }
        this.written += buf.length;
        onWritten();
      } catch (err) { this.#failed = err as Error; }
    });
  }

  /**
   * Opens the file for reading: once it exists (the writer's own open may still be under way), and at its final name
   * when commit renamed it meanwhile. Rejects when the fill failed (the file is gone).
   */
  async openForRead(): Promise<FileHandle> {
    await this.#fh;
    for (;;) {
      const at = this.path;
      try { return await open(at, 'r'); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || this.#renamed === undefined) throw err;
        await this.#renamed.catch(() => {});
        if (this.path === at) throw err;
      }
    }
  }

  /** Bytes appended but not yet in the file. */
  get queued(): Promise<void> { return this.#queue; }

  /** Waits for the writes, fsyncs and renames: the body file, or a rejection (then it is unlinked). */
  async commit(length: number): Promise<DiskBody> {
    await this.#queue;
    this.#done = true;
    try {
      if (this.#failed) throw this.#failed;
      if (this.written !== length) throw new Error(`${this.written} bytes written where ${length} were expected`);
      const fh = await this.#fh;
      await fh.datasync();
      await fh.close();
      const final = bodyPath(this.home.dir, this.id);
      this.#renamed = rename(this.path, final).then(() => { this.path = final; });
      await this.#renamed;
      return new DiskBody(this.home, this.id, length);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** The fill failed or is not stored: the file goes (readers with it open keep what they read). */
  async abort(): Promise<void> {
    this.#done = true;
    await this.#queue;
    await this.#fh.then((fh) => fh.close()).catch(() => {});
    await unlink(this.path).catch(() => {});
  }

  get done(): boolean { return this.#done; }
}

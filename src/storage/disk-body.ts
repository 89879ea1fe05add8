// The disk tier's body files (written to a temp name, fsynced, renamed), reading them back, and the memory tier's LRU list of bodies.
import { createReadStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BodyFile } from './store.js';
import type { Body, MemoryVariant } from './variant.js';

/** The directory under the cache path that holds body files, each named `<id base36>.body`. */
export const BODIES_DIR = 'bodies';
export const BODY_RE = /^([0-9a-z]{1,11})\.body$/;
/** Read stream buffer per client: a slow reader of a large body holds this much, never the body. */
const STREAM_CHUNK = 64 * 1024;

/** What a body file asks of its store: where it lives, reading it (through its open descriptor), whether a body just read may stay in memory. */
export interface BodyHome {
  readonly dir: string;
  /** A body was read whole from disk: keep it in the memory tier if it fits (`copy`: `buf` is the reader's, keep a copy). */
  promote(file: DiskBody, buf: Buffer, copy?: boolean): void;
  /** Reads the whole file into `buf` at `at` (room for its length and one byte more), checking its length; `done` once. */
  readInto(file: DiskBody, buf: Buffer, at: number, done: (err: Error | null) => void): void;
}

/**
 * One body file. Held by the body record (variant.ts Body.file); `record` points back once the index holds it. A file
 * loaded or filled is its own record (`claim`: the Body fields below), so a body only on disk costs one object.
 */
export class DiskBody implements BodyFile, Body {
  record: Body | undefined = undefined;
  /** The variant whose parked body this file is (a handle made for it: BodyFiles.file), or that holds it as its record. */
  owner: MemoryVariant | undefined = undefined;
  /** Body fields, used while the file is its own record (else idle). */
  buf: Buffer | undefined = undefined;
  refs = 0;
  file: BodyFile | undefined = undefined;
  hotOlder: Body | undefined = undefined;
  hotNewer: Body | undefined = undefined;
  constructor(readonly home: BodyHome, readonly id: number, readonly length: number) {}

  claim(): Body | undefined {
    if (this.record !== undefined || this.refs !== 0 || this.file !== undefined) return undefined;
    this.file = this;
    return this;
  }

  get path(): string { return bodyPath(this.home.dir, this.id); }

  stream(start: number, end: number): Readable {
    return createReadStream(this.path, { start, end, highWaterMark: STREAM_CHUNK });
  }

  read(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      // A buffer of its own (not a slice of Node's shared pool): it may stay in the memory tier.
      const buf = Buffer.allocUnsafeSlow(this.length + 1);
      this.home.readInto(this, buf, 0, (err) => {
        if (err !== null) { reject(err); return; }
        const body = buf.subarray(0, this.length);
        this.home.promote(this, body);
        resolve(body);
      });
    });
  }

  readInto(buf: Buffer, at: number, done: (err: Error | null) => void): void {
    this.home.readInto(this, buf, at, (err) => {
      if (err === null) this.home.promote(this, buf.subarray(at, at + this.length), true);
      done(err);
    });
  }
}

export function bodyPath(dir: string, id: number): string {
  return join(dir, BODIES_DIR, `${id.toString(36)}.body`);
}

/** Writes a body file durably: a temp name, fsync, then rename, so a crash never leaves a torn file under its name. */
export async function writeBodyFile(dir: string, id: number, buf: Buffer): Promise<void> {
  const file = bodyPath(dir, id);
  const tmp = `${file}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      let at = 0;
      while (at < buf.length) {
        const { bytesWritten } = await fh.write(buf, at, Math.min(buf.length - at, 8 * 1024 * 1024), at);
        if (bytesWritten <= 0) throw new Error('short write');
        at += bytesWritten;
      }
      await fh.datasync();
    } finally { await fh.close(); }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** The memory tier: bodies in memory that also have a file, least recently used first, bounded by their bytes. */
export class HotList {
  oldest: Body | undefined = undefined;
  newest: Body | undefined = undefined;
  bytes = 0;

  has(b: Body): boolean { return b.hotOlder !== undefined || this.oldest === b; }

  push(b: Body): void {
    b.hotOlder = this.newest;
    b.hotNewer = undefined;
    if (this.newest === undefined) this.oldest = b; else this.newest.hotNewer = b;
    this.newest = b;
    this.bytes += b.length;
  }

  remove(b: Body): void {
    if (!this.has(b)) return;
    if (b.hotOlder === undefined) this.oldest = b.hotNewer; else b.hotOlder.hotNewer = b.hotNewer;
    if (b.hotNewer === undefined) this.newest = b.hotOlder; else b.hotNewer.hotOlder = b.hotOlder;
    b.hotOlder = b.hotNewer = undefined;
    this.bytes -= b.length;
  }

  /** A hit on `b` (in the list): now the most recently used. */
  touch(b: Body): void {
    if (b.hotNewer === undefined) return;
    this.remove(b);
    this.push(b);
  }
}

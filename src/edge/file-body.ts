// A fill streamed to a disk tier's body file as it arrives: every client (those who join midway too) reads the growing
// file at its own pace, so a fill of any size holds a bounded buffer; a fill cut midway is never stored or served whole.
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BodyWriter } from '../storage/body-writer.js';
import type { BodyFile, StoredVariant } from '../storage/store.js';
import { classifyOriginError } from '../origin/client.js';
import type { Sink, Waiter } from './shared-body.js';

/** Bytes of the origin body waiting for the disk before the origin is paused (resumed at a quarter). */
const QUEUE_BYTES = 4 * 1024 * 1024;
/** What one client reads from the file per step: its whole buffer. */
const READ_BYTES = 64 * 1024;

export class FileBody {
  stored: StoredVariant | undefined;
  readonly joinable = true;
  readonly #settled: Promise<Error | undefined>;
  #settle!: (err: Error | undefined) => void;
  #received = 0;
  #ended = false;
  #error: Error | undefined;
  /** Clients reading, each with what ends its wait for a drain (it left: its loop must end, not wait forever). */
  readonly #readers = new Map<Sink, { cancel: (() => void) | undefined }>();
  readonly #waiters = new Set<Waiter>();
  /** Readers caught up with the file, waiting for it to grow (or end). */
  #wake: (() => void)[] = [];
  /**
   * Chunks received and queued for the file but not yet in it, oldest first, with the body offset each starts at: a
   * reader caught up with the file takes its next bytes from here (the writer holds them anyway), so a client never
   * waits for the disk round trip, and the first byte of a fill leaves as soon as the origin sends it.
   */
  #unwritten: { at: number; chunk: Buffer }[] = [];

  constructor(readonly writer: BodyWriter, readonly declared: number) {
    this.#settled = new Promise((r) => { this.#settle = r; });
  }

  /** Calls `fn` once the body is settled (as SharedBody.whenSettled). */
  whenSettled(fn: (err: Error | undefined) => void): void { void this.#settled.then(fn); }

  get failed(): Error | undefined { return this.#error; }
  /** A declared length within the limit (the only kind streamed to disk): stored unless it fails. */
  get mayStore(): boolean { return this.stored !== undefined || (!this.#error); }
  /** Bytes the fill holds in memory: what waits to be written. */
  get heldBytes(): number { return this.#received - this.writer.written; }

  subscribe(sink: Sink): void {
    if (this.#error) { sink.fail(this.#error); return; }
    this.#readers.set(sink, { cancel: undefined });
    void this.#read(sink);
  }

  unsubscribe(sink: Sink): void {
    const r = this.#readers.get(sink);
    this.#readers.delete(sink);
    r?.cancel?.();
    this.#notify();
  }

  /** HEAD and Range wait for the whole body: they are answered from the stored variant (its file), never a buffer. */
  wait(w: Waiter): void {
    if (this.#error) w.fail(this.#error);
    else if (this.#ended) w.complete(this.stored, undefined);
    else this.#waiters.add(w);
  }

  unwait(w: Waiter): void { this.#waiters.delete(w); }

  /** One client: reads what the file has, at the client's pace; waits for more; ends or fails with the fill. */
  async #read(sink: Sink): Promise<void> {
    // The file is opened when a read from it is first needed (a client that keeps up takes the queued chunks).
    let fh: FileHandle | undefined;
    try {
      let pos = 0;
      for (;;) {
        if (!this.#readers.has(sink)) return;
        if (this.#error) { this.#readers.delete(sink); sink.fail(this.#error); return; }
        // The last byte waits for the store: the next request after a complete response is a HIT.
        const limit = this.#ended ? this.declared : this.declared - 1;
        const inFile = Math.min(this.writer.written, limit);
        let piece: Buffer | undefined;
        if (pos < inFile) {
          if (fh === undefined) {
            try { fh = await this.writer.openForRead(); } catch (err) {
              if (this.#readers.delete(sink)) sink.fail(this.#error ?? (err as Error));
              return;
            }
          }
          const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, inFile - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead <= 0) throw new Error('the fill file ended early');
          piece = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        } else piece = this.#queuedAt(pos, limit);
        if (piece !== undefined) {
          pos += piece.length;
          const rec = this.#readers.get(sink);
          if (rec === undefined) return;
          if (!sink.write(piece)) {
            await new Promise<void>((r) => { rec.cancel = r; sink.onDrain(r); });
            rec.cancel = undefined;
          }
          continue;
        }
        if (this.#ended && pos === this.declared) { this.#readers.delete(sink); sink.end(this.stored); return; }
        await new Promise<void>((r) => this.#wake.push(r));
      }
    } catch (err) {
      if (this.#readers.delete(sink)) sink.fail(this.#error ?? (err as Error));
    } finally { await fh?.close().catch(() => {}); }
  }

  /** Bytes from offset `pos` (below `limit`) of a chunk still queued for the file, at most READ_BYTES; none: undefined. */
  #queuedAt(pos: number, limit: number): Buffer | undefined {
    if (pos >= limit) return undefined;
    for (const { at, chunk } of this.#unwritten) {
      if (pos < at) return undefined;
      const end = at + chunk.length;
      if (pos < end) return chunk.subarray(pos - at, Math.min(end, limit, pos + READ_BYTES) - at);
    }
    return undefined;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  #fail(err: Error): void {
    if (this.#error || this.#ended) return;
    this.#error = err;
    this.#unwritten = [];
    void this.writer.abort();
    for (const w of this.#waiters) w.fail(err);
    this.#waiters.clear();
    this.#notify();
    this.#settle(err);
  }

  /** Reads the origin body into the file; on its end (exactly `declared` bytes) commits it and stores it with `store`. */
  start(body: Readable, store: (file: BodyFile) => StoredVariant | undefined): void {
    let paused = false;
    const written = (): void => {
      this.#unwritten.shift(); // writes complete in the order they were queued
      if (paused && this.#received - this.writer.written <= QUEUE_BYTES / 4) { paused = false; body.resume(); }
      this.#notify();
    };
    body.on('data', (chunk: Buffer) => {
      if (this.#error) return;
      this.#received += chunk.length;
      if (this.#received > this.declared) { body.destroy(); this.#fail(classifyOriginError(new Error('origin sent more than its Content-Length'))); return; }
      this.#unwritten.push({ at: this.#received - chunk.length, chunk });
      this.writer.append(chunk, written);
      this.#notify();
      if (!paused && this.#received - this.writer.written > QUEUE_BYTES) { paused = true; body.pause(); }
    });
    body.on('end', () => {
      if (this.#error) return;
      if (this.#received !== this.declared) { this.#fail(classifyOriginError(new Error('origin body ended before its Content-Length'))); return; }
      this.writer.commit(this.declared).then((file) => {
        if (this.#error) return;
        // A store that fails stores nothing (the edge's guarded store counts it): the clients still get the body.
        try { this.stored = store(file); } catch { this.stored = undefined; }
        this.#ended = true;
        for (const w of this.#waiters) w.complete(this.stored, undefined);
        this.#waiters.clear();
        this.#notify();
        this.#settle(undefined);
      }, (err: Error) => this.#fail(classifyOriginError(err)));
    });
    body.on('error', (err) => this.#fail(classifyOriginError(err)));
  }
}

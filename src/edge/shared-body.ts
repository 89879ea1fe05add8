// The body of one origin fetch shared by the clients collapsed onto it: each reads at its own pace (backpressure), the
// fill keeps at most maxObjectBytes for all of them; past it the slowest client paces the origin, a stalled one is
// detached, and a download nobody reads that can no longer be stored is aborted.
import type { StoredVariant } from '../storage/store.js';
import { classifyOriginError, type BodyConsumer, type OriginBody } from '../origin/client.js';

/**
 * A client reading the shared body at its own pace: the flight writes while `write` returns true, then waits for the
 * client's drain. Memory is the fill's (bounded by maxObjectBytes), never a copy per client.
 */
export interface Sink {
  /** Takes one piece; false when the client cannot take more now. */
  write(b: Buffer): boolean;
  /** Calls `fn` once when the client can take more. */
  onDrain(fn: () => void): void;
  /** The whole body was written; `stored` is the variant the fill became (undefined when it was not stored). */
  end(stored: StoredVariant | undefined): void;
  /** The last piece and the end at once (optional: one write of the head, body and end for a body that came whole). */
  finish?(b: Buffer, stored: StoredVariant | undefined): void;
  fail(err: Error): void;
}

/** A request answered from the whole body (HEAD, Range): it waits for the fill and reads nothing meanwhile. */
export interface Waiter {
  /** The fill completed: its stored variant (if the store took it) and its body (undefined when it went to disk). */
  complete(stored: StoredVariant | undefined, body: Buffer | undefined): void;
  /** The body outgrew maxObjectBytes: there will be no whole body to answer from. */
  tooLarge(): void;
  fail(err: Error): void;
}

/** A client stalled past the flight's patience (typed, so the client side can tell it from an origin failure). */
export class StalledReaderError extends Error {
  readonly code = 'CLIENT_STALLED';
  constructor(ms: number) { super(`client took nothing for ${ms} ms while the origin waited for it`); this.name = 'StalledReaderError'; }
}

interface Reader {
  sink: Sink;
  /** Bytes written to this client. */
  offset: number;
  /** The next chunk of the flight's list to write (while the body is held as chunks). */
  index: number;
  /** Waiting for the client's drain. */
  blocked: boolean;
  /** `offset` when the stall timer was armed: no progress since then means stalled. */
  mark: number;
}

/** Shared, never added to (delete and clear on them are no-ops): a SharedBody makes its own at its first reader or waiter. */
const NO_READERS = new Map<Sink, Reader>();
const NO_WAITERS = new Set<Waiter>();

/** Past the fill (the body is no longer stored), how far the slowest client may fall behind before the origin is paused. */
const LAG_BYTES = 1024 * 1024;
/** Pieces written to a client from a whole body. */
const PIECE_BYTES = 64 * 1024;

export class SharedBody implements BodyConsumer {
  stored: StoredVariant | undefined;
  /** False once the body outgrew the object limit (no longer a fill): late subscribers can no longer get all of it. */
  joinable = true;
  /** Whether the body ended, failed or was abandoned (whenSettled's listeners have been called). */
  #isSettled = false;
  #settledWith: Error | undefined;
  /** whenSettled's listeners: one slot (the usual case), more in an array only when a second comes. */
  #onSettled: ((err: Error | undefined) => void) | undefined;
  #moreOnSettled: ((err: Error | undefined) => void)[] | undefined;
  /** The body as received: every chunk while it is a fill; past it, only what the slowest client has still to take. */
  #chunks: Buffer[] = [];
  /** Bytes dropped from the front of #chunks (every client had them). */
  #dropped = 0;
  /** Bytes received. */
  #total = 0;
  /** The whole body once a fill ended: clients still reading take it from here. */
  #whole: Buffer | undefined;
  /** Content-Length the origin declared (204: 0), when it did. */
  #declared: number | undefined;
  #ended = false;
  #error: Error | undefined;
  #abandoned = false;
  #body: OriginBody | undefined;
  #store: ((body: Buffer) => StoredVariant | undefined) | undefined;
  #paused = false;
  #stallTimer: NodeJS.Timeout | undefined;
  /** Clients reading, and requests waiting for the whole body: the shared empty ones until someone comes (most never do). */
  #readers: Map<Sink, Reader> = NO_READERS;
  #waiters: Set<Waiter> = NO_WAITERS;
  readonly #maxObjectBytes: number;
  readonly #stallMs: number;
  /**
   * Requests handed this flight that have not yet subscribed, waited or left (the one that started it, and those that
   * joined, between the head and their answer): a body past the fill is not abandoned for want of readers meanwhile.
   * The origin may send more than the fill in the turn its head arrives (undici hands over what one socket read
   * holds), before any client has subscribed.
   */
  #expected = 0;

  /** `stallMs`: how long a client may take nothing while the origin waits for it (the zone's body timeout). */
  constructor(maxObjectBytes: number, stallMs: number) {
    this.#maxObjectBytes = maxObjectBytes;
    this.#stallMs = stallMs;
  }

  /**
   * Calls `fn` once when the body ended, failed (with the error) or was abandoned: at that moment, or in a microtask
   * when it already has. A direct callback: no promise per body.
   */
  whenSettled(fn: (err: Error | undefined) => void): void {
    if (this.#isSettled) { const err = this.#settledWith; queueMicrotask(() => fn(err)); return; }
    if (this.#onSettled === undefined) this.#onSettled = fn;
    else (this.#moreOnSettled ??= []).push(fn);
  }

  #settle(err: Error | undefined): void {
    if (this.#isSettled) return;
    this.#isSettled = true;
    this.#settledWith = err;
    const first = this.#onSettled;
    const more = this.#moreOnSettled;
    this.#onSettled = undefined;
    this.#moreOnSettled = undefined;
    first?.(err);
    if (more) for (const fn of more) fn(err);
  }

  /**
   * Streams the shared body to `sink` from its first byte, at the client's pace, then end (with the stored variant,
   * if any) or fail. A flight past its fill has dropped what every client had: it refuses new subscribers.
   */
  subscribe(sink: Sink): void {
    if (this.#error) { sink.fail(this.#error); return; }
    if (this.#dropped > 0 || this.#abandoned) { sink.fail(new Error('the shared body is no longer complete')); return; }
    // A body already whole and small (the usual miss: its end came with its head) goes out in one piece, unregistered.
    const whole = this.#whole;
    if (whole !== undefined && this.#ended && sink.finish !== undefined && whole.length > 0 && whole.length <= PIECE_BYTES) {
      sink.finish(whole, this.stored);
      return;
    }
    const r: Reader = { sink, offset: 0, index: 0, blocked: false, mark: 0 };
    if (this.#readers === NO_READERS) this.#readers = new Map();
    this.#readers.set(sink, r);
    this.#feed(r);
  }

  /** A request will read this body, wait for it or leave (then `arrived`). */
  expect(): void { this.#expected++; }

  /** A request that `expect`ed has subscribed, is waiting, or left: past the fill, with no reader left, the download ends. */
  arrived(): void {
    this.#expected--;
    this.#balance();
  }

  /** The client left: past the fill, the last one leaving ends the origin download (nothing can be stored). */
  unsubscribe(sink: Sink): void {
    if (!this.#readers.delete(sink)) return;
    this.#balance();
  }

  /** Waits for the whole body (within maxObjectBytes) without reading it. */
  wait(w: Waiter): void {
    if (this.#error) w.fail(this.#error);
    else if (this.#whole) w.complete(this.stored, this.#whole);
    else if (!this.joinable || this.#abandoned) w.tooLarge();
    else {
      if (this.#waiters === NO_WAITERS) this.#waiters = new Set();
      this.#waiters.add(w);
    }
  }

  unwait(w: Waiter): void { this.#waiters.delete(w); }

  /** The origin failed mid-body: nobody may be sent a head for it any more. */
  get failed(): Error | undefined { return this.#error; }

  /**
   * Whether an answer whose head goes out now may say `stored` (RFC 9211 §2.5): stored already, or a body of declared
   * length within maxObjectBytes still on its way. A body of unknown length may yet outgrow the limit: not claimed.
   */
  get mayStore(): boolean {
    if (this.stored) return true;
    return !this.#ended && !this.#error && !this.#abandoned && this.joinable && this.#declared !== undefined;
  }

  /** Bytes this flight holds for its clients and its fill (for tests and diagnostics). */
  get heldBytes(): number {
    if (this.#whole) return this.#whole.length;
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    return n;
  }

  /** Writes to one client what it has not had, until it blocks; ends it once it has the whole body. */
  #feed(r: Reader): void {
    while (!r.blocked) {
      const piece = this.#next(r);
      if (piece === undefined) break;
      r.offset += piece.length;
      if (this.#ended && r.offset === this.#total && r.sink.finish !== undefined && this.#readers.get(r.sink) === r) {
        this.#readers.delete(r.sink);
        r.sink.finish(piece, this.stored);
        return;
      }
      if (!r.sink.write(piece)) {
        r.blocked = true;
        r.sink.onDrain(() => {
          r.blocked = false;
          if (this.#readers.get(r.sink) === r) { this.#feed(r); this.#balance(); }
        });
      }
    }
    if (!r.blocked && this.#ended && r.offset === this.#total && this.#readers.get(r.sink) === r) {
      this.#readers.delete(r.sink);
      r.sink.end(this.stored);
    }
  }

  #next(r: Reader): Buffer | undefined {
    if (this.#whole) return r.offset < this.#whole.length ? this.#whole.subarray(r.offset, r.offset + PIECE_BYTES) : undefined;
    const c = this.#chunks[r.index];
    if (c !== undefined) r.index++;
    return c;
  }

  /**
   * Past the fill: drops what every client has had, pauses the origin while the slowest client is more than
   * LAG_BYTES behind (resumes at half), and ends the download when no client is left. A fill is never paused.
   */
  #balance(): void {
    if (this.joinable || this.#whole || this.#error || this.#abandoned) return;
    if (this.#readers.size === 0) {
      if (this.#expected > 0) return;
      if (!this.#ended) this.#abandon();
      this.#chunks = [];
      return;
    }
    let min = Infinity;
    for (const r of this.#readers.values()) if (r.index < min) min = r.index;
    if (min > 0) {
      for (let i = 0; i < min; i++) this.#dropped += this.#chunks[i]!.length;
      this.#chunks.splice(0, min);
      for (const r of this.#readers.values()) r.index -= min;
    }
    if (this.#ended || !this.#body) return;
    const behind = this.#total - this.#dropped;
    if (!this.#paused && behind > LAG_BYTES) {
      this.#paused = true;
      this.#body.pause();
      this.#armStallTimer();
    } else if (this.#paused && behind <= LAG_BYTES / 2) {
      this.#paused = false;
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
      this.#body.resume();
    }
  }

  /**
   * While the origin waits for the slowest clients, one that takes nothing for the zone's body timeout is detached,
   * as an origin that sends nothing for it would be: a client that stopped reading cannot hold the download forever.
   */
  #armStallTimer(): void {
    const ms = this.#stallMs;
    for (const r of this.#readers.values()) r.mark = r.offset;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      for (const r of [...this.#readers.values()]) {
        if (r.blocked && r.offset === r.mark) { this.#readers.delete(r.sink); r.sink.fail(new StalledReaderError(ms)); }
      }
      const wasPaused = this.#paused;
      this.#balance();
      if (wasPaused && this.#paused && !this.#stallTimer) this.#armStallTimer();
    }, ms);
    this.#stallTimer.unref();
  }

  /** Nothing can be stored and nobody reads: the origin download is ended. */
  #abandon(): void {
    this.#abandoned = true;
    clearTimeout(this.#stallTimer);
    this.#chunks = [];
    this.#body?.destroy();
    this.#settle(undefined);
  }

  /** The body outgrew maxObjectBytes: no longer a fill; those waiting for a whole body are told. */
  #overflow(): void {
    this.joinable = false;
    for (const w of this.#waiters) w.tooLarge();
    this.#waiters.clear();
  }

  /**
   * Reads the origin body: stored by `store` when it ends within maxObjectBytes (`declared`: the Content-Length the
   * origin sent, if any). The body calls data, end and error below (no stream, no listener closures per fetch).
   */
  start(body: OriginBody, declared: number | undefined, store: (body: Buffer) => StoredVariant | undefined): void {
    this.#body = body;
    this.#declared = declared;
    this.#store = store;
    body.attach(this);
  }

  /** A piece of the origin body (OriginBody calls it). */
  data(chunk: Buffer): void {
    if (this.#abandoned) return;
    this.#total += chunk.length;
    this.#chunks.push(chunk);
    if (this.joinable && this.#total > this.#maxObjectBytes) this.#overflow();
    // The last bytes of a body of declared length: undici ends the body in this same turn, so clients get them (with
    // the end, and once stored) from end(), in one write each.
    if (this.joinable && this.#total === this.#declared) return;
    for (const r of this.#readers.values()) if (!r.blocked) this.#feed(r);
    this.#balance();
  }

  /** The origin body ended (OriginBody calls it). */
  end(): void {
    if (this.#abandoned) return;
    // Stored before the last byte reaches any client, so the next request after a complete response is a HIT.
    // A store that fails stores nothing (the edge's guarded store counts and logs it); this guard only keeps a throw
    // out of the origin client's callback: the answer goes out either way.
    if (this.joinable) {
      const whole = ownedCopy(this.#chunks, this.#total);
      try { this.stored = this.#store!(whole); } catch { this.stored = undefined; }
      // Clients still reading take the stored body (one copy) rather than the chunks.
      this.#whole = this.stored?.body?.length === whole.length ? this.stored.body : whole;
      this.#chunks = [];
    }
    this.#ended = true;
    clearTimeout(this.#stallTimer);
    for (const w of this.#waiters) w.complete(this.stored, this.#whole!);
    this.#waiters.clear();
    for (const r of [...this.#readers.values()]) this.#feed(r);
    this.#settle(undefined);
  }

  /** The origin body failed (OriginBody calls it). */
  error(err: Error): void {
    if (this.#abandoned) return;
    const e = classifyOriginError(err);
    this.#error = e;
    clearTimeout(this.#stallTimer);
    this.joinable = false;
    this.#chunks = [];
    for (const r of this.#readers.values()) r.sink.fail(e);
    this.#readers.clear();
    for (const w of this.#waiters) w.fail(e);
    this.#waiters.clear();
    this.#settle(e);
  }
}

/**
 * The body in one buffer of exactly its size, owned by the cache: socket reads arrive as views into larger (up to
 * 64 KiB) buffers, and holding such a view would pin the whole buffer for as long as the entry lives.
 */
function ownedCopy(chunks: readonly Buffer[], length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const c of chunks) offset += c.copy(out, offset);
  return out;
}


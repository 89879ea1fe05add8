// An origin answer read through undici's dispatcher callbacks (OriginClient.fetch): the fetch's handler and the body its
// reader takes are one object, with no response stream per fetch.
import { Readable } from 'node:stream';
import { util as undiciUtil } from 'undici';
import { classifyOriginError, invalidResponse, OriginError, upgradeError } from './errors.js';
import type { OriginRequest } from './client.js';

/** An origin answer read through callbacks (OriginClient.fetch): status, fields and the body. */
export interface OriginFetch {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: OriginBody;
}

/** Takes an origin body as it arrives (OriginBody.attach): pieces, then the end or the failure. */
export interface BodyConsumer {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

/** Body bytes held for a reader not attached yet before the origin socket is paused (a Readable's high-water mark). */
const HELD_BYTES = 64 * 1024;

const enum State { Head, Body, Ended, Failed, Destroyed }

/**
 * One fetch as undici's dispatcher handler (onConnect, onHeaders, onData, onComplete, onError) and, once the head is
 * in, the body its reader takes: no response stream, AbortSignal or async resource per fetch. Pieces that arrive before
 * the reader attaches (a small body usually comes in the same socket read as the head) are held, up to HELD_BYTES,
 * then the socket waits; pause() and resume() pace the origin as a stream's would.
 */
export class OriginBody {
  readonly response: Promise<OriginFetch>;
  #resolve!: (r: OriginFetch) => void;
  #reject!: (err: unknown) => void;
  #state = State.Head;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #consumer: BodyConsumer | undefined;
  #error: Error | undefined;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** The reader asked for no more for now. */
  #paused = false;
  /** undici was told to wait (onData returned false): it reads on only once resumed. */
  #waiting = false;
  /** A 101 came as an interim answer (see classify): noted, not relayed. */
  #switched = false;
  readonly #origin: string;
  readonly #onInfo: OriginRequest['onInfo'];
  #unlisten: (() => void) | undefined;

  constructor(origin: string, onInfo: OriginRequest['onInfo'], signal: AbortSignal | undefined) {
    this.#origin = origin;
    this.#onInfo = onInfo;
    this.response = new Promise((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
    if (signal?.aborted) this.#failHead(signal.reason);
    else if (signal) {
      const onAbort = (): void => this.#cancel(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlisten = () => signal.removeEventListener('abort', onAbort);
    }
  }

  /** False when the fetch already failed (an aborted signal): nothing to dispatch. */
  get started(): boolean { return this.#state === State.Head; }

  // undici's side (Dispatcher.DispatchHandler, the callback form core undici calls without an adapter).

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#state === State.Destroyed || this.#state === State.Failed) abort(this.#error);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.#state !== State.Head) return false;
    if (statusCode < 200) {
      // A 101 without Upgrade fields reaches here as an interim answer, then trips an assertion inside undici: it is
      // noted (and not relayed) so the failure says what the origin did.
      if (statusCode === 101) this.#switched = true;
      else this.#onInfo?.({ statusCode, headers: undiciUtil.parseHeaders(rawHeaders) as Record<string, string | string[]> });
      return true;
    }
    const headers = undiciUtil.parseHeaders(rawHeaders) as Record<string, string | string[] | undefined>;
    const invalid = invalidResponse(statusCode, headers);
    if (invalid) {
      const err = new OriginError('ORIGIN_BAD_RESPONSE', `origin sent an invalid response (${invalid})`);
      this.#failHead(err);
      this.#abort?.(err);
      return false;
    }
    this.#state = State.Body;
    this.#resume = resume;
    this.#resolve({ status: statusCode, headers, body: this });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#state !== State.Body) return false;
    if (this.#consumer !== undefined && this.#held.length === 0 && !this.#paused) {
      this.#consumer.data(chunk);
    } else {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#consumer === undefined && this.#heldBytes >= HELD_BYTES) this.#waiting = true;
    }
    if (this.#paused) this.#waiting = true;
    return !this.#waiting;
  }

  onComplete(): void {
    if (this.#state !== State.Body) return;
    this.#state = State.Ended;
    this.#unlisten?.();
    if (this.#consumer !== undefined && this.#held.length === 0) this.#consumer.end();
  }

  onError(err: Error): void {
    this.#unlisten?.();
    if (this.#state === State.Head) return this.#failHead(err);
    if (this.#state !== State.Body) return;
    this.#state = State.Failed;
    this.#error = err;
    this.#held = [];
    const c = this.#consumer;
    this.#consumer = undefined;
    c?.error(err);
  }

  // The reader's side.

  /** Starts reading: what was held first, then pieces as they come, then the end or the failure. One reader only. */
  attach(consumer: BodyConsumer): void {
    if (this.#consumer !== undefined || this.#state === State.Destroyed) return;
    this.#consumer = consumer;
    this.#flush();
  }

  /** Takes no more pieces until resume() (the origin socket waits). */
  pause(): void { this.#paused = true; }

  resume(): void {
    this.#paused = false;
    this.#flush();
  }

  /** Nobody will read it: the fetch is aborted (its connection closed) unless it already ended. */
  destroy(): void {
    if (this.#state !== State.Body && this.#state !== State.Head) return;
    const wasHead = this.#state === State.Head;
    this.#state = State.Destroyed;
    this.#held = [];
    this.#consumer = undefined;
    this.#unlisten?.();
    const err = new OriginError('ORIGIN_ABORTED', 'request aborted');
    if (wasHead) this.#reject(err);
    this.#abort?.(err);
  }

  /** Reads the body and drops it (the connection stays usable for the next request). */
  dump(): void { this.attach(DROP); }

  /** The body as a stream, for readers that take one (a relay, a fill to disk). */
  readable(): Readable {
    const r = new Readable({
      read: () => this.resume(),
      destroy: (err, cb) => { this.destroy(); cb(err); },
    });
    this.attach({
      data: (c) => { if (!r.push(c)) this.pause(); },
      end: () => { r.push(null); },
      error: (e) => { r.destroy(e); },
    });
    return r;
  }

  #flush(): void {
    const c = this.#consumer;
    if (c === undefined) return;
    while (this.#held.length > 0 && !this.#paused && this.#consumer === c) {
      const chunk = this.#held.shift()!;
      this.#heldBytes -= chunk.length;
      c.data(chunk);
    }
    if (this.#held.length > 0 || this.#paused || this.#consumer !== c) return;
    if (this.#state === State.Ended) { this.#consumer = undefined; c.end(); return; }
    if (this.#waiting && this.#state === State.Body) {
      this.#waiting = false;
      this.#resume?.();
    }
  }

  #failHead(err: unknown): void {
    this.#state = State.Failed;
    this.#unlisten?.();
    const e = this.#switched && !(err instanceof OriginError) ? upgradeError(err) : classifyOriginError(err);
    e.origin ??= this.#origin;
    this.#error = e;
    this.#reject(e);
  }

  /** The caller's signal fired: before the head the fetch fails; during the body the reader gets the failure. */
  #cancel(reason: unknown): void {
    const err = reason instanceof Error ? reason : new OriginError('ORIGIN_ABORTED', 'request aborted');
    if (this.#state === State.Head) { this.#failHead(err); this.#abort?.(err); return; }
    if (this.#state !== State.Body) return;
    this.#abort?.(err);
  }
}

const DROP: BodyConsumer = { data() {}, end() {}, error() {} };

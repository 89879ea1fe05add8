// Origin requests: one undici Pool per origin with keep-alive and timeouts; invalid responses and failures become
// typed OriginErrors that say what happened (502, 504 on timeouts, 500 for the edge's own bugs).
import { maxHeaderSize } from 'node:http';
import { isIP } from 'node:net';
import { Pool, util as undiciUtil, type Dispatcher } from 'undici';
import { Readable } from 'node:stream';
import { isToken } from '../http/fields.js';

export interface OriginOptions {
  origin: string;            // http(s)://host:port
  connectMs: number;
  headersMs: number;
  bodyMs: number;
  connections?: number;
  /** https origins: the CA certificates to trust (PEM; default Node's bundled roots), SNI name, certificate checks. */
  tls?: OriginTlsOptions;
}

export interface OriginTlsOptions {
  ca?: string;
  /**
   * TLS SNI and the name the certificate must carry. Default: the origin URL's host name, or for an IP address the
   * Host sent to the origin (what undici does by itself).
   */
  servername?: string;
  rejectUnauthorized?: boolean;
}

export type OriginErrorCode =
  | 'ORIGIN_UNREACHABLE' | 'ORIGIN_TIMEOUT' | 'ORIGIN_BAD_RESPONSE' | 'ORIGIN_ABORTED'
  | 'ORIGIN_HEADERS_TOO_LARGE' | 'ORIGIN_UPGRADE' | 'ORIGIN_INTERNAL';

/**
 * Largest response head (status line and fields) read from an origin: Node's own limit for HTTP heads
 * (--max-http-header-size, 16 KiB by default), as nginx's proxy_buffer_size and Varnish's http_resp_size bound it.
 */
export const ORIGIN_MAX_HEAD_BYTES = maxHeaderSize;

export class OriginError extends Error {
  /** The origin (scheme://host:port) that failed, when one was reached for. */
  origin: string | undefined;
  constructor(readonly code: OriginErrorCode, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'OriginError';
  }
  /** The low-level code behind this failure (ECONNREFUSED, ERR_TLS_CERT_ALTNAME_INVALID, UND_ERR_CONNECT_TIMEOUT...). */
  get causeCode(): string | undefined {
    const c = (this.cause as { code?: unknown } | undefined)?.code;
    return typeof c === 'string' ? c : undefined;
  }
  /**
   * 502 for unreachable or broken origins, 504 for timeouts (RFC 9110 §15.6.3, §15.6.5); 500 when the failure is the
   * edge's own (a bug on the fetch path), which is not the origin's fault (RFC 9110 §15.6.1).
   */
  get status(): number {
    if (this.code === 'ORIGIN_TIMEOUT') return 504;
    return this.code === 'ORIGIN_INTERNAL' ? 500 : 502;
  }
}

export interface OriginResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface OriginRequest {
  method: string;
  path: string;              // path + '?' + query, as forwarded
  headers: Record<string, string | string[]>;
  body?: Readable | Buffer | null;
  signal?: AbortSignal;
  /** Interim (1xx) responses from the origin, e.g. 103 Early Hints, to relay to the client (RFC 9110 §15.2). */
  onInfo?: (info: { statusCode: number; headers: Record<string, string | string[]> }) => void;
}

/** Errors of JavaScript itself (a bug: a wrong type, a bad argument), never what a socket or a peer did. */
function isProgrammingError(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code !== 'string' || code === 'ERR_ASSERTION' || code.startsWith('ERR_INVALID_ARG') || code === 'ERR_OUT_OF_RANGE';
}

/**
 * Maps a failure of an origin fetch to what the edge tells the client. Network and protocol failures say which
 * (unreachable, timed out, invalid, a head over ORIGIN_MAX_HEAD_BYTES, a 101 nobody asked for); anything else is the
 * edge's own bug, ORIGIN_INTERNAL: answered 500 "internal error" and logged with its stack, never blamed on the origin.
 */
export function classifyOriginError(err: unknown): OriginError {
  if (err instanceof OriginError) return err;
  // A DOMException (AbortSignal.timeout's TimeoutError, an AbortError) has a numeric code: only strings are codes here.
  const raw = (err as { code?: unknown })?.code;
  const code = typeof raw === 'string' ? raw : '';
  const msg = (err as Error)?.message ?? String(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT' || (err as Error)?.name === 'TimeoutError') {
    return new OriginError('ORIGIN_TIMEOUT', `origin timed out (${code || 'TimeoutError'})`, err);
  }
  if (code === 'UND_ERR_ABORTED' || (err as Error)?.name === 'AbortError') return new OriginError('ORIGIN_ABORTED', 'request aborted', err);
  if (code === 'UND_ERR_HEADERS_OVERFLOW') {
    return new OriginError('ORIGIN_HEADERS_TOO_LARGE', `origin sent a response head larger than ${ORIGIN_MAX_HEAD_BYTES} bytes`, err);
  }
  // A 101 to a request that asked for no upgrade: undici refuses it as a "bad upgrade" socket error (RFC 9110 §15.2.2:
  // a server must not switch protocols unless the client asked with Upgrade).
  if (code === 'UND_ERR_SOCKET' && msg === 'bad upgrade') return upgradeError(err);
  // undici's HTTPParserError (invalid status line, fields or framing) often carries no code: match it by name.
  if (code.startsWith('HPE_') || (err as Error)?.name === 'HTTPParserError' || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INVALID_ARG') {
    return new OriginError('ORIGIN_BAD_RESPONSE', `origin sent an invalid response (${code || msg})`, err);
  }
  if (isProgrammingError(err)) return new OriginError('ORIGIN_INTERNAL', 'internal error', err);
  return new OriginError('ORIGIN_UNREACHABLE', `origin unreachable (${code || msg})`, err);
}

function upgradeError(cause: unknown): OriginError {
  return new OriginError('ORIGIN_UPGRADE', 'origin answered 101 Switching Protocols to a request that asked for no upgrade', cause);
}

// RFC 9110 §5.5: values without CTLs but HTAB (no CR, LF, NUL); at most 0xFF per char. Names: isToken (§5.1).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Why a response head must not reach a client or the store, or undefined when it is fine. undici's parser already
 * refuses bare CR/LF, NUL, obs-fold and bad names; this re-checks what the edge relies on before writing the fields
 * to clients (a throw in writeHead there would break a shared fetch), plus what undici passes through: a final status
 * outside 200-599 and transfer codings other than chunked (RFC 9112 §6.1: the edge would forward still-encoded
 * content with the coding removed).
 */
export function invalidResponse(status: number, headers: Record<string, string | string[] | undefined>): string | undefined {
  if (!Number.isInteger(status) || status < 200 || status > 599) return `status ${status}`;
  for (const name in headers) {
    if (!isToken(name)) return 'field name';
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') { if (BAD_VALUE.test(v)) return `${name} value`; continue; }
    for (const x of v) if (BAD_VALUE.test(x)) return `${name} value`;
  }
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    for (const c of (Array.isArray(te) ? te.join(',') : te).split(',')) {
      const coding = c.trim().toLowerCase();
      if (coding !== '' && coding !== 'chunked') return `transfer coding ${coding.slice(0, 40)}`;
    }
  }
  return undefined;
}

export class OriginClient {
  readonly #pool: Pool;
  readonly origin: string;
  readonly #bodyMs: number;
  /** SNI for every request (undefined: undici takes it from each request's Host, which also recycles connections). */
  readonly #servername: string | undefined;

  constructor(opts: OriginOptions) {
    this.origin = opts.origin;
    this.#bodyMs = opts.bodyMs;
    const url = new URL(opts.origin);
    const https = url.protocol === 'https:';
    this.#servername = https ? opts.tls?.servername ?? (isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname) : undefined;
    const tls = opts.tls;
    this.#pool = new Pool(opts.origin, {
      connect: https && tls ? {
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      } : undefined,
      connections: opts.connections ?? 128,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connectTimeout: opts.connectMs,
      maxHeaderSize: ORIGIN_MAX_HEAD_BYTES,
      headersTimeout: opts.headersMs,
      bodyTimeout: opts.bodyMs,
    });
  }

  async request(req: OriginRequest): Promise<OriginResponse> {
    // A 101 without Upgrade fields reaches onInfo as an interim answer, then trips an assertion inside undici: it is
    // noted here (and not relayed) so the failure says what the origin did.
    let switched = false;
    const relay = req.onInfo;
    const onInfo = (info: { statusCode: number; headers: Record<string, string | string[]> }): void => {
      if (info.statusCode === 101) switched = true;
      else relay?.(info);
    };
    try {
      // One object of one shape per request (no spread): undici reads `servername` only when set.
      const res: Dispatcher.ResponseData = await this.#pool.request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal,
        onInfo,
        bodyTimeout: this.#bodyMs,
        servername: this.#servername,
      } as Dispatcher.RequestOptions);
      const invalid = invalidResponse(res.statusCode, res.headers);
      if (invalid) {
        res.body.on('error', () => {});
        res.body.destroy();
        throw new OriginError('ORIGIN_BAD_RESPONSE', `origin sent an invalid response (${invalid})`);
      }
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      const e = switched && !(err instanceof OriginError) ? upgradeError(err) : classifyOriginError(err);
      e.origin ??= this.origin;
      throw e;
    }
  }

  /**
   * A fetch for the cache through undici's dispatcher callbacks: one promise per fetch, the head parsed once, and a
   * body read by callbacks (OriginBody) instead of a response stream (request() keeps the stream for relays).
   */
  fetch(req: OriginRequest): Promise<OriginFetch> {
    const f = new OriginBody(this.origin, req.onInfo, req.signal);
    if (f.started) {
      // One object of one shape per request (no spread): undici reads `servername` only when set.
      this.#pool.dispatch({
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        bodyTimeout: this.#bodyMs,
        servername: this.#servername,
      } as Dispatcher.DispatchOptions, f);
    }
    return f.response;
  }

  /**
   * An active health check: GET `path` with `host` as Host, answered 2xx or 3xx within `timeoutMs` (body read and
   * dropped). Resolves true or false; never throws.
   */
  async probe(path: string, host: string, timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.#pool.request({
        method: 'GET', path, headers: { host, 'user-agent': 'edgecache-health-check' },
        signal: AbortSignal.timeout(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
        ...(this.#servername !== undefined ? { servername: this.#servername } : {}),
      } as Dispatcher.RequestOptions);
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      return res.statusCode >= 200 && res.statusCode < 400;
    } catch {
      return false;
    }
  }

  /**
   * Closes the pool: requests in flight may finish for `deadlineMs`, then the pool is destroyed (their bodies fail
   * with ORIGIN_ABORTED). An endless or stalled origin body cannot hold shutdown past it.
   */
  async close(deadlineMs = Infinity): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = Number.isFinite(deadlineMs)
      ? new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), Math.max(0, deadlineMs)); })
      : new Promise<never>(() => {});
    const closed = this.#pool.close().then(() => 'closed' as const, () => 'late' as const);
    const how = await Promise.race([closed, deadline]);
    clearTimeout(timer);
    if (how === 'late') await this.#pool.destroy().catch(() => {});
  }
}

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
  readonly #signal: AbortSignal | undefined;
  #unlisten: (() => void) | undefined;

  constructor(origin: string, onInfo: OriginRequest['onInfo'], signal: AbortSignal | undefined) {
    this.#origin = origin;
    this.#onInfo = onInfo;
    this.#signal = signal;
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

// Origin requests: one undici Pool per origin with keep-alive and timeouts; answers as a stream (request) or read by
// callbacks (fetch, origin-body.ts); failures become typed OriginErrors (errors.ts).
import { isIP } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { classifyOriginError, invalidResponse, OriginError, ORIGIN_MAX_HEAD_BYTES, upgradeError } from './errors.js';
import { OriginBody, type OriginFetch } from './origin-body.js';

export { classifyOriginError, invalidResponse, OriginError, ORIGIN_MAX_HEAD_BYTES, type OriginErrorCode } from './errors.js';
export { OriginBody, type BodyConsumer, type OriginFetch } from './origin-body.js';

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

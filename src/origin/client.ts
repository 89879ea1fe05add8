// Origin requests: one undici Pool per origin with keep-alive and timeouts; failures become typed OriginErrors.
import { Pool, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';

export interface OriginOptions {
  origin: string;            // http(s)://host:port
  connectMs: number;
  headersMs: number;
  bodyMs: number;
  connections?: number;
}

export type OriginErrorCode = 'ORIGIN_UNREACHABLE' | 'ORIGIN_TIMEOUT' | 'ORIGIN_BAD_RESPONSE' | 'ORIGIN_ABORTED';

export class OriginError extends Error {
  constructor(readonly code: OriginErrorCode, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'OriginError';
  }
  /** 502 for unreachable or broken origins, 504 for timeouts (RFC 9110 §15.6.3, §15.6.5). */
  get status(): number { return this.code === 'ORIGIN_TIMEOUT' ? 504 : 502; }
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

/** Maps undici's error codes to what the edge tells the client. */
export function classifyOriginError(err: unknown): OriginError {
  if (err instanceof OriginError) return err;
  const code = (err as { code?: string })?.code ?? '';
  const msg = (err as Error)?.message ?? String(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new OriginError('ORIGIN_TIMEOUT', `origin timed out (${code})`, err);
  }
  if (code === 'UND_ERR_ABORTED' || (err as Error)?.name === 'AbortError') return new OriginError('ORIGIN_ABORTED', 'request aborted', err);
  if (code === 'HPE_INVALID_HEADER_TOKEN' || code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INVALID_ARG') {
    return new OriginError('ORIGIN_BAD_RESPONSE', `origin sent an invalid response (${code || msg})`, err);
  }
  return new OriginError('ORIGIN_UNREACHABLE', `origin unreachable (${code || msg})`, err);
}

export class OriginClient {
  readonly #pool: Pool;
  readonly origin: string;
  readonly #bodyMs: number;

  constructor(opts: OriginOptions) {
    this.origin = opts.origin;
    this.#bodyMs = opts.bodyMs;
    this.#pool = new Pool(opts.origin, {
      connections: opts.connections ?? 128,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connectTimeout: opts.connectMs,
      headersTimeout: opts.headersMs,
      bodyTimeout: opts.bodyMs,
    });
  }

  async request(req: OriginRequest): Promise<OriginResponse> {
    try {
      const res: Dispatcher.ResponseData = await this.#pool.request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal,
        onInfo: req.onInfo,
        bodyTimeout: this.#bodyMs,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw classifyOriginError(err);
    }
  }

  async close(): Promise<void> {
    await this.#pool.close().catch(() => this.#pool.destroy());
  }
}

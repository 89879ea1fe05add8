// Origin failures as the edge reports them: typed OriginErrors that say what happened (502, 504 on timeouts, 500 for
// the edge's own bugs), and the response-head check that keeps an invalid origin answer from clients and the store.
import { maxHeaderSize } from 'node:http';
import { isToken } from '../http/fields.js';

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

export function upgradeError(cause: unknown): OriginError {
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

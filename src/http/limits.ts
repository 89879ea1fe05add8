// Public-listener resource limits (config `limits`): sizes and timeouts with their defaults.

export interface Limits {
  /** Request line plus every field line, CRLFs included, up to and including the empty line: beyond it 431. */
  maxHeaderBytes: number;
  /** Request target (as sent): beyond it 414 (431 when the whole head is over maxHeaderBytes). */
  maxUrlBytes: number;
  /** Request content: 413 (Content-Length says more: at once; a chunked body growing past it: the origin request is aborted). */
  maxBodyBytes: number;
  /** Time to receive the whole request head: 408 and close. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Time to receive the whole request, content included: 408 and close. */
  requestTimeoutMs: number;
}

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxHeaderBytes: 16 * KiB,
  maxUrlBytes: 8 * KiB,
  maxBodyBytes: 100 * MiB,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  requestTimeoutMs: 300_000,
});

/**
 * How often node:http looks for connections past headersTimeoutMs / requestTimeoutMs (its default is 30 s, which
 * would let a slow head live 30 s past a 10 s limit). A quarter of the headers timeout, at most 500 ms: enforced to
 * within 0.5 s.
 */
export function connectionsCheckingIntervalFor(limits: Pick<Limits, 'headersTimeoutMs'>): number {
  return Math.max(25, Math.min(500, Math.floor(limits.headersTimeoutMs / 4)));
}

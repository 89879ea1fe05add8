// Small decisions about answers to clients: interim responses, stale-if-error statuses, discarded bodies, BYPASS vs DYNAMIC.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { CfCacheStatus } from '../observability/cache-status.js';

/** Passes 1xx interim responses through (never cached: RFC 9111 §3). 100 Continue is handled by Node itself. */
export function relayInterim(res: ServerResponse): (info: { statusCode: number; headers: Record<string, string | string[]> }) => void {
  return (info) => {
    if (res.headersSent || res.destroyed) return;
    try {
      if (info.statusCode === 103) res.writeEarlyHints(info.headers);
      else if (info.statusCode === 102) res.writeProcessing();
    } catch {
      // Hints with fields Node refuses to write are dropped: they are optional, the final answer is what counts.
    }
  };
}

/** RFC 5861 §4: stale-if-error covers 500, 502, 503 and 504 answers (and connection errors). */
export function isStaleIfErrorStatus(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}

/** Drops an origin body we will not use, without an unhandled 'error' event from the abort. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** cf-cache-status for answers not stored: BYPASS when the origin said not to store, DYNAMIC when never eligible. */
export function cfFor(reason: string): CfCacheStatus {
  return reason === 'set-cookie' || reason === 'no-store' || reason === 'private' || reason === 'authorization' || reason === 'vary-star' || reason === 'no-cache'
    ? 'BYPASS' : 'DYNAMIC';
}

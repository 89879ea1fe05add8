// OCSP stapling for a TLS listener (RFC 6066 §8, RFC 6961): per certificate that names a responder, a response fetched
// in the background, kept until its nextUpdate, refreshed halfway there and on certificate reload, and handed to the
// handshakes that ask for it. A handshake never waits for a responder: without a current response it gets no staple.
import { request } from 'undici';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import { buildOcspRequest, ocspSubject, readOcspResponse, type OcspResponse, type OcspSubject } from './ocsp.js';

/** Largest OCSP response read (real ones are 0.5–4 KiB). */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface StaplerTiming {
  /** Refresh interval for a response without nextUpdate. */
  defaultRefreshMs: number;
  /** Least time between two fetches for one certificate. */
  minRefreshMs: number;
  /** Retries after a failure: from `retryMs`, doubling up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  /** Connect + answer time allowed to a responder. */
  timeoutMs: number;
}

export const DEFAULT_STAPLER_TIMING: Readonly<StaplerTiming> = Object.freeze({
  defaultRefreshMs: 60 * 60_000, minRefreshMs: 60_000, retryMs: 10_000, maxRetryMs: 10 * 60_000, timeoutMs: 10_000,
});

/** When to fetch again after a response: halfway to its nextUpdate (RFC 5019 §6: responses are cached until then). */
export function refreshDelay(r: Pick<OcspResponse, 'thisUpdate' | 'nextUpdate'>, now: number, t: StaplerTiming = DEFAULT_STAPLER_TIMING): number {
  if (r.nextUpdate === undefined) return t.defaultRefreshMs;
  const half = r.thisUpdate + (r.nextUpdate - r.thisUpdate) / 2;
  return Math.max(t.minRefreshMs, Math.min(half, r.nextUpdate - t.minRefreshMs) - now);
}

interface Entry {
  subject: OcspSubject;
  leafDer: Buffer;
  requestDer: Buffer;
  response: OcspResponse | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Failures in a row (a warning is logged on the first only). */
  failures: number;
}

export interface OcspStapler {
  /** Fetches for these certificate files' contents (the listener's current ones), now; drops the others. */
  track(certificatePems: readonly Buffer[]): void;
  /** The response to staple for a certificate (DER), if one is current. */
  responseFor(certificateDer: Buffer): Buffer | undefined;
  /** Answers the server's OCSPRequest events from the cache. */
  attach(server: TlsServer): void;
  /** Resolves once every fetch started so far has settled (tests and reload reporting). */
  settled(): Promise<void>;
  close(): void;
}

export interface StaplerOptions {
  logger: Logger;
  timing?: Partial<StaplerTiming>;
  now?: () => number;
}

async function fetchResponse(url: string, body: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const res = await request(url, {
    method: 'POST', body, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
    headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) { res.body.destroy(); throw new Error(`response over ${MAX_RESPONSE_BYTES} bytes`); }
    chunks.push(chunk as Buffer);
  }
  if (res.statusCode !== 200) throw new Error(`HTTP status ${res.statusCode}`);
  return Buffer.concat(chunks, size);
}

export function createOcspStapler(opts: StaplerOptions): OcspStapler {
  const timing = { ...DEFAULT_STAPLER_TIMING, ...opts.timing };
  const now = opts.now ?? Date.now;
  const { logger } = opts;
  const abort = new AbortController();
  let entries: Entry[] = [];
  const pending = new Set<Promise<void>>();
  let closed = false;

  const schedule = (e: Entry, ms: number): void => {
    clearTimeout(e.timer);
    if (closed || !entries.includes(e)) return;
    e.timer = setTimeout(() => start(e), ms);
    e.timer.unref();
  };

  const refresh = async (e: Entry): Promise<void> => {
    const serial = e.subject.leaf.serialNumber;
    try {
      const der = await fetchResponse(e.subject.url, e.requestDer, timing.timeoutMs, abort.signal);
      const r = readOcspResponse(e.subject, der, now());
      if (r.status === 'unknown') throw new Error('the responder does not know this certificate (status unknown)');
      if (e.failures > 0) logger.info({ url: e.subject.url, serial, failures: e.failures }, 'OCSP responder answers again: stapling resumed');
      if (r.status === 'revoked') logger.error({ url: e.subject.url, serial, revokedAt: new Date(r.revokedAt!).toISOString() }, 'OCSP: this certificate is REVOKED (clients are told so): replace it');
      e.response = r;
      e.failures = 0;
      schedule(e, refreshDelay(r, now(), timing));
    } catch (err) {
      if (closed) return;
      if (e.failures++ === 0) {
        logger.warn({ url: e.subject.url, serial, err: (err as Error).message, keptUntil: e.response?.nextUpdate === undefined ? undefined : new Date(e.response.nextUpdate).toISOString() },
          'OCSP response not fetched: handshakes go on without a new staple (retrying)');
      }
      schedule(e, Math.min(timing.maxRetryMs, timing.retryMs * 2 ** (e.failures - 1)));
    }
  };

  const start = (e: Entry): void => {
    const p = refresh(e).finally(() => pending.delete(p));
    pending.add(p);
  };

  const isCurrent = (r: OcspResponse | undefined): r is OcspResponse => r !== undefined && (r.nextUpdate === undefined || r.nextUpdate > now());

  const stapler: OcspStapler = {
    track(pems) {
      if (closed) return;
      const next: Entry[] = [];
      for (const pem of pems) {
        let subject: OcspSubject | undefined;
        try {
          subject = ocspSubject(pem);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'OCSP: certificate not readable for stapling');
        }
        if (!subject) continue;
        const old = entries.find((e) => e.leafDer.equals(subject.leaf.raw));
        // A certificate kept across a reload keeps its response until the new fetch answers.
        next.push({ subject, leafDer: subject.leaf.raw, requestDer: buildOcspRequest(subject), response: old?.response, timer: undefined, failures: old?.failures ?? 0 });
      }
      for (const e of entries) clearTimeout(e.timer);
      entries = next;
      for (const e of entries) start(e);
    },
    responseFor(certificateDer) {
      for (const e of entries) if (e.leafDer.equals(certificateDer)) return isCurrent(e.response) ? e.response.der : undefined;
      return undefined;
    },
    attach(server) {
      server.on('OCSPRequest', (certificate: Buffer, _issuer: Buffer, cb: (err: Error | null, resp: Buffer | null) => void) => {
        cb(null, stapler.responseFor(certificate) ?? null);
      });
    },
    async settled() { while (pending.size > 0) await Promise.all([...pending]); },
    close() {
      closed = true;
      abort.abort();
      for (const e of entries) clearTimeout(e.timer);
      entries = [];
    },
  };
  return stapler;
}

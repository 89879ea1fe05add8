// The access log: one record per request (an nginx/Caddy-style line an operator can use), written to the process log or
// its own file (a second pino destination), or off. The record is also where a request's id and what the edge learned
// on the way (zone, cache status, origin status and time) are noted: one object per request, logged when it closes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { destination, pino, type Logger } from 'pino';
import type { PeerMatcher } from '../http/trusted-peers.js';
import { createRequestIds, isSaneRequestId, REQUEST_ID_FIELD } from './request-id.js';

export interface AccessLogOptions {
  /** false: no access records at all (request ids are still made and sent). */
  enabled: boolean;
  /** A file of its own (appended to; reopened by reopen(), e.g. after logrotate); absent: the process log (stdout). */
  path?: string;
}

/** Longest client-controlled value (User-Agent, Referer, the forwarded chain) written to a record. */
const MAX_LOGGED_VALUE = 512;

const NOTE = Symbol('edgecache.access');
const LAST_BYTES = Symbol('edgecache.bytesWritten');

/**
 * One request's access record, filled as the request goes (the id at once; zone, cache status and origin figures by
 * the handler; the rest when the answer ends) and then logged as it is. Fields left undefined are not written.
 */
export class AccessRecord {
  requestId: string;
  client: string | undefined = undefined;
  /** X-Forwarded-For as a trusted proxy sent it (the chain before that proxy). */
  forwardedFor: string | undefined = undefined;
  http: string | undefined = undefined;
  zone: string | undefined = undefined;
  method: string | undefined = undefined;
  host: string | undefined = undefined;
  target: string | undefined = undefined;
  /** The status sent; 499 when the client closed before the answer was complete (nginx's convention). */
  status: number | undefined = undefined;
  /** HTTP/1.1: bytes written on the connection for this answer (status line, fields, body); HTTP/2: body bytes. */
  bytes: number | undefined = undefined;
  /** cf-cache-status (HIT, MISS, EXPIRED, DYNAMIC, BYPASS, ...). */
  cache: string | undefined = undefined;
  originStatus: number | undefined = undefined;
  /** Time to the origin's response head, ms. */
  originMs: number | undefined = undefined;
  /** Time from the request head to the end of the answer, ms. */
  ms: number | undefined = undefined;
  userAgent: string | undefined = undefined;
  referer: string | undefined = undefined;
  /** Why the listener refused the request (the request guard's code, HPE_* for a malformed one). */
  refused: string | undefined = undefined;
  readonly #startedAt: number;
  #trusted = false;

  constructor(requestId: string, startedAt: number) {
    this.requestId = requestId;
    this.#startedAt = startedAt;
  }

  get startedAt(): number { return this.#startedAt; }
  /** The request came from one of its zone's trusted proxies. */
  get trustedPeer(): boolean { return this.#trusted; }
  markTrusted(): void { this.#trusted = true; }
}

type Noted = { [NOTE]?: AccessRecord };

/** The record of a request (undefined when the request did not come through a listener, e.g. a unit test). */
export function recordOf(req: IncomingMessage): AccessRecord | undefined {
  return (req as Noted)[NOTE];
}

/** The request's id (what `x-request-id` says in the answer and to the origin). */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as Noted)[NOTE]?.requestId;
}

/** Notes the answer's cf-cache-status. */
export function noteCacheStatus(res: ServerResponse, cf: string): void {
  const r = (res.req as Noted | undefined)?.[NOTE];
  if (r !== undefined) r.cache = cf;
}

/** Notes the origin's answer to this request's fetch: its status (undefined: it failed) and the time since `startedAt`. */
export function noteOrigin(req: IncomingMessage, status: number | undefined, ms: number | undefined): void {
  const r = (req as Noted)[NOTE];
  if (r === undefined) return;
  if (status !== undefined) r.originStatus = status;
  if (ms !== undefined) r.originMs = Math.round(ms * 10) / 10;
}

/** What the fast path knows of a request it answers. */
export interface FastAccessRequest { method: string; url: string; httpVersion: string; headers: Record<string, string> }

/**
 * Marks what a connection wrote so far as logged: the fast path calls it before handing a connection to node:http, so
 * the first answer node:http logs counts only its own bytes (see bytesOf).
 */
export function markBytesLogged(socket: Socket): void {
  (socket as Socket & { [LAST_BYTES]?: number })[LAST_BYTES] = socket.bytesWritten;
}

/** Notes what refused a request the listener answered itself. */
export function noteRefused(res: ServerResponse, code: string): void {
  const r = (res.req as Noted | undefined)?.[NOTE];
  if (r !== undefined) r.refused = code;
}

export interface AccessLog {
  /** Gives a request its record (and id) as it arrives, and logs the record when its answer ends or is cut off. */
  begin(req: IncomingMessage, res: ServerResponse): AccessRecord;
  /**
   * The request's zone: noted, and when the peer is one of its trusted proxies, the peer's `x-request-id` (if sane) is
   * kept and its X-Forwarded-For logged. Returns the request id.
   */
  routed(req: IncomingMessage, res: ServerResponse, zone: { readonly id: string; readonly trustedProxies: PeerMatcher }): string;
  /** Logs a request the listener answered on the socket itself (a malformed head, a timeout, CONNECT). */
  refused(socket: Socket, status: number, code: string): void;
  /**
   * A request the fast path answers (src/edge/fast-hit.ts, no node:http objects): its record and id (a trusted proxy's
   * x-request-id when sane), as `routed` gives them; `fastLogged` writes it once the answer is out.
   */
  fastRecord(req: FastAccessRequest, peer: string | undefined, zone: { readonly id: string; readonly trustedProxies: PeerMatcher }, startedAt?: number): AccessRecord;
  /** Whether records are written (false: off, or the process log's level is above info). */
  readonly isWriting: boolean;
  /**
   * A fast-path request's id when no record is written (isWriting false): a trusted proxy's sane x-request-id, else a new
   * one; `peer` is only read when the zone has trusted proxies. No record is made.
   */
  fastId(headers: Record<string, string>, peer: string | undefined, zone: { readonly trustedProxies: PeerMatcher }): string;
  /** Logs a fast-path record: `complete` false when the connection failed before the answer was out (499). */
  fastLogged(r: AccessRecord, status: number, bytes: number, complete: boolean): void;
  /** Reopens the access log file (after logrotate moved it); nothing without a file of its own. */
  reopen(): void;
  /** Flushes and closes the file of its own. */
  close(): Promise<void>;
}

const clip = (v: string | string[] | undefined): string | undefined => {
  const s = Array.isArray(v) ? v.join(', ') : v;
  return s !== undefined && s.length > MAX_LOGGED_VALUE ? s.slice(0, MAX_LOGGED_VALUE) : s;
};

/**
 * Builds the access log. With `path`, records go to that file through a pino logger of their own (sonic-boom,
 * asynchronous, appending), so the process log keeps only application records; without it they go to `appLogger` at
 * info, as before. Everything per request is one AccessRecord and one shared 'close' listener (no closure per request).
 */
export function createAccessLog(options: AccessLogOptions, appLogger: Logger, nextId: () => string = createRequestIds()): AccessLog {
  const dest = options.enabled && options.path !== undefined
    ? destination({ dest: options.path, sync: false, mkdir: true, append: true })
    : undefined;
  dest?.on('error', (err: Error) => appLogger.error({ err: err.message, path: options.path }, 'access log write failed'));
  const out: Logger | undefined = !options.enabled ? undefined
    : dest !== undefined ? pino({ level: 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest)
      : appLogger.isLevelEnabled('info') ? appLogger : undefined;

  function write(r: AccessRecord): void {
    r.ms = Math.round((performance.now() - r.startedAt) * 10) / 10;
    out!.info(r, 'request');
  }

  /** Runs once per answer when it ends or is cut off; `this` is the response. */
  function onClose(this: ServerResponse): void {
    const req = this.req;
    const r = (req as Noted)[NOTE];
    if (r === undefined) return;
    const h = req.headers;
    r.client = req.socket?.remoteAddress;
    if (r.trustedPeer) r.forwardedFor = clip(h['x-forwarded-for']);
    r.http = req.httpVersion;
    r.method = req.method;
    r.host = h.host;
    r.target = req.url;
    r.status = this.writableFinished ? this.statusCode : 499;
    r.bytes = bytesOf(req, this);
    r.userAgent = clip(h['user-agent']);
    r.referer = clip(h.referer);
    write(r);
  }

  return {
    begin(req, res) {
      const r = new AccessRecord(nextId(), performance.now());
      (req as Noted)[NOTE] = r;
      if (out !== undefined) res.on('close', onClose);
      return r;
    },
    routed(req, res, zone) {
      const r = (req as Noted)[NOTE] ?? this.begin(req, res);
      r.zone = zone.id;
      if (zone.trustedProxies.size === 0) return r.requestId;
      const peer = req.socket?.remoteAddress;
      if (peer === undefined || !zone.trustedProxies.has(peer)) return r.requestId;
      r.markTrusted();
      const theirs = req.headers[REQUEST_ID_FIELD];
      if (isSaneRequestId(theirs)) r.requestId = theirs;
      return r.requestId;
    },
    refused(socket, status, code) {
      if (out === undefined) return;
      // A connection that sent nothing and timed out (a browser's preconnect) made no request (nginx logs none either).
      if (code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0) return;
      const r = new AccessRecord(nextId(), performance.now());
      r.client = socket.remoteAddress;
      r.status = status;
      r.refused = code;
      write(r);
    },
    isWriting: out !== undefined,
    fastId(headers, peer, zone) {
      if (zone.trustedProxies.size > 0 && peer !== undefined && zone.trustedProxies.has(peer)) {
        const theirs = headers[REQUEST_ID_FIELD];
        if (isSaneRequestId(theirs)) return theirs;
      }
      return nextId();
    },
    fastRecord(req, peer, zone, startedAt = performance.now()) {
      const r = new AccessRecord(nextId(), startedAt);
      r.zone = zone.id;
      const h = req.headers;
      if (zone.trustedProxies.size > 0 && peer !== undefined && zone.trustedProxies.has(peer)) {
        r.markTrusted();
        const theirs = h[REQUEST_ID_FIELD];
        if (isSaneRequestId(theirs)) r.requestId = theirs;
      }
      if (out === undefined) return r; // only the id is used
      r.client = peer;
      if (r.trustedPeer) r.forwardedFor = clip(h['x-forwarded-for']);
      r.http = req.httpVersion;
      r.method = req.method;
      r.host = h.host;
      r.target = req.url;
      r.userAgent = clip(h['user-agent']);
      r.referer = clip(h.referer);
      return r;
    },
    fastLogged(r, status, bytes, complete) {
      if (out === undefined) return;
      r.status = complete ? status : 499;
      r.bytes = bytes;
      write(r);
    },
    reopen() { dest?.reopen(); },
    async close() {
      if (dest === undefined) return;
      await new Promise<void>((resolve) => {
        dest.once('close', () => resolve());
        dest.once('error', () => resolve());
        dest.end();
      });
    },
  };
}

/**
 * Bytes sent for one answer. HTTP/1.1 answers on a connection end in order, so the connection's bytesWritten since the
 * previous answer ended is this one's; HTTP/2 answers count their own body bytes (EdgeH2Response.bytesSent).
 */
function bytesOf(req: IncomingMessage, res: ServerResponse): number | undefined {
  const own = (res as { bytesSent?: number }).bytesSent;
  if (own !== undefined) return own;
  const socket = req.socket as (Socket & { [LAST_BYTES]?: number }) | null;
  if (!socket) return undefined;
  const now = socket.bytesWritten;
  const before = socket[LAST_BYTES] ?? 0;
  socket[LAST_BYTES] = now;
  return now - before;
}

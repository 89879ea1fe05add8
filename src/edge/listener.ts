// The public HTTP listener: node:http with request limits, the request guard, malformed-request answers (RFC 9112)
// that close the connection, a request-content byte limit, and a crash guard around the handler.
import { createServer, IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import { connectionsCheckingIntervalFor, DEFAULT_LIMITS, type Limits } from '../http/limits.js';
import { checkRequestHead, checkTransferCodings, RequestRejection } from '../http/request-guard.js';
import { dropConnectionListed } from '../http/headers.js';
import { noteRefused, requestIdOf, type AccessLog } from '../observability/access-log.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Per-connection state: the last request handed on, and whether the connection is being closed. */
interface Conn {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** A refusal or framing error ended this connection: no later request on it is handled. */
  closing: boolean;
  /** clientError already answered (llhttp repeats the error for every later chunk). */
  failed: boolean;
  /** The listener itself answered the last request (a refusal, or 413): node closes the connection after it. */
  answered: boolean;
}

/** How long a connection we refused keeps being drained (so the client reads the answer rather than a reset). */
const LINGER_MS = 1_000;

const REASONS: Record<number, string> = {
  400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long',
  431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported',
};

/** Raised into the request stream when chunked content grows past maxBodyBytes. */
export class BodyTooLargeError extends Error {
  readonly code = 'EBODYTOOLARGE';
  constructor(max: number) { super(`request content over ${max} bytes`); this.name = 'BodyTooLargeError'; }
}

function rawAnswer(status: number, message: string, extra = ''): string {
  const body = `edgecache: ${message}\n`;
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}Connection: close\r\n\r\n${body}`;
}

/** Ends the socket after `answer`, reads (and drops) what still arrives for LINGER_MS, then destroys it. */
function endAndLinger(socket: Socket, answer: string): void {
  if (!socket.writable) { socket.destroy(); return; }
  socket.end(answer);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function answer(res: ServerResponse, status: number, message: string): void {
  const body = `edgecache: ${message}\n`;
  const id = requestIdOf(res.req);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store',
    connection: 'close', ...(id === undefined ? undefined : { 'x-request-id': id }),
  });
  res.end(body);
}

function whenFinished(res: ServerResponse, fn: () => void): void {
  if (res.writableFinished) fn(); else res.once('finish', fn);
}

/** Status for an llhttp parse error or a timeout (node:http's clientError). */
function statusForClientError(err: Error & { code?: string; rawPacket?: Buffer }): { status: number; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return { status: 431, message: 'request head too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT': return { status: 408, message: 'request not received in time' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return { status: 413, message: 'chunk extensions too large' };
    case 'HPE_INVALID_TRANSFER_ENCODING': {
      // llhttp refuses e.g. "chunked, foo" before the request callback; an unknown coding is still a 501 (RFC 9112 §6.1).
      const te = Buffer.isBuffer(err.rawPacket) ? [...err.rawPacket.toString('latin1').matchAll(/\r\ntransfer-encoding:([^\r\n]*)/gi)].map((m) => m[1]!) : [];
      const r = te.length > 0 ? checkTransferCodings(te) : undefined;
      return r?.status === 501 ? { status: 501, message: r.message } : { status: 400, message: 'invalid Transfer-Encoding' };
    }
    default: return { status: 400, message: 'malformed request' };
  }
}

/**
 * The listener's request class (node:http's documented `IncomingMessage` server option): it counts request content as
 * node:http hands it over (through Readable#push, the public way data enters a readable stream); past the limit set by
 * limitContent the rest is dropped and `onOverflow` runs once. Without a limit it is a plain IncomingMessage.
 */
export class LimitedRequest extends IncomingMessage {
  #limit: { max: number; seen: number; tripped: boolean; onOverflow: () => void } | undefined;

  /** Starts counting: at most `max` bytes of content are passed on. */
  limitContent(max: number, onOverflow: () => void): void {
    this.#limit = { max, seen: 0, tripped: false, onOverflow };
  }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    const limit = this.#limit;
    if (limit !== undefined && chunk !== null) {
      if (limit.tripped) return true;
      limit.seen += (chunk as Buffer).length;
      if (limit.seen > limit.max) { limit.tripped = true; limit.onOverflow(); return true; }
    }
    return super.push(chunk, encoding);
  }
}
// undici, when an origin request fails, destroys the request body it was given (the handler passes `req` itself); for
// an IncomingMessage it first detaches the client socket so the destroy does not cut the client off before its 502
// (nodejs/node#38505), and it recognises one by `Object.getPrototypeOf(body).constructor === IncomingMessage`. A
// LimitedRequest is one, so it says so (`instanceof LimitedRequest` is unaffected).
Object.defineProperty(LimitedRequest.prototype, 'constructor', { value: IncomingMessage, writable: true, configurable: true });

/** The authority a request is for: an absolute-form target's (RFC 9112 §3.2.2), else Host. */
function authorityOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47) {
    const m = /^https?:\/\/([^/?#]*)/i.exec(url);
    if (m) return m[1]!;
  }
  return req.headers.host ?? '';
}

/** The server below parses strictly (insecureHTTPParser: false): llhttp has refused bad field syntax already. */
const GUARD_OPTIONS = { fieldSyntaxChecked: true } as const;

export interface EdgeListenerOptions {
  /** True when a TLS connection's SNI name routes to another zone than the request's authority (answered 421). */
  misdirected?: (servername: string, authority: string) => boolean;
  /** Request records and ids: every request handed on or refused here is logged (refusals included). */
  access?: AccessLog;
  /** A request the handler threw on, answered 500 here (the handler counted nothing): for the request metrics. */
  onInternalError?: () => void;
}

export function createEdgeListener(handler: Handler, logger: Logger, limits: Limits = DEFAULT_LIMITS, opts: EdgeListenerOptions = {}): Server {
  const { misdirected, access, onInternalError } = opts;
  const conns = new WeakMap<Socket, Conn>();
  const connOf = (socket: Socket): Conn => {
    let c = conns.get(socket);
    if (!c) { c = { closing: false, failed: false, answered: false }; conns.set(socket, c); }
    return c;
  };

  const server = createServer({
    IncomingMessage: LimitedRequest,
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingIntervalFor(limits),
    // The guard checks Host itself, so that a refusal also stops every request pipelined behind it.
    requireHostHeader: false,
    insecureHTTPParser: false,
  });
  // Every field line reaches the guard (node's default silently drops lines after the 2000th); maxHeaderSize bounds them.
  server.maxHeadersCount = 0;

  function refuse(conn: Conn, res: ServerResponse, r: RequestRejection): void {
    conn.closing = true;
    conn.answered = true;
    logger.debug({ code: r.code, status: r.status }, 'request refused');
    server.emit('edgecache:refused', r.status, r.code); // counted for the dashboard (src/observability/traffic.ts)
    noteRefused(res, r.code);
    answer(res, r.status, r.message);
  }

  /** Request content grew past maxBodyBytes: 413 if nothing was answered yet, else the connection is closed. */
  function contentTooLarge(req: IncomingMessage, res: ServerResponse, conn: Conn): void {
    conn.closing = true;
    const abort = (): void => { req.destroy(new BodyTooLargeError(limits.maxBodyBytes)); };
    if (res.headersSent || res.writableEnded) { abort(); return; }
    conn.answered = true;
    noteRefused(res, 'BODY_TOO_LARGE');
    server.emit('edgecache:refused', 413, 'BODY_TOO_LARGE'); // an answer too: counted (the handler's path counts nothing once it is cut)
    answer(res, 413, `the request content is over ${limits.maxBodyBytes} bytes`);
    whenFinished(res, abort);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const conn = connOf(req.socket);
    // RFC 9112 §9.6: nothing after a refused request (or a Connection: close one) is handled.
    if (conn.closing) return;
    conn.req = req;
    conn.res = res;
    access?.begin(req, res);
    const rejection = checkRequestHead(req, limits, GUARD_OPTIONS);
    if (rejection) { refuse(conn, res, rejection); return; }
    if (!res.shouldKeepAlive) conn.closing = true;
    // RFC 9110 §15.5.20: on TLS, a request for a host the SNI name does not lead to is misdirected (SNI and Host must
    // not be played against each other).
    const servername = (req.socket as TLSSocket).servername;
    if (servername && misdirected !== undefined && misdirected(servername, authorityOf(req))) {
      conn.answered = true;
      conn.closing = true;
      noteRefused(res, 'MISDIRECTED');
      server.emit('edgecache:refused', 421, 'misdirected');
      answer(res, 421, `this connection is for ${JSON.stringify(servername)}, which is not served with this host: open another`);
      return;
    }
    dropConnectionListed(req.headers);
    if (req.headers['transfer-encoding'] !== undefined && req instanceof LimitedRequest) req.limitContent(limits.maxBodyBytes, () => contentTooLarge(req, res, conn));
    if (expectsContinue) res.writeContinue();
    try { handler(req, res); } catch (err) {
      logger.error({ err: String(err), stack: (err as Error)?.stack, method: req.method }, 'request handler failed');
      onInternalError?.();
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }); res.end('edgecache: internal error\n'); } else res.destroy();
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, false));
  // Expect: 100-continue: check the head first, so a refused request gets its answer instead of "100 Continue".
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));

  /** Malformed requests and timeouts (RFC 9112): answered without the handler, then the connection is closed. */
  server.on('clientError', (err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket) => {
    const conn = connOf(socket);
    if (conn.failed) return;
    const wasClosing = conn.closing;
    conn.failed = true;
    conn.closing = true;
    if (!err.code || (!err.code.startsWith('HPE_') && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT')) { socket.destroy(); return; }
    // The listener's own answer (a refusal, 413) is already on its way: node closes the connection after it.
    if (conn.answered) return;
    const { status, message } = statusForClientError(err);
    logger.debug({ code: err.code, status }, 'malformed request');
    server.emit('edgecache:refused', status, err.code);
    const { req, res } = conn;
    if (req && res && !req.complete) {
      // The error is in the content of a request already handed on: answer it if nothing was sent yet, and abort it
      // (its origin request fails with it).
      const abort = (): void => { if (!req.destroyed) req.destroy(err); if (!socket.destroyed) socket.destroy(); };
      if (res.headersSent || res.writableEnded) { whenFinished(res, abort); if (!res.writableEnded) abort(); return; }
      noteRefused(res, err.code);
      answer(res, status, message);
      whenFinished(res, abort);
      return;
    }
    // Data after a Connection: close request (or HTTP/1.0): node closes the connection after its answer.
    if (wasClosing) return;
    access?.refused(socket, status, err.code);
    // The error is in a new request head: earlier pipelined responses finish first, then the answer and the close.
    if (res && !res.writableFinished) {
      res.once('finish', () => endAndLinger(socket, rawAnswer(status, message)));
      res.once('close', () => { if (!res.writableFinished) socket.destroy(); });
      return;
    }
    endAndLinger(socket, rawAnswer(status, message));
  });

  // CONNECT: this is not a forward proxy (RFC 9110 §9.3.6).
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => {});
    access?.refused(socket, 405, 'CONNECT');
    endAndLinger(socket, rawAnswer(405, 'CONNECT is not supported', 'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n'));
  });
  return server;
}

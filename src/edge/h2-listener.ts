// The HTTP/2 side of the public listeners (RFC 9113): requests adapted to the handler (Host from :authority, no
// pseudo-fields), answers without connection-specific fields, the request guard, and bounds on hostile sessions
// (streams, header lists, HPACK memory, SETTINGS/PING floods, rapid reset, idle sessions).
import {
  constants, createServer, Http2ServerRequest, Http2ServerResponse, type Http2Server, type IncomingHttpHeaders as H2Headers,
  type ServerHttp2Session, type ServerHttp2Stream,
} from 'node:http2';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { Limits } from '../http/limits.js';
import { checkH2RequestHead } from '../http/request-guard.js';
import { dropConnectionListed } from '../http/headers.js';
import { REFUSED_EVENT } from '../observability/traffic.js';
import { noteRefused, requestIdOf, type AccessLog } from '../observability/access-log.js';
import { BodyTooLargeError } from './listener.js';
import type { H2Hit } from './h2-hit.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** RFC 9113 §8.2.2: fields an HTTP/2 message never carries (node refuses to send them). */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export interface H2Bounds {
  /** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2). */
  maxConcurrentStreams: number;
  /** Dynamic-table and buffered-frame memory per session, MB (node's maxSessionMemory: bounds HPACK bombs). */
  maxSessionMemoryMb: number;
  /** Header entries per request. */
  maxHeaderListPairs: number;
  /** Streams the peer resets within one second before the session is sent GOAWAY and closed (CVE-2023-44487). */
  maxResetsPerSecond: number;
  /** PINGs not yet acknowledged, SETTINGS not yet acknowledged (node closes the session past them). */
  maxOutstandingPings: number;
  maxOutstandingSettings: number;
}

export const DEFAULT_H2_BOUNDS: Readonly<H2Bounds> = Object.freeze({
  maxConcurrentStreams: 128,
  maxSessionMemoryMb: 10,
  maxHeaderListPairs: 256,
  maxResetsPerSecond: 200,
  maxOutstandingPings: 10,
  maxOutstandingSettings: 10,
});

export interface H2Options {
  logger: Logger;
  limits: Limits;
  bounds?: Partial<H2Bounds>;
  /** Counts a session closed for resetting streams too fast. */
  onRapidReset?: () => void;
  /** True when a TLS connection's SNI name routes to another zone than the request's authority (answered 421). */
  misdirected?: (servername: string, authority: string) => boolean;
  /** Request records and ids: every request handed on or refused here is logged (refusals included). */
  access?: AccessLog;
  /** The hit path on bare streams (src/edge/h2-hit.ts): hits skip node's compat request/response objects. */
  hit?: H2Hit;
}

const BODILESS_BY_DEFAULT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What EdgeH2Request keeps of the request head, taken apart once. */
interface H2Head {
  headers: H2Headers;
  method: string;
  url: string;
  authority: string;
  /** A Host field sent beside :authority (they must agree). */
  hostField: string | undefined;
}

/** The request head as the handler reads it, taken apart once (for the hit path and the compat request alike). */
function takeHead(stream: ServerHttp2Stream, headers: H2Headers): H2Head {
  const clean: H2Headers = {};
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* : */) clean[name] = headers[name];
  const host = clean.host;
  const hostField = Array.isArray(host) ? host.join(',') : host;
  const authority = headers[':authority'] ?? hostField ?? '';
  if (authority !== '') clean.host = authority;
  // RFC 9113 §8.1: content without Content-Length is framed by DATA frames up to END_STREAM. The handler reads
  // framing as HTTP/1.1 has it (RFC 9112 §6.3: content iff Content-Length or Transfer-Encoding): chunked is its match.
  // GET, HEAD and OPTIONS without Content-Length are taken as bodiless even when END_STREAM comes in an empty DATA
  // frame (as some clients send it), so they stay cacheable and preflights stay preflights.
  const method = headers[':method'] ?? '';
  if (!stream.endAfterHeaders && clean['content-length'] === undefined && !BODILESS_BY_DEFAULT.has(method)) clean['transfer-encoding'] = 'chunked';
  return { headers: clean, method, url: headers[':path'] ?? '', authority, hostField };
}

/**
 * A request as the handler reads it: `headers` without pseudo-fields and with `host` from :authority (RFC 9113
 * §8.3.1); `method` and `url` from :method and :path. (The accessors are installed on the prototype below: node's
 * compat class defines them as accessors, @types/node as properties.)
 */
export class EdgeH2Request extends Http2ServerRequest {
  readonly edgeHead: H2Head;
  #limit: { max: number; seen: number; tripped: boolean; onOverflow: () => void } | undefined;

  constructor(stream: ServerHttp2Stream, headers: H2Headers, options: object, rawHeaders: string[]) {
    super(stream, headers, options, rawHeaders);
    this.edgeHead = takeHead(stream, headers);
  }

  /** Starts counting request content: past `max` bytes the rest is dropped and `onOverflow` runs once. */
  limitContent(max: number, onOverflow: () => void): void { this.#limit = { max, seen: 0, tripped: false, onOverflow }; }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    const limit = this.#limit;
    if (limit !== undefined) {
      // Past the limit nothing more is passed on, not even the end: the request is destroyed, never ended truncated.
      if (limit.tripped) return true;
      if (chunk === null) return super.push(chunk, encoding);
      limit.seen += (chunk as Buffer).length;
      if (limit.seen > limit.max) { limit.tripped = true; limit.onOverflow(); return true; }
    }
    return super.push(chunk, encoding);
  }
}
Object.defineProperties(EdgeH2Request.prototype, {
  headers: { get(this: EdgeH2Request) { return this.edgeHead.headers; }, configurable: true },
  method: { get(this: EdgeH2Request) { return this.edgeHead.method; }, configurable: true },
  url: { get(this: EdgeH2Request) { return this.edgeHead.url; }, set(this: EdgeH2Request, v: string) { this.edgeHead.url = v; }, configurable: true },
  authority: { get(this: EdgeH2Request) { return this.edgeHead.authority; }, configurable: true },
});

/** An answer as the handler writes it (flat [name, value, ...] lists too), minus connection-specific fields. */
export class EdgeH2Response extends Http2ServerResponse {
  /** Body bytes written (the access log's `bytes`; end() writes through write()). */
  bytesSent = 0;

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof chunk === 'string') this.bytesSent += Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8');
    else if (chunk instanceof Uint8Array) this.bytesSent += chunk.byteLength;
    return (super.write as (c: unknown, e?: unknown, cb?: unknown) => boolean)(chunk, encoding, cb);
  }

  override writeHead(status: number, a?: unknown, b?: unknown): this {
    const headers = (typeof a === 'string' ? b : a) as OutgoingHttpHeaders | string[] | undefined;
    super.writeHead(status, toFieldObject(headers));
    return this;
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    if (!isConnectionSpecific(name)) super.setHeader(name, value);
    return this;
  }
}
// The handler asks `res.destroyed` (as of a node:http ServerResponse): the stream's.
Object.defineProperty(EdgeH2Response.prototype, 'destroyed', { get(this: EdgeH2Response) { return this.stream.destroyed; }, configurable: true });

function isConnectionSpecific(name: string): boolean {
  return CONNECTION_SPECIFIC.has(name) || CONNECTION_SPECIFIC.has(name.toLowerCase());
}

/** Adds flat [name, value, ...] fields to `out`, leaving out connection-specific ones (RFC 9113 §8.2.2); a repeated name becomes a list. */
export function addFlatFields(out: OutgoingHttpHeaders, flat: readonly string[]): OutgoingHttpHeaders {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name)) continue;
    const value = flat[i + 1]!;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [String(had), value];
  }
  return out;
}

/**
 * The fields as one object, without connection-specific ones, in a single pass. A flat list becomes an object here
 * (a repeated name becomes a list of values, as appending would make it) because node's compat writeHead validates
 * a flat list field by field through setHeader twice over, the hit path's largest cost over a bare http2 server.
 */
function toFieldObject(headers: OutgoingHttpHeaders | string[] | undefined): OutgoingHttpHeaders | undefined {
  if (headers === undefined) return undefined;
  if (Array.isArray(headers)) return addFlatFields({}, headers);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!isConnectionSpecific(name)) out[name] = headers[name];
  return out;
}

function answer(res: Http2ServerResponse, status: number, message: string): void {
  if (res.headersSent) { res.stream.close(constants.NGHTTP2_INTERNAL_ERROR); return; }
  const body = `edgecache: ${message}\n`;
  const id = requestIdOf(res.req as unknown as IncomingMessage);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store',
    ...(id === undefined ? undefined : { 'x-request-id': id }),
  });
  res.end(body);
}

export interface EdgeH2Server {
  /** Takes connections handed over by the listeners (`server.emit('connection', socket)`); never listens itself. */
  readonly server: Http2Server;
  /** Open sessions. */
  sessions(): number;
  /** GOAWAY to every session; the ones still open after `graceMs` are destroyed. */
  close(graceMs: number): Promise<void>;
}

export function createH2Server(handler: Handler, opts: H2Options): EdgeH2Server {
  const { logger, limits } = opts;
  const bounds = { ...DEFAULT_H2_BOUNDS, ...opts.bounds };
  const server = createServer({
    Http2ServerRequest: EdgeH2Request as unknown as typeof Http2ServerRequest,
    Http2ServerResponse: EdgeH2Response as unknown as typeof Http2ServerResponse,
    maxSessionMemory: bounds.maxSessionMemoryMb,
    maxHeaderListPairs: bounds.maxHeaderListPairs,
    maxOutstandingPings: bounds.maxOutstandingPings,
    maxSettings: bounds.maxOutstandingSettings,
    settings: {
      maxConcurrentStreams: bounds.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderBytes,
      enablePush: false,
    },
  });
  const sessions = new Set<ServerHttp2Session>();

  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    let open = 0;
    let windowStart = 0;
    let resets = 0;
    // One idle timer per session, pushed back when its last stream closes (not a new timer per burst of streams);
    // it closes the session only when no stream is open.
    const idle = setTimeout(function onIdle() {
      if (open === 0 && !session.closed && !session.destroyed) session.close();
    }, limits.keepAliveTimeoutMs);
    idle.unref();
    // One close listener per session, shared by its streams (no closure per stream on the hit path).
    const onStreamClose = function (this: ServerHttp2Stream): void {
      open--;
      // A stream the peer reset (or that was reset for an error) before its answer ended.
      if (this.rstCode !== constants.NGHTTP2_NO_ERROR && this.rstCode !== undefined) {
        const now = Date.now();
        if (now - windowStart >= 1000) { windowStart = now; resets = 0; }
        if (++resets > bounds.maxResetsPerSecond && !session.destroyed) {
          logger.warn({ resets, remote: session.socket?.remoteAddress }, 'HTTP/2 session reset streams too fast: closed (rapid reset)');
          opts.onRapidReset?.();
          session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
          session.destroy();
          return;
        }
      }
      if (open === 0 && !session.destroyed) idle.refresh();
    };
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      stream.on('close', onStreamClose);
      // A stream destroyed with an error (a peer's RST_STREAM with an error code) ends that stream only.
      stream.on('error', ignore);
    });
    session.on('error', (err: Error & { code?: string }) => logger.debug({ code: err.code, err: err.message }, 'HTTP/2 session error'));
    session.on('frameError', (type: number, code: number) => logger.debug({ type, code }, 'HTTP/2 frame error'));
    session.once('close', () => { sessions.delete(session); clearTimeout(idle); });
  });
  server.on('sessionError', (err: Error & { code?: string }) => logger.debug({ code: err.code, err: err.message }, 'HTTP/2 session error'));
  // A stream error (malformed request, refused stream) ends that stream only.
  server.on('streamError', () => {});

  const refusal = (head: H2Head, stream: ServerHttp2Stream): { status: number; message: string; code?: string } | undefined => {
    const rejection = checkH2RequestHead({
      method: head.method, path: head.url, authority: head.authority || undefined, host: head.hostField,
      contentLength: head.headers['content-length'],
    }, limits);
    if (rejection) return rejection;
    const servername = (stream.session?.socket as TLSSocket | undefined)?.servername;
    if (servername && opts.misdirected?.(servername, head.authority)) {
      return { status: 421, message: `this connection is for ${JSON.stringify(servername)}, which is not served with this host: open another` };
    }
    return undefined;
  };

  // Instead of node's compat dispatch (server.on('request')): a bodiless request the checks pass is first offered to the
  // hit path on the bare stream; the others, and every miss, get compat objects as node would make them.
  const hit = opts.hit;
  server.on('stream', (stream: ServerHttp2Stream, headers: H2Headers, _flags: number, rawHeaders: string[]) => {
    if (hit !== undefined && stream.endAfterHeaders && headers.expect === undefined) {
      const head = takeHead(stream, headers);
      if (refusal(head, stream) === undefined) {
        dropConnectionListed(head.headers);
        if (hit(stream, head.method, head.url, head.headers)) return;
      }
    }
    const req = new EdgeH2Request(stream, headers, {}, rawHeaders);
    const res = new EdgeH2Response(stream);
    const method = headers[':method'];
    if (method === 'CONNECT') { res.statusCode = 405; res.end(); return; }
    // RFC 9110 §10.1.1: 100-continue is answered at once (node's compat does the same); another expectation is 417.
    if (headers.expect !== undefined) {
      if (String(headers.expect).toLowerCase() !== '100-continue') { res.statusCode = 417; res.end(); return; }
      res.writeContinue();
    }
    onRequest(req, res);
  });

  const onRequest = (req: EdgeH2Request, res: EdgeH2Response): void => {
    const head = req.edgeHead;
    const refused = refusal(head, req.stream);
    if (refused) {
      if (refused.code !== undefined) {
        logger.debug({ code: refused.code, status: refused.status }, 'request refused');
        server.emit(REFUSED_EVENT, refused.status, refused.code);
      }
      answer(res, refused.status, refused.message);
      return;
    }
    dropConnectionListed(head.headers);
    if (head.headers['content-length'] === undefined) {
      // Past maxBodyBytes: 413 if nothing was answered yet, then the request (and its origin request) is aborted.
      req.limitContent(limits.maxBodyBytes, () => {
        const abort = (): void => { req.destroy(new BodyTooLargeError(limits.maxBodyBytes)); };
        if (res.headersSent || res.writableEnded) { abort(); return; }
        noteRefused(res as unknown as ServerResponse, 'BODY_TOO_LARGE');
        server.emit(REFUSED_EVENT, 413, 'BODY_TOO_LARGE');
        answer(res, 413, `the request content is over ${limits.maxBodyBytes} bytes`);
        if (res.writableFinished) abort(); else res.once('finish', abort);
      });
    }
    try {
      handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    } catch (err) {
      logger.error({ err: String(err), method: req.method }, 'request handler failed');
      answer(res, 500, 'internal error');
    }
  };

  return {
    server,
    sessions: () => sessions.size,
    async close(graceMs) {
      const open = [...sessions];
      const closed = Promise.all(open.map((s) => new Promise<void>((r) => { if (s.destroyed) r(); else { s.once('close', () => r()); s.close(); } })));
      const timer = setTimeout(() => { for (const s of sessions) s.destroy(); }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function ignore(): void {}

/** RFC 9113 §3.4: what an HTTP/2 client sends first; a plain listener with h2c tells HTTP/2 from HTTP/1.1 by it. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

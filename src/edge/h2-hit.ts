// The HTTP/2 hit path without node's compat request/response objects: the handler's own steps (target, route, lookup)
// on the stream's fields; a hit (a 304/412 or a range of it too) is answered with stream.respond + stream.end through
// the same answers (edge fields, CORS per Origin, counting, tallies); anything else is declined to the full handler.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { resolveTarget, TargetRefusal } from './target.js';
import { lookupStep, routeStep } from './handler.js';
import type { Answers } from './answers.js';
import { systemClock } from './clock.js';
import { addFlatFields } from './h2-listener.js';
import type { EdgeContext } from './context.js';

/** Answers the request if it is a cache hit (true); false: nothing was written, the full handler is to take it. */
export type H2Hit = (stream: ServerHttp2Stream, method: string, url: string, headers: IncomingHttpHeaders) => boolean;

/** What the answers write to: writeHead with a flat field list, then end (the only calls the hit path makes). */
class H2HitResponse {
  statusCode = 200;
  /** Set once the stream has sent everything (the access log logs an answer cut off before as 499). */
  writableFinished = false;
  /** Body bytes sent (the access log's byte count for HTTP/2 answers). */
  bytesSent = 0;
  /** The request's arrival (performance.now()) for the latency histograms (answers.ts, TimedResponse). */
  edgeStartedAt: number | undefined;
  constructor(readonly stream: ServerHttp2Stream, readonly req: IncomingMessage) {
    stream.once('finish', () => { this.writableFinished = true; });
  }

  get headersSent(): boolean { return this.stream.headersSent; }

  /** The one listener the access log adds: 'close', called with the response as `this`. */
  on(event: 'close', fn: (this: H2HitResponse) => void): this {
    this.stream.once(event, () => fn.call(this));
    return this;
  }

  writeHead(status: number, flat: readonly string[]): this {
    const headers = addFlatFields({ ':status': status }, flat);
    this.statusCode = status;
    // A stream the client reset meanwhile takes nothing (respond would throw).
    if (!this.stream.destroyed && !this.stream.closed) this.stream.respond(headers);
    return this;
  }

  end(body?: Buffer): this {
    if (!this.stream.destroyed && !this.stream.closed) {
      // A bodiless answer (a 304, HEAD: node ends a HEAD stream with its head) has nothing left to send: finished.
      if (body === undefined) { this.stream.end(); this.writableFinished = true; }
      else { this.bytesSent = body.length; this.stream.end(body); }
    }
    return this;
  }
}

/**
 * `answers`: the handler's own (one compression cache and budget for both paths); `context.store` the unguarded store,
 * so a failing lookup is counted once, by the full handler the request then goes to.
 */
export function createH2Hit(context: EdgeContext, answers: Answers): H2Hit {
  const clock = context.clock ?? systemClock;
  const { router, store, gate, logger, access } = context;

  return (stream, method, url, headers) => {
    if (method !== 'GET' && method !== 'HEAD') return false;
    const target = resolveTarget(url, headers.host, router);
    if (target instanceof TargetRefusal) return false;
    if (target.zone.zone.redirectHttp && (stream.session?.socket as TLSSocket | undefined)?.encrypted !== true) return false;
    const route = routeStep(method, headers, target);
    if (route.kind !== 'cache') return false;
    const key = route.preflight ? target.preflight() : target;
    let outcome;
    try {
      outcome = lookupStep(headers, key, store, clock.now(), gate);
    } catch {
      return false; // the full handler's guarded store counts and logs the failure
    }
    if (outcome.kind !== 'hit') return false;
    // A body only in the disk tier is read asynchronously (its fields may be too): the compat path serves it.
    if (outcome.variant.body === undefined || outcome.variant.hasFields === false) return false;
    // What the answers and the access log read of a request: its line, fields and connection.
    const req = { method, url, headers, httpVersion: '2.0', socket: stream.session?.socket } as unknown as IncomingMessage;
    const res = new H2HitResponse(stream, req);
    res.edgeStartedAt = performance.now();
    if (access !== undefined) {
      access.begin(req, res as unknown as ServerResponse);
      access.routed(req, res as unknown as ServerResponse, key.zone);
    }
    try {
      answers.hit(req, res as unknown as ServerResponse, key.zone, outcome.variant, outcome.age, outcome.ttl);
    } catch (err) {
      // A stored field node:http2 refuses: nothing was sent or counted; the full handler answers it as before.
      if (!stream.headersSent) return false;
      logger.error({ err: String(err) }, 'HTTP/2 hit failed after its head');
      stream.close();
      return true;
    }
    return true;
  };
}

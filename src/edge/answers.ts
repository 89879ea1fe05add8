// Writing the edge's answers: from the cache (Age, status fields), relayed from the origin, and the edge's own
// (origin errors, only-if-cached, preflights, internal errors); each counted once by its cf-cache-status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { StoredVariant } from '../storage/store.js';
import type { ZoneRuntime } from './zones.js';
import type { EdgeContext, EdgeKey } from './context.js';
import type { Clock } from './clock.js';
import { currentAge } from '../cache/policy/index.js';
import { ANSWER_STATUS, answerStatus, hitStatus, type AnswerKind, type CacheStatusParts } from '../observability/cache-status.js';
import { flatFields, sendText, serveComplete } from './respond.js';
import { classifyOriginError, OriginError } from '../origin/client.js';
import { noteCacheStatus, noteOrigin, requestIdOf } from '../observability/access-log.js';
import { createCompression, type EdgeCompression } from './compress.js';
import { createFailureLog } from '../origin/failure-log.js';

export interface Answers {
  /** Edge fields in one array of its final size: Age (from cache), cf-cache-status, Cache-Status, the zone's CORS fields. */
  edgeFields(req: IncomingMessage, zone: ZoneRuntime, kind: AnswerKind, cacheStatus: string, age?: string): string[];
  /** Counts one answer (and notes its cache status in the request's access record). */
  done(res: ServerResponse, kind: AnswerKind, zone?: ZoneRuntime): void;
  /** The cache hit (the hot path): Age and ttl from the lookup, the Cache-Status string made once per ttl. */
  hit(req: IncomingMessage, res: ServerResponse, zone: ZoneRuntime, v: StoredVariant, age: number, ttl: number): void;
  /** A stored variant with its current Age (RFC 9111 §4.2.3, §5.1), answered as `kind`. */
  stored(req: IncomingMessage, res: ServerResponse, zone: ZoneRuntime, v: StoredVariant, kind: AnswerKind, own?: CacheStatusParts): void;
  /** An origin answer written through to the client, uncached (a throw on an invalid field becomes a 502). */
  relay(req: IncomingMessage, res: ServerResponse, key: EdgeKey, o: Relayed, kind: AnswerKind, own: CacheStatusParts): void;
  /** The origin failed: 502/504 with the error code in Cache-Status (or a started answer is cut off). */
  originFailed(res: ServerResponse, err: unknown, zone?: ZoneRuntime): void;
  /** RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored → 504. */
  onlyIfCached(res: ServerResponse, zone?: ZoneRuntime): void;
  /** Edge-owned CORS: the edge answers preflights itself, origin up or down. */
  preflight(req: IncomingMessage, res: ServerResponse, zone: ZoneRuntime): void;
  /** A bug on the request path answers 500 (or closes a started answer) and is logged; it never takes the process down. */
  internalError(res: ServerResponse, err: unknown): void;
  /** Edge compression: the representation of a stored variant a request gets, Vary on misses (src/edge/compress.ts). */
  readonly compression: EdgeCompression;
}

/** A response stamped with its request's arrival (performance.now(), set by the handler) for the latency histograms. */
export type TimedResponse = ServerResponse & { edgeStartedAt?: number };

/** An origin answer to relay: status, client fields, body; `bodyless` when the origin saw HEAD (no body to wait for). */
export interface Relayed { status: number; fields: [string, string][]; body: Readable; bodyless?: boolean }

// The Cache-Status values that never change, made once.
const ONLY_IF_CACHED_STATUS = answerStatus('only-if-cached');
const PREFLIGHT_STATUS = answerStatus('preflight');
/** Compressed copies held when the context does not say (the edge passes a quarter of cache.maxBytes). */
const DEFAULT_COMPRESS_BYTES = 64 * 1024 * 1024;
/** The cf-cache-status values of answers taken from the cache (what a zone's cache bytes count). */
const FROM_CACHE: ReadonlySet<string> = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED']);

export function createAnswers(ctx: EdgeContext & { clock: Clock }): Answers {
  const { metrics, logger, clock } = ctx;
  const compression = createCompression(ctx.compressBytes ?? DEFAULT_COMPRESS_BYTES);
  const logFailure = createFailureLog(logger);

  const done = (res: ServerResponse, kind: AnswerKind, zone?: ZoneRuntime): void => {
    const cf = ANSWER_STATUS[kind].cf;
    noteCacheStatus(res, cf);
    if (zone === undefined) { metrics.countRequest(cf, res.statusCode); return; }
    metrics.countAnswer(zone.meter, kind, res.statusCode, (res as TimedResponse).edgeStartedAt);
    const t = zone.tally.requests;
    t.set(cf, (t.get(cf) ?? 0) + 1);
  };

  /**
   * No Via: a gateway MAY send one on responses (RFC 9110 §7.6.3, https://www.rfc-editor.org/rfc/rfc9110#section-7.6.3),
   * and it would be one more field on every hit; requests to the origin carry ours (src/http/headers.ts).
   */
  const edgeFields = (req: IncomingMessage, zone: ZoneRuntime, kind: AnswerKind, status: string, age?: string): string[] => {
    const deco = zone.decorate(req.headers.origin);
    const id = requestIdOf(req);
    const n = (age === undefined ? 4 : 6) + (id === undefined ? 0 : 2);
    const out = new Array<string>(n + deco.length);
    let i = 0;
    if (age !== undefined) { out[i++] = 'age'; out[i++] = age; }
    out[i++] = 'cf-cache-status'; out[i++] = ANSWER_STATUS[kind].cf;
    out[i++] = 'cache-status'; out[i++] = status;
    if (id !== undefined) { out[i++] = 'x-request-id'; out[i++] = id; }
    for (let j = 0; j < deco.length; j++) out[i++] = deco[j]!;
    return out;
  };

  const internalError = (res: ServerResponse, err: unknown): void => {
    logger.error({ err: String(err), stack: (err as Error)?.stack }, 'request failed inside the edge');
    if (res.headersSent) { res.destroy(); return; }
    sendText(res, 500, 'edgecache: internal error', idField(res));
    metrics.countRequest('NONE', 500);
  };

  const originFailed = (res: ServerResponse, err: unknown, zone?: ZoneRuntime): void => {
    const e = err instanceof OriginError ? err : classifyOriginError(err);
    // The edge's own bug on the fetch path: not the origin's fault, so not a 502 that blames it.
    if (e.code === 'ORIGIN_INTERNAL') { internalError(res, e.cause ?? e); return; }
    // Why, for the operator (the client's body says it too): the error code, its low-level cause, the origin and zone.
    logFailure(e, zone?.id);
    if (res.headersSent) { res.destroy(); return; }
    sendText(res, e.status, `edgecache: ${e.message}`, ['cache-status', answerStatus('origin-error', { detail: e.code.toLowerCase() }), ...idField(res)]);
    done(res, 'origin-error', zone);
  };

  return {
    edgeFields,
    done,
    originFailed,
    hit(req, res, zone, v, age, ttl) {
      zone.tally.cacheBytes += serveComplete(req, res, compression.represent(req, zone.zone, v), edgeFields(req, zone, 'hit', hitStatus(ttl), String(age)));
      done(res, 'hit', zone);
    },
    stored(req, res, zone, v, kind, own) {
      if (own?.fwdStatus !== undefined) noteOrigin(req, own.fwdStatus, undefined);
      const sent = serveComplete(req, res, compression.represent(req, zone.zone, v), edgeFields(req, zone, kind, answerStatus(kind, own), String(currentAge(v.freshness, clock.now()))));
      // Bytes of answers taken from the cache (a miss served from its fresh fill was fetched, and is counted there).
      if (FROM_CACHE.has(ANSWER_STATUS[kind].cf)) zone.tally.cacheBytes += sent;
      done(res, kind, zone);
    },
    relay(req, res, key, o, kind, own) {
      if (own.fwdStatus !== undefined) noteOrigin(req, own.fwdStatus, undefined);
      // Compressible and uncompressed: coded on the way (src/edge/compress.ts), or at least Vary: Accept-Encoding.
      const coded = compression.relayCoding(req, key.zone.zone, o.status, o.fields);
      try {
        res.writeHead(o.status, flatFields(coded?.fields ?? o.fields, edgeFields(req, key.zone, kind, answerStatus(kind, own))));
      } catch {
        discard(o.body);
        originFailed(res, new OriginError('ORIGIN_BAD_RESPONSE', 'origin sent an invalid response field'), key.zone);
        return;
      }
      // A HEAD sent on as GET (a cache fetch) has a body to drop; one the origin saw as HEAD has none to wait for.
      if (req.method === 'HEAD') { if (o.bodyless) o.body.resume(); else discard(o.body); res.end(); }
      else if (coded?.transform) pipeline(o.body, coded.transform(), res, () => {});
      else pipeline(o.body, res, () => {});
      done(res, kind, key.zone);
    },
    onlyIfCached(res, zone) {
      sendText(res, 504, 'edgecache: only-if-cached and no usable stored response', ['cache-status', ONLY_IF_CACHED_STATUS, ...idField(res)]);
      done(res, 'only-if-cached', zone);
    },
    preflight(req, res, zone) {
      const rm = req.headers['access-control-request-method'];
      const rh = req.headers['access-control-request-headers'];
      const answer = zone.cors!.preflight(String(req.headers.origin), String(rm), Array.isArray(rh) ? rh.join(',') : rh);
      const flat: string[] = ['cache-status', PREFLIGHT_STATUS, ...idField(res)];
      for (const [n, v] of answer.headers) flat.push(n, v);
      res.writeHead(answer.status, flat);
      res.end();
      done(res, 'preflight', zone);
    },
    internalError,
    compression,
  };
}

/** `x-request-id` for an edge's own answer, as a flat field list (empty when the request has no record). */
function idField(res: ServerResponse): string[] {
  const id = res.req === undefined ? undefined : requestIdOf(res.req);
  return id === undefined ? [] : ['x-request-id', id];
}

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

/** Drops an origin body we will not use, without an unhandled 'error' event from the abort. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

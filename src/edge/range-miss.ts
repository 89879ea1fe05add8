// Range requests the whole-object fetch does not answer (RFC 9111 §3.3, §3.4; RFC 9110 §14): a suffix or mid-object
// range is forwarded and its 206 stored as a piece of the variant; later ranges inside stored pieces are served from
// them; a request needing bytes not stored asks the origin for only those (with If-Range) and combines.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { CacheStore } from '../storage/store.js';
import { answerRange, type RangeAnswer } from '../cache/policy/range.js';
import { currentAge, isFresh } from '../cache/policy/index.js';
import { ifRangeFor, missingSpans, parseContentRange, rangeAsk, rangeValue, resolveSpec, type Span } from '../cache/policy/partial.js';
import { answerStatus, hitStatus, type FwdReason } from '../observability/cache-status.js';
import { classifyOriginError, type OriginResponse } from '../origin/client.js';
import { noteOrigin } from '../observability/access-log.js';
import type { Clock } from './clock.js';
import type { EdgeContext, EdgeKey } from './context.js';
import { discard, type Answers } from './answers.js';
import { forwardFields } from './origin-fields.js';
import { answerConditionals, hasConditionals } from './respond.js';
import { withLength } from './flight.js';
import { createSliceMiss } from './slice-miss.js';
import {
  bodyOffset, fieldRecord, keepable, partialBody, partialKey, readPartial, savePiece, type Keepable, type PartialEntry,
} from './partial-entry.js';

export interface RangeMiss {
  /**
   * Takes a miss that partial content decides (true): a Range outside the whole-object rule, or any request a stored
   * piece can answer or be completed for. False: the whole-object fetch answers it (src/edge/miss.ts).
   */
  take(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): boolean;
}

/** What the miss path lends this step. */
export interface MissHooks {
  /** The ordinary miss path without this step (a fallback when a piece cannot be combined). */
  whole(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): void;
  /** Whether a whole-object fetch of this request's variant is on its way (a range joins it rather than asking again). */
  filling(req: IncomingMessage, key: EdgeKey): boolean;
}

/** A piece (or a complete answer to a range request) larger than this is relayed, not stored. */
const PIECE_MAX_BYTES = 32 * 1024 * 1024;

/** A stored piece with its bytes. */
interface Held { entry: PartialEntry; body: Buffer }

export function createRangeMiss(ctx: EdgeContext & { clock: Clock }, store: CacheStore, answers: Answers, hooks: MissHooks): RangeMiss {
  const { clock, metrics } = ctx;
  const whole = hooks.whole;
  const slices = ctx.sliceBytes ? createSliceMiss(ctx, store, answers, ctx.sliceBytes, {
    whole,
    relayWhole: (req, res, key, o, times, fwd) => answerWhole(req, res, key, o, times, fwd, undefined),
  }) : undefined;
  const pieceMax = Math.min(PIECE_MAX_BYTES, ctx.maxObjectBytes);

  function take(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): boolean {
    if (key.isPreflight) return false;
    // cache.slice: every GET and HEAD is answered from slices (src/edge/slice-miss.ts).
    if (slices !== undefined && (req.method === 'GET' || req.method === 'HEAD')) { slices.serve(req, res, key, fwd); return true; }
    if (req.method !== 'GET') return false;
    const ask = rangeAsk('GET', req.headers);
    if (ask.kind === 'ignored') return false;
    // One O(1) check on an ordinary miss: pieces are rare.
    const entry = store.hasVariants(partialKey(key.objectKey)) ? readPartial(store, key, req.headers, clock.now()) : undefined;
    if (ask.kind === 'none') {
      // A whole GET of a variant with pieces stored: only the one missing span is fetched (RFC 9111 §3.4).
      if (entry === undefined) return false;
      const missing = missingSpans(entry.spans, { start: 0, end: entry.length - 1 });
      if (missing.length !== 1 || hasConditionals(req.headers)) return false;
      void withBody(entry, res, (held) => complete(req, res, key, held, missing[0]!, fwd));
      return true;
    }
    if (entry !== undefined && req.headers['if-range'] === undefined) {
      const r = answerRange('GET', req.headers, { status: 200, headers: fieldRecord(entry.fields), length: entry.length }, { now: clock.now() });
      if (r.kind === 'unsatisfiable' || (r.kind === 'partial' && within(r, entry.spans))) {
        void withBody(entry, res, (held) => serveHeld(req, res, key, held, r, { hit: true }));
        return true;
      }
      if (ask.kind === 'single') {
        const want = resolveSpec(ask.spec, entry.length);
        const missing = want === undefined ? [] : missingSpans(entry.spans, want);
        if (missing.length === 1) { void withBody(entry, res, (held) => complete(req, res, key, held, missing[0]!, fwd)); return true; }
      }
    }
    // From byte 0 (or several ranges), or while the whole object is on its way: answered from the whole fill.
    if (ask.kind === 'from-zero' || hooks.filling(req, key)) return false;
    forward(req, res, key, ask.value, fwd, entry);
    return true;
  }

  /** Reads a stored piece's bytes (from disk when the store keeps it there), then goes on; a failed read answers 503. */
  async function withBody(entry: PartialEntry, res: ServerResponse, then: (held: Held) => void): Promise<void> {
    let body: Buffer;
    try { body = await partialBody(entry); } catch {
      if (!res.headersSent) res.writeHead(503, ['content-length', '0', 'cache-control', 'no-store']);
      res.end();
      return;
    }
    if (res.destroyed) return;
    try { then({ entry, body }); } catch (err) { answers.internalError(res, err); }
  }

  /** The client's own Range sent on; a 206 stored as a piece (combined with `old` when §3.4 allows), a 200 stored whole. */
  function forward(req: IncomingMessage, res: ServerResponse, key: EdgeKey, range: string, fwd: FwdReason, old: PartialEntry | undefined): void {
    const headers = forwardFields(req, key, true);
    headers.range = range;
    const ifRange = req.headers['if-range'];
    if (typeof ifRange === 'string') headers['if-range'] = ifRange;
    ask(req, res, key, headers, (o, times) => {
      const piece = o.status === 206 ? pieceOf(key, req, o, times) : undefined;
      if (piece === undefined) return answerWhole(req, res, key, o, times, fwd, old);
      const { k, span, length } = piece;
      const relayed = collect(o.body, span.end - span.start + 1, (body) => {
        if (body === undefined) return;
        void (old ? partialBody(old).then((b) => ({ entry: old, body: b }), () => undefined) : Promise.resolve(undefined))
          .then((held) => savePiece(store, key, k, held, span, length, body, clock.now(), times.epoch));
      });
      answers.relay(req, res, key, { status: 206, fields: key.zone.clientFields(o.headers), body: relayed }, 'miss', { fwd: 'partial', fwdStatus: 206, stored: true });
    });
  }

  /** Asks the origin for the one span `held` lacks (If-Range: its strong validator) and answers from the combination. */
  function complete(req: IncomingMessage, res: ServerResponse, key: EdgeKey, held: Held, span: Span, fwd: FwdReason): void {
    const headers = forwardFields(req, key, true);
    const { entry } = held;
    headers.range = rangeValue([span], entry.length);
    const validator = ifRangeFor(fieldRecord(entry.fields), clock.now());
    if (validator !== undefined) headers['if-range'] = validator;
    ask(req, res, key, headers, (o, times) => {
      // A 200: the whole representation (the origin ignored Range, or If-Range named an older one): relayed, stored.
      if (o.status === 200) return answerWhole(req, res, key, o, times, fwd, entry);
      const piece = o.status === 206 ? pieceOf(key, req, o, times) : undefined;
      // Not a storable piece, not the span asked for, or another representation (another length: a 416 says so too):
      // the pieces cannot be combined (RFC 9111 §3.4); the ordinary path fetches what the client asked for.
      if (piece === undefined || piece.span.start !== span.start || piece.span.end !== span.end || piece.length !== entry.length) {
        discard(o.body);
        return whole(req, res, key, fwd);
      }
      const { k, length } = piece;
      // Nobody reads this copy on: resume() lets it flow to its end.
      collect(o.body, span.end - span.start + 1, (body) => {
        if (body === undefined) { if (!res.headersSent) answers.originFailed(res, new Error('origin body ended early'), key.zone); return; }
        if (res.destroyed) return;
        const saved = savePiece(store, key, k, held, span, length, body, clock.now(), times.epoch);
        if (saved === undefined || saved.entry.spans.length !== 1 || saved.entry.spans[0]!.start !== 0 || saved.entry.spans[0]!.end !== length - 1) {
          // Not combined (validators differ: the new piece replaced the old one), or not yet whole.
          if (saved === undefined) return whole(req, res, key, fwd);
          const r = answerRange('GET', req.headers, { status: 200, headers: fieldRecord(saved.entry.fields), length }, { now: clock.now() });
          if (r.kind === 'full' || (r.kind === 'partial' && !within(r, saved.entry.spans))) return whole(req, res, key, fwd);
          return serveHeld(req, res, key, saved, r, { fwd: 'partial', fwdStatus: 206 });
        }
        // Complete now: stored as the whole 200 it is, and the pieces dropped.
        store.remove(saved.entry.variant);
        const v = storeWhole(key, k, saved.body, times.epoch);
        if (v !== undefined) return answers.stored(req, res, key.zone, v, 'miss', { fwd: 'partial', fwdStatus: 206 });
        serveHeld(req, res, key, saved, answerRange('GET', req.headers, { status: 200, headers: fieldRecord(k.fields), length }, { now: clock.now() }), { fwd: 'partial', fwdStatus: 206 });
      }).resume();
    });
  }

  /** Stores a complete 200 under the URL's own key (and the pieces of its variant go). */
  function storeWhole(key: EdgeKey, k: Keepable, body: Buffer, epoch: number) {
    return store.insert({
      zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: key.objectKey, keyNames: k.keyNames,
      selector: k.selector, status: 200, headers: withLength(k.fields, body.length, 200), body, freshness: k.freshness, tags: k.tags,
      maxVariants: key.zone.zone.cacheKey.maxVariants,
    }, epoch);
  }

  /** A 200 (the origin ignored Range, or If-Range failed) or any other answer: relayed; a storable 200 stored whole. */
  function answerWhole(req: IncomingMessage, res: ServerResponse, key: EdgeKey, o: OriginResponse, times: Times, fwd: FwdReason, old: PartialEntry | undefined): void {
    const k = o.status === 200 ? keepable(key, req.headers, 200, o.headers, times.requestTime, times.responseTime) : undefined;
    const declared = Number(o.headers['content-length']);
    let body: Readable = o.body;
    if (k !== undefined && !(declared > pieceMax)) {
      body = collect(o.body, Number.isSafeInteger(declared) ? declared : undefined, (whole) => {
        if (whole === undefined) return;
        if (storeWhole(key, k, whole, times.epoch) !== undefined && old !== undefined) store.remove(old.variant);
      });
    }
    answers.relay(req, res, key, { status: o.status, fields: key.zone.clientFields(o.headers), body }, k ? 'miss' : 'dynamic', { fwd, fwdStatus: o.status, stored: k !== undefined });
  }

  /** Whether a 206 can be kept as a piece: one part with a complete length, storable as the 200 it is part of. */
  function pieceOf(key: EdgeKey, req: IncomingMessage, o: OriginResponse, times: Times): { k: Keepable; span: Span; length: number } | undefined {
    const cr = o.headers['content-range'];
    const parsed = parseContentRange(typeof cr === 'string' ? cr : undefined);
    if (parsed === undefined || parsed.end - parsed.start + 1 > pieceMax) return undefined;
    // https://www.rfc-editor.org/rfc/rfc9110#section-14.4: the content is the range Content-Range names; a declared
    // length that disagrees makes the message invalid, so it is relayed as it is and never kept as a piece.
    const declared = o.headers['content-length'];
    if (declared !== undefined && Number(declared) !== parsed.end - parsed.start + 1) return undefined;
    const k = keepable(key, req.headers, 200, o.headers, times.requestTime, times.responseTime);
    if (k === undefined || !isFresh(k.freshness, clock.now())) return undefined;
    return { k, span: { start: parsed.start, end: parsed.end }, length: parsed.length };
  }

  /** One origin request for a range; failures answered as the miss path does. */
  function ask(req: IncomingMessage, res: ServerResponse, key: EdgeKey, headers: Record<string, string | string[]>, then: (o: OriginResponse, t: Times) => void): void {
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    metrics.originFetches.inc({ kind: 'miss' });
    const epoch = store.epoch();
    const requestTime = clock.now();
    const asked = performance.now();
    key.zone.origin.request({ method: 'GET', path: key.target, headers, signal: abort.signal }).then((o) => {
      noteOrigin(req, o.status, performance.now() - asked);
      if (res.destroyed) { discard(o.body); return; }
      // 206 with a multipart body, or a 206 nobody asked for: relayed, never stored (pieceOf refuses them).
      try { then(o, { epoch, requestTime, responseTime: clock.now() }); } catch (err) { discard(o.body); answers.internalError(res, err); }
    }, (err) => {
      noteOrigin(req, undefined, performance.now() - asked);
      metrics.originErrors.inc({ code: classifyOriginError(err).code });
      answers.originFailed(res, err, key.zone);
    });
  }

  /** Writes a range answer (206, multipart or 416) from held pieces, or the whole 200 when they are all of it. */
  function serveHeld(req: IncomingMessage, res: ServerResponse, key: EdgeKey, held: Held, r: RangeAnswer, own: { hit?: boolean; fwd?: FwdReason; fwdStatus?: number }): void {
    const { entry, body } = held;
    const v = entry.variant;
    const now = clock.now();
    const age = currentAge(v.freshness, now);
    const kind = own.hit ? 'hit' : 'miss';
    const status = own.hit ? hitStatus(v.freshness.lifetime - age) : answerStatus('miss', { fwd: own.fwd, fwdStatus: own.fwdStatus });
    const extra = answers.edgeFields(req, key.zone, kind, status, String(age));
    const fieldMap = fieldRecord(entry.fields);
    if (hasConditionals(req.headers) && answerConditionals(req, res, 200, fieldMap, extra)) return answers.done(res, kind, key.zone);
    const flat: string[] = [];
    if (r.kind === 'full') {
      const all = entry.spans.length === 1 && entry.spans[0]!.start === 0 && entry.spans[0]!.end === entry.length - 1;
      if (!all) return whole(req, res, key, own.fwd ?? 'partial');
      for (const [n, val] of entry.fields) flat.push(n, val);
      res.writeHead(200, flat.concat('content-length', String(entry.length), extra));
      res.end(body);
      return answers.done(res, kind, key.zone);
    }
    const replaced = new Set(r.headers.map(([n]) => n));
    for (const [n, val] of entry.fields) if (!replaced.has(n)) flat.push(n, val);
    for (const [n, val] of r.headers) flat.push(n, val);
    res.writeHead(r.status, flat.concat(extra));
    if (r.kind === 'unsatisfiable') { res.end(); return answers.done(res, kind, key.zone); }
    const parts: Buffer[] = [];
    for (const p of r.pieces) {
      if (Buffer.isBuffer(p)) { parts.push(p); continue; }
      const at = bodyOffset(entry.spans, p.start);
      parts.push(body.subarray(at, at + p.end - p.start + 1));
    }
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    res.end(out);
    if (own.hit) key.zone.tally.cacheBytes += out.length;
    answers.done(res, kind, key.zone);
  }

  return { take };
}

interface Times { epoch: number; requestTime: number; responseTime: number }

/** Whether every range of a 206 answer lies inside the stored spans. */
function within(r: Extract<RangeAnswer, { kind: 'partial' }>, spans: readonly Span[]): boolean {
  for (const p of r.pieces) {
    if (Buffer.isBuffer(p)) continue;
    if (!spans.some((s) => s.start <= p.start && p.end <= s.end)) return false;
  }
  return true;
}

/**
 * Passes a body through while keeping a copy (up to `expected` bytes, or PIECE_MAX_BYTES when unknown), then hands the
 * copy to `done` once the body ended whole, or undefined when it failed, was cut, or was not the length expected.
 */
function collect(body: Readable, expected: number | undefined, done: (whole: Buffer | undefined) => void): Readable {
  const chunks: Buffer[] = [];
  let total = 0;
  let over = false;
  let called = false;
  const finish = (b: Buffer | undefined): void => { if (!called) { called = true; done(b); } };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (!over && total <= (expected ?? PIECE_MAX_BYTES)) chunks.push(chunk); else { over = true; chunks.length = 0; }
      cb(null, chunk);
    },
    flush(cb) {
      finish(!over && (expected === undefined || total === expected) ? Buffer.concat(chunks, total) : undefined);
      cb();
    },
  });
  pipeline(body, t, (err) => { if (err) finish(undefined); });
  return t;
}

// `cache.slice`: objects fetched and stored in aligned slices, as nginx's slice module does
// (https://nginx.org/en/docs/http/ngx_http_slice_module.html): slice k is `Range: bytes=k*S-(k+1)*S-1`, kept as one
// stored entry beside the URL's object (under its key plus SLICES_KEY_SUFFIX, selected by the variant's selector and
// the slice number), so purges of the URL remove every slice and the store's bounds count them. Any request (whole,
// a range, several ranges, HEAD) is answered by stitching slices, one in memory at a time per client; each slice is
// asked of the origin once however many clients want it. RFC 9111 §3.4: slices are combined only when they share the
// first slice's strong validator (or none is given); a slice of another representation ends the answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { bodyOf } from '../storage/store.js';
import { selectorOf, slicesObjectKey, SLICE_FIELD_NAME } from '../cache/key.js';
import { answerRange, type RangePiece } from '../cache/policy/range.js';
import { canCombine, ifRangeFor, parseContentRange } from '../cache/policy/partial.js';
import { currentAge, normalizeVaryValue } from '../cache/policy/index.js';
import { answerStatus, hitStatus, type FwdReason } from '../observability/cache-status.js';
import { classifyOriginError, type OriginResponse } from '../origin/client.js';
import { noteOrigin } from '../observability/access-log.js';
import type { Clock } from './clock.js';
import type { EdgeContext, EdgeKey } from './context.js';
import { discard, type Answers } from './answers.js';
import { forwardFields } from './origin-fields.js';
import { answerConditionals, hasConditionals } from './respond.js';
import { fieldRecord, isUsable, keepable, PIECES_FIELD } from './partial-entry.js';

/** One slice as stored (or just fetched): its representation's length and fields, its bytes. */
interface Slice { length: number; fields: [string, string][]; body: Buffer; fromCache: boolean; variant?: StoredVariant }

/** What a slice fetch came back with: the slice, or an origin answer that is not one (relayed by the caller). */
type Got = { slice: Slice } | { other: OriginResponse; times: Times };
interface Times { epoch: number; requestTime: number; responseTime: number }

export interface SliceHooks {
  /** The ordinary whole-object miss path (an empty object: its slice 0 is a 416). */
  whole(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): void;
  /** An origin answer to a slice request that is not a slice (a 200, an error status): relayed, a storable 200 stored whole. */
  relayWhole(req: IncomingMessage, res: ServerResponse, key: EdgeKey, o: OriginResponse, times: Times, fwd: FwdReason): void;
}

export interface SliceMiss { serve(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): void }

export function createSliceMiss(ctx: EdgeContext & { clock: Clock }, store: CacheStore, answers: Answers, size: number, hooks: SliceHooks): SliceMiss {
  const { clock, metrics } = ctx;
  /** Slice fetches on their way, by slices key, selector and slice number: one origin request per slice. */
  const flights = new Map<string, Promise<Got>>();

  /** The headers a slice is selected by: the request's, and the slice number under a name no request can carry. */
  const sliceHeaders = (req: IncomingMessage, k: number): Record<string, string | string[] | undefined> => ({ ...req.headers, [SLICE_FIELD_NAME]: String(k) });

  function stored(req: IncomingMessage, key: EdgeKey, k: number): Slice | undefined {
    const v = store.lookup(slicesObjectKey(key.objectKey), sliceHeaders(req, k));
    if (v === undefined || !isUsable(v, req.headers, clock.now(), key)) return undefined;
    const raw = v.fieldMap[PIECES_FIELD];
    const m = typeof raw === 'string' ? /^(\d+):/.exec(raw) : null;
    if (!m) return undefined;
    return { length: Number(m[1]), fields: v.headers.filter(([n]) => n !== PIECES_FIELD), body: v.body ?? Buffer.alloc(0), fromCache: true, variant: v };
  }

  /** Slice k from the store, else from the origin (joined with any fetch of it on its way). */
  async function slice(req: IncomingMessage, key: EdgeKey, k: number, ifRange: string | undefined): Promise<Got> {
    const s = stored(req, key, k);
    if (s !== undefined) {
      if (s.variant!.body === undefined) s.body = await bodyOf(s.variant!);
      return { slice: s };
    }
    const id = `${slicesObjectKey(key.objectKey)}\u0000${key.selector(req.headers, normalizeVaryValue)}\u0000${k}`;
    let f = flights.get(id);
    if (f === undefined) {
      f = fetchSlice(req, key, k, ifRange);
      flights.set(id, f);
      const done = (): void => { if (flights.get(id) === f) flights.delete(id); };
      f.then(done, done);
    }
    return f;
  }

  async function fetchSlice(req: IncomingMessage, key: EdgeKey, k: number, ifRange: string | undefined): Promise<Got> {
    const headers = forwardFields(req, key, true);
    headers.range = `bytes=${k * size}-${(k + 1) * size - 1}`;
    if (ifRange !== undefined) headers['if-range'] = ifRange;
    metrics.originFetches.inc({ kind: 'miss' });
    const epoch = store.epoch();
    const requestTime = clock.now();
    const o = await key.zone.origin.request({ method: 'GET', path: key.target, headers });
    const times = { epoch, requestTime, responseTime: clock.now() };
    const cr = o.headers['content-range'];
    const span = o.status === 206 ? parseContentRange(typeof cr === 'string' ? cr : undefined) : undefined;
    if (span === undefined || span.start !== k * size || span.end !== Math.min((k + 1) * size, span.length) - 1) return { other: o, times };
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of o.body) {
      n += (c as Buffer).length;
      if (n > size) { discard(o.body); throw new Error('origin sent more than the slice'); }
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks, n);
    if (n !== span.end - span.start + 1) throw new Error('origin slice ended early');
    const fields = key.zone.clientFields(o.headers).filter(([n2]) => n2 !== 'content-length' && n2 !== 'content-range' && n2 !== PIECES_FIELD && n2 !== 'age');
    const kept = keepable(key, req.headers, 200, o.headers, requestTime, times.responseTime);
    const s: Slice = { length: span.length, fields: kept?.fields ?? fields, body, fromCache: false };
    if (kept !== undefined) {
      const names = kept.keyNames.includes(SLICE_FIELD_NAME) ? kept.keyNames : [...kept.keyNames, SLICE_FIELD_NAME];
      const h = sliceHeaders(req, k);
      store.insert({
        zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: slicesObjectKey(key.objectKey),
        keyNames: names, selector: selectorOf(names, h, normalizeVaryValue), status: 206,
        headers: [...kept.fields, [PIECES_FIELD, `${span.length}:${span.start}-${span.end}`]], body, freshness: kept.freshness, tags: kept.tags,
        // Every slice of a large object is kept: the store's byte bound (and LRU) limits them, not the variant bound.
        maxVariants: Math.max(key.zone.zone.cacheKey.maxVariants ?? 0, 64) + Math.ceil(ctx.maxObjectBytes / size),
      }, epoch);
    }
    return { slice: s };
  }

  function serve(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): void {
    run(req, res, key, fwd).catch((err) => {
      metrics.originErrors.inc({ code: classifyOriginError(err).code });
      answers.originFailed(res, err, key.zone);
    });
  }

  async function run(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): Promise<void> {
    const asked = performance.now();
    const got0 = await slice(req, key, 0, undefined);
    if ('other' in got0) {
      noteOrigin(req, got0.other.status, performance.now() - asked);
      if (res.destroyed) { discard(got0.other.body); return; }
      // A 416 to bytes=0-…: an empty representation (RFC 9110 §14.1.1 has no byte to range over): fetched whole.
      if (got0.other.status === 416) { discard(got0.other.body); return hooks.whole(req, res, key, fwd); }
      return hooks.relayWhole(req, res, key, got0.other, got0.times, fwd);
    }
    if (res.destroyed) return;
    const first = got0.slice;
    const { length } = first;
    const fieldMap = fieldRecord(first.fields);
    const hit = first.fromCache;
    const age = first.variant ? currentAge(first.variant.freshness, clock.now()) : 0;
    const kind = hit ? 'hit' : 'miss';
    const status = hit && first.variant ? hitStatus(first.variant.freshness.lifetime - age) : answerStatus('miss', { fwd, fwdStatus: 206, stored: true });
    const extra = answers.edgeFields(req, key.zone, kind, status, hit ? String(age) : undefined);
    if (hasConditionals(req.headers) && answerConditionals(req, res, 200, fieldMap, extra)) return answers.done(res, kind, key.zone);
    const r = req.method === 'GET' ? answerRange('GET', req.headers, { status: 200, headers: fieldMap, length }, { now: clock.now() }) : { kind: 'full' as const };
    const flat: string[] = [];
    const replaced = new Set(r.kind === 'full' ? ['content-length'] : r.headers.map(([n]) => n));
    for (const [n, v] of first.fields) if (!replaced.has(n)) flat.push(n, v);
    if (r.kind === 'full') flat.push('content-length', String(length)); else for (const [n, v] of r.headers) flat.push(n, v);
    res.writeHead(r.kind === 'full' ? 200 : r.status, flat.concat(extra));
    answers.done(res, kind, key.zone);
    if (req.method === 'HEAD' || r.kind === 'unsatisfiable' || length === 0) { res.end(); return; }
    const pieces: RangePiece[] = r.kind === 'full' ? [{ start: 0, end: length - 1 }] : r.pieces;
    const validator = ifRangeFor(fieldMap, clock.now());
    for (const p of pieces) {
      if (Buffer.isBuffer(p)) { if (!(await write(res, p))) return; continue; }
      for (let k = Math.floor(p.start / size); k * size <= p.end; k++) {
        const got = k === 0 ? got0 : await slice(req, key, k, validator);
        if (res.destroyed) return;
        // Another representation (a 200 to If-Range, another length or validator): the answer so far cannot go on
        // (RFC 9111 §3.4), so it is cut, and the old slices go.
        if ('other' in got || got.slice.length !== length || !canCombine(fieldMap, fieldRecord(got.slice.fields), clock.now())) {
          if ('other' in got) discard(got.other.body);
          store.purge({ kind: 'object', zoneId: key.zoneId, host: key.host, path: key.path, query: key.query }, false);
          res.destroy();
          return;
        }
        const from = Math.max(p.start, k * size) - k * size;
        const to = Math.min(p.end, (k + 1) * size - 1) - k * size;
        if (!(await write(res, got.slice.body.subarray(from, to + 1)))) return;
        if (got.slice.fromCache) key.zone.tally.cacheBytes += to - from + 1;
      }
    }
    res.end();
  }

  return { serve };
}

/** Writes with backpressure; false when the client left. */
function write(res: ServerResponse, b: Buffer): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(b)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => { res.off('drain', onDrain); res.off('close', onClose); resolve(ok); };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

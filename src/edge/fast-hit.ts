// The fast path's answer to a parsed request: the handler's own steps (guard, target, route, lookup, conditionals)
// run on a FastRequest; a fresh hit (or a 304 to a conditional hit, RFC 9110 §13.2.2) is answered with the variant's
// preassembled head plus Age, status and CORS fields, byte for byte what node:http writes for it (a body only in the
// disk tier is read first: the answer is deferred until it is); anything else is declined to node:http.
import { STATUS_CODES } from 'node:http';
import type { BodyFile, StoredVariant } from '../storage/store.js';
import type { Limits } from '../http/limits.js';
import { checkRequestHead } from '../http/request-guard.js';
import { evaluateConditionals, notModifiedHeaders } from '../cache/policy/conditional.js';
import { ANSWER_STATUS, hitStatus } from '../observability/cache-status.js';
import { hasConditionals } from './respond.js';
import { resolveTarget, TargetRefusal } from './target.js';
import { lookupStep, routeStep } from './handler.js';
import type { EdgeContext, EdgeKey } from './context.js';
import type { CacheStore } from '../storage/store.js';
import type { Clock } from './clock.js';
import type { FastRequest } from './fast-parse.js';
import type { ZoneRuntime } from './zones.js';
import type { AccessRecord } from '../observability/access-log.js';
import { READ_WHOLE_MAX } from './respond.js';
import { giveReadBuffer, HEAD_ROOM, takeReadBuffer } from './read-buffers.js';

/**
 * A fast answer: `data`, the head with the body behind it (a body over COPY_BODY_MAX bytes is `body`, to write after
 * it); `written` is called once it is out (`complete` false: the connection failed first), for the access log.
 */
export interface FastAnswer { data: Buffer; body: Buffer | undefined; written: ((complete: boolean) => void) | undefined }

/** The connection a request came on: its peer's address (read only when needed) and a TLS connection's SNI name. */
export interface FastPeer {
  readonly remoteAddress?: string | undefined;
  readonly servername?: string | false | null | undefined;
}

/**
 * An answer that waits for a body read from the disk tier: `wait` calls `done` once, with the answer, or with undefined
 * when node:http is to answer the request after all (the read failed, or a purge named the variant meanwhile); nothing
 * of it has been written then. The connection answers nothing behind it meanwhile (pipelined answers keep their order).
 */
export interface FastDeferred { readonly wait: (done: (answer: FastAnswer | undefined) => void) => void }

/** Answers a request from the cache, or returns undefined: node:http is to handle it. */
export type FastHit = (req: FastRequest, peer: FastPeer) => FastAnswer | FastDeferred | undefined;

/** Bodies up to this size are copied behind the head into one buffer: one write(2) instead of a writev(2). */
const COPY_BODY_MAX = 16 * 1024;

/**
 * A variant's head in pieces, made once per variant (and again when its fields change on revalidation); a hit copies
 * `front`, its request id and `back` into its answer (the pieces made again only when what they hold changes: about
 * once a second), as bytes: no string is encoded per hit.
 */
interface HeadPrefix {
  /** The flatHeaders array it was made from: a revalidation replaces it. */
  readonly flat: readonly string[];
  /** Status line and stored field lines; undefined when node:http must write this variant (fields it treats itself). */
  readonly text: string | undefined;
  readonly hasDate: boolean;
  /** `text` and the Age, cf-cache-status and Cache-Status lines, for `frontAge` and `frontTtl`. */
  front: Buffer | undefined;
  frontAge: number;
  frontTtl: number;
  /** The CORS lines (`backDeco`), the Date line (`backDate`, unless stored) and the connection lines (`backKeepAlive`). */
  back: Buffer | undefined;
  backDeco: readonly string[] | undefined;
  backDate: string;
  backKeepAlive: boolean;
}

const ID_NAME = Buffer.from('x-request-id: ', 'latin1');

/** Bytes of a hit's head: its front piece, the request id line (when there is one) and its back piece. */
function headLength(front: Buffer, id: string | undefined, back: Buffer): number {
  return front.length + (id === undefined ? 0 : ID_NAME.length + id.length + 2) + back.length;
}

/** Writes a hit's head (front, request id line, back) at the start of `out`; returns where it ends. */
function writeHead(out: Buffer, front: Buffer, id: string | undefined, back: Buffer): number {
  out.set(front, 0);
  let at = front.length;
  if (id !== undefined) {
    out.set(ID_NAME, at);
    at += ID_NAME.length;
    // Request ids are visible ASCII (src/observability/request-id.ts): a byte a character.
    for (let k = 0; k < id.length; k++) out[at++] = id.charCodeAt(k);
    out[at++] = 13;
    out[at++] = 10;
  }
  out.set(back, at);
  return at + back.length;
}

// node:http's checks on what writeHead is given (validateHeaderName / validateHeaderValue).
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Fields node:http's writer treats itself (framing, connection): a variant carrying one is written by node:http. */
const WRITER_FIELDS: ReadonlySet<string> = new Set(['connection', 'transfer-encoding', 'keep-alive', 'expect', 'trailer', 'upgrade']);
/** Statuses node:http writes without a body whatever it is given. */
const BODYLESS: ReadonlySet<number> = new Set([204, 205, 304]);
const GUARD_OPTIONS = { fieldSyntaxChecked: true } as const;
const CLOSE_LINE = 'Connection: close\r\n\r\n';
const EMPTY = Buffer.alloc(0);

function makePrefix(v: StoredVariant): HeadPrefix {
  const flat = v.flatHeaders;
  const reason = STATUS_CODES[v.status];
  let hasDate = false;
  let lengths = 0;
  let ok = reason !== undefined && v.status >= 200 && v.status <= 599 && !BODYLESS.has(v.status) && flat.length % 2 === 0;
  let text = `HTTP/1.1 ${v.status} ${reason}\r\n`;
  for (let i = 0; ok && i < flat.length; i += 2) {
    const n = flat[i]!;
    const val = flat[i + 1]!;
    const lower = n.toLowerCase();
    if (!TOKEN.test(n) || BAD_VALUE.test(val) || WRITER_FIELDS.has(lower)) ok = false;
    else if (lower === 'date') hasDate = true;
    else if (lower === 'content-length') { lengths++; if (val !== String(v.bodyLength)) ok = false; }
    text += `${n}: ${val}\r\n`;
  }
  return { flat, text: ok && lengths === 1 ? text : undefined, hasDate, front: undefined, frontAge: -1, frontTtl: -1, back: undefined, backDeco: undefined, backDate: '', backKeepAlive: false };
}

/** node:http's Date value, made at most once a second. */
let dateText = '';
let dateUntil = 0;
function utcDate(): string {
  const now = Date.now();
  if (now >= dateUntil) { dateText = new Date(now).toUTCString(); dateUntil = now - (now % 1000) + 1000; }
  return dateText;
}

/**
 * Answer bytes are cut from one scratch slab, reused from its start once the listener says every answer cut from it
 * is written (handed to the kernel in full: answersWritten(true)); when a write still holds one, the slab is left to
 * that write and a new one is made. A hit thus allocates no ArrayBuffer while clients read their answers (external
 * memory made per request makes V8 run full mark-compacts: measured 4-5 per 100k hits with 1.4 KiB answers).
 */
const SCRATCH_BYTES = 64 * 1024;
let scratch: Buffer | undefined;
let scratchAt = 0;
function answerBuffer(size: number): Buffer {
  if (size > SCRATCH_BYTES >>> 2) return Buffer.allocUnsafe(size);
  if (scratch === undefined || scratchAt + size > SCRATCH_BYTES) { scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES); scratchAt = 0; }
  const b = scratch.subarray(scratchAt, scratchAt + size);
  scratchAt += size;
  return b;
}

/**
 * Called by the listener after writing the answers FastHit gave it (before any other answer is asked for): `out` is
 * whether the socket holds none of its bytes any more (nothing corked, nothing pending: writableLength 0). True lets
 * their bytes be reused; false leaves the slab to the writes that hold it.
 */
export function answersWritten(out: boolean): void {
  if (out) scratchAt = 0;
  else scratch = undefined;
}

/** Most request targets whose key is kept (src/edge/target.ts's work, done once per target and Host), and their longest. */
const KEY_MEMO_MAX = 2048;
const KEY_MEMO_CHARS = 128;

/**
 * One read of a body file that fast answers share: `refs` answers use `buf` (given back to the pool at 0), `room`: the
 * space in front of the body is free for one answer's head, `waiting`: called back once the read ends.
 */
interface SharedRead { readonly buf: Buffer; refs: number; room: boolean; waiting: ((err: Error | null) => void)[] }

function unref(r: SharedRead): void {
  if (--r.refs === 0) giveReadBuffer(r.buf);
}

export interface FastHitDeps {
  ctx: EdgeContext & { clock: Clock };
  /** The handler's own (guarded) store. */
  store: CacheStore;
  limits: Limits;
}

export function createFastHit({ ctx, store, limits }: FastHitDeps): FastHit {
  const { router, metrics, clock, gate, access } = ctx;
  const prefixes = new WeakMap<StoredVariant, HeadPrefix>();
  /** Disk-tier body files being read for fast answers: hits on one of them meanwhile share its read. */
  const reads = new Map<BodyFile, SharedRead>();
  const keepAliveLine = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(limits.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
  const HIT_CF = ANSWER_STATUS.hit.cf;

  /**
   * The key of a target and Host, kept while the zones are the same (a reload replaces them): parsed heads repeat the
   * same target and Host strings, so a hit makes no key and its object key is a string whose hash V8 already holds.
   * Shared by the requests of that target: the fast path reads its zone and object key only, never its selector.
   */
  const keys = new Map<string, { host: string | undefined; zones: readonly ZoneRuntime[]; key: EdgeKey }>();
  const keyOf = (url: string, host: string | undefined): EdgeKey | undefined => {
    const zones = router.zones;
    const memo = keys.get(url);
    if (memo !== undefined && memo.host === host && memo.zones === zones) return memo.key;
    const key = resolveTarget(url, host, router);
    if (key instanceof TargetRefusal) return undefined;
    // Short targets and hosts only (the parser's interned strings): the memo stays small whatever clients send.
    if (url.length > KEY_MEMO_CHARS || (host !== undefined && host.length > KEY_MEMO_CHARS)) return key;
    if (keys.size >= KEY_MEMO_MAX) keys.clear();
    keys.set(url, { host, zones, key });
    return key;
  };

  const prefixOf = (v: StoredVariant): HeadPrefix => {
    let p = prefixes.get(v);
    if (p === undefined || p.flat !== v.flatHeaders) { p = makePrefix(v); prefixes.set(v, p); }
    return p;
  };

  /** The edge fields of a hit, as answers.edgeFields writes them, and node:http's Date and Connection lines. */
  const tail = (req: FastRequest, hasDate: boolean, deco: readonly string[], age: number, ttl: number, id: string | undefined): string => {
    let s = `age: ${age}\r\ncf-cache-status: ${HIT_CF}\r\ncache-status: ${hitStatus(ttl)}\r\n`;
    if (id !== undefined) s += `x-request-id: ${id}\r\n`;
    for (let j = 0; j < deco.length; j += 2) s += `${deco[j]}: ${deco[j + 1]}\r\n`;
    if (!hasDate) s += `Date: ${utcDate()}\r\n`;
    return s + (req.keepAlive ? keepAliveLine : CLOSE_LINE);
  };

  /** The head up to the request id: remade when Age or the ttl changes (at most once a second while the variant is hit). */
  const frontOf = (p: HeadPrefix, age: number, ttl: number): Buffer => {
    if (p.front === undefined || p.frontAge !== age || p.frontTtl !== ttl) {
      p.front = Buffer.from(`${p.text!}age: ${age}\r\ncf-cache-status: ${HIT_CF}\r\ncache-status: ${hitStatus(ttl)}\r\n`, 'latin1');
      p.frontAge = age;
      p.frontTtl = ttl;
    }
    return p.front;
  };

  /** The head after the request id: remade when the CORS fields, the second (Date) or keep-alive change. */
  const backOf = (p: HeadPrefix, deco: readonly string[], keepAlive: boolean): Buffer => {
    const date = p.hasDate ? '' : utcDate();
    if (p.back === undefined || p.backDeco !== deco || p.backDate !== date || p.backKeepAlive !== keepAlive) {
      let s = '';
      for (let j = 0; j < deco.length; j += 2) s += `${deco[j]}: ${deco[j + 1]}\r\n`;
      if (!p.hasDate) s += `Date: ${date}\r\n`;
      p.back = Buffer.from(s + (keepAlive ? keepAliveLine : CLOSE_LINE), 'latin1');
      p.backDeco = deco;
      p.backDate = date;
      p.backKeepAlive = keepAlive;
    }
    return p.back;
  };

  return (req, peer) => {
    const started = performance.now();
    if (checkRequestHead(req, limits, GUARD_OPTIONS) !== undefined) return undefined;
    const h = req.headers;
    const target = keyOf(req.url, h.host);
    if (target === undefined) return undefined;
    const zone = target.zone;
    // RFC 9110 §15.5.20: SNI and Host leading to different zones is answered 421 by node:http's path (listener.ts).
    const servername = peer.servername;
    if (servername && router.match(servername.toLowerCase()) !== zone) return undefined;
    // Zones that redirect plain HTTP, or make compressed copies (the node:http path picks the representation).
    if (zone.zone.redirectHttp || zone.zone.compress?.enabled === true) return undefined;
    const route = routeStep(req.method, h, target);
    if (route.kind !== 'cache' || route.preflight) return undefined;
    if (h.range !== undefined) return undefined;
    const outcome = lookupStep(h, target, store, clock.now(), gate);
    if (outcome.kind !== 'hit') return undefined;
    const v = outcome.variant;
    // A variant whose fields are only on disk is node:http's to answer (a disk tier loads them asynchronously).
    if (v.hasFields === false) return undefined;
    // A body in memory is one Buffer; one only in the disk tier is read whole from its file (bodyFile.readInto), a
    // large one streamed by node:http.
    const file = v.body === undefined ? v.bodyFile : undefined;
    if (v.body === undefined ? file?.readInto === undefined || v.bodyLength > READ_WHOLE_MAX : !Buffer.isBuffer(v.body)) return undefined;
    const p = prefixOf(v);
    if (p.text === undefined) return undefined;
    const deco = zone.decorate(h.origin);
    // The access record, or only the request id when records are not written (no record made per hit then).
    let record: AccessRecord | undefined;
    let id: string | undefined;
    if (access?.isWriting === true) { record = access.fastRecord(req, peer.remoteAddress, zone, started); id = record.requestId; }
    else if (access !== undefined) id = access.fastId(req.headers, zone.trustedProxies.size > 0 ? peer.remoteAddress : undefined, zone);
    let body: Buffer | undefined;
    if (hasConditionals(h)) {
      const cond = evaluateConditionals(req.method, h, { status: v.status, headers: v.fieldMap });
      if (cond === 'precondition-failed') return undefined;
      if (cond === 'not-modified') {
        // As answerConditionals writes it: the 304's fields from the stored ones, then the edge fields.
        let head = 'HTTP/1.1 304 Not Modified\r\n';
        let hasDate = false;
        const nm = notModifiedHeaders(v.fieldMap);
        for (const k in nm) {
          const val = nm[k];
          if (val === undefined) continue;
          if (k === 'date') hasDate = true;
          if (Array.isArray(val)) for (const x of val) head += `${k}: ${x}\r\n`; else head += `${k}: ${val}\r\n`;
        }
        head += tail(req, hasDate, deco, outcome.age, outcome.ttl, id);
        count(zone, 304, 0, started);
        return { data: Buffer.from(head, 'latin1'), body: undefined, written: record && logged(record, 304, head.length) };
      }
    }
    if (file !== undefined && req.method !== 'HEAD' && v.bodyLength > 0) return fromDisk(zone, v, p, file, outcome.age, outcome.ttl, deco, req.keepAlive, id, record, started);
    body = req.method === 'HEAD' ? undefined : v.body ?? EMPTY;
    const bodyBytes = body === undefined ? 0 : body.length;
    count(zone, v.status, bodyBytes, started);
    // The same bytes as p.text + tail(...), written from the variant's cached pieces: nothing made per hit but the buffer.
    const front = frontOf(p, outcome.age, outcome.ttl);
    const back = backOf(p, deco, req.keepAlive);
    const headBytes = headLength(front, id, back);
    const inline = bodyBytes <= COPY_BODY_MAX;
    const data = answerBuffer(inline ? headBytes + bodyBytes : headBytes);
    const at = writeHead(data, front, id, back);
    if (inline && body !== undefined) data.set(body, at);
    return { data, body: inline ? undefined : body, written: record && logged(record, v.status, headBytes + bodyBytes) };
  };

  /**
   * A hit on a body only in the disk tier: its file is read whole into a pooled buffer, behind room for a head; the
   * first answer writes its head there (one write), hits on the same file while the read is in flight share it (their
   * heads apart: a writev). The buffer goes back to the pool once every answer sharing it is out. A purge that names
   * the variant while the file is read declines the request (node:http answers: a purged body is never served after
   * the purge's answer); so does a failed read (node:http's answer to it is a 503).
   */
  function fromDisk(zone: ZoneRuntime, v: StoredVariant, p: HeadPrefix, file: BodyFile, age: number, ttl: number, deco: readonly string[],
    keepAlive: boolean, id: string | undefined, record: AccessRecord | undefined, started: number): FastDeferred {
    const epoch = store.epoch();
    const length = v.bodyLength;
    return {
      wait(done) {
        let r = reads.get(file);
        if (r === undefined) {
          const read: SharedRead = { buf: takeReadBuffer(HEAD_ROOM + length + 1), refs: 0, room: true, waiting: [] };
          r = read;
          reads.set(file, read);
          file.readInto!(read.buf, HEAD_ROOM, (err) => {
            reads.delete(file);
            const waiting = read.waiting;
            read.waiting = [];
            for (const w of waiting) w(err);
          });
        }
        const read = r;
        read.refs++;
        read.waiting.push((err) => {
          if (err !== null || (store.epoch() !== epoch && store.purgedSince(v, epoch))) { unref(read); done(undefined); return; }
          count(zone, v.status, length, started);
          const front = frontOf(p, age, ttl);
          const back = backOf(p, deco, keepAlive);
          const headBytes = headLength(front, id, back);
          const inRoom = read.room && headBytes <= HEAD_ROOM;
          if (inRoom) read.room = false;
          const buf = read.buf;
          const head = inRoom ? buf.subarray(HEAD_ROOM - headBytes, HEAD_ROOM + length) : Buffer.allocUnsafe(headBytes);
          writeHead(head, front, id, back);
          const log = record && logged(record, v.status, headBytes + length);
          let out = false;
          done({
            data: head,
            body: inRoom ? undefined : buf.subarray(HEAD_ROOM, HEAD_ROOM + length),
            written: (complete) => {
              // Once only: a buffer given back early would be handed to another answer while this one is written.
              if (out) return;
              out = true;
              unref(read);
              log?.(complete);
            },
          });
        });
      },
    };
  }

  /** The access record's completion: the status and bytes (the head is latin1, a byte a character) once written. */
  function logged(record: AccessRecord, status: number, bytes: number): (complete: boolean) => void {
    record.cache = HIT_CF;
    return (complete) => access!.fastLogged(record, status, bytes, complete);
  }

  function count(zone: ZoneRuntime, status: number, bytes: number, started: number): void {
    zone.tally.cacheBytes += bytes;
    metrics.countAnswer(zone.meter, 'hit', status, started);
    const t = zone.tally.requests;
    t.set(HIT_CF, (t.get(HIT_CF) ?? 0) + 1);
  }

}

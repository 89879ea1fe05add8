// One origin fetch for the cache, shared by every request that collapses onto it (streamed to all, stored once).
// The flight returns what happened (its head, then the body to subscribers); the miss path decides what to answer.
import type { Readable } from 'node:stream';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { classifyOriginError, type OriginRequest, type OriginResponse } from '../origin/client.js';
import type { RedisTier } from '../storage/redis-tier.js';
import { lookupTier, tierInput } from './tier-step.js';
import { selectorOf, type HeaderValues } from '../cache/key.js';
import {
  decidePreflight, decideStore, fieldsToStrip, parseVary, normalizeVaryValue, refusalConcernsResource, updateStoredHeaders,
  selectedByValidators,
} from '../cache/policy/index.js';
import type { Freshness } from '../cache/policy/types.js';
import type { Clock } from './clock.js';
import type { EdgeKey } from './context.js';

export type FlightHead =
  /** A storable response: its body is buffered and shared with every subscriber. */
  | { kind: 'shared'; status: number; fields: [string, string][]; selector: string; keyNames: readonly string[] }
  /** Not shareable (not storable, or too large): only the request that started the flight may use it. */
  | { kind: 'private'; status: number; fields: [string, string][]; body: Readable; reason: string }
  /** The origin confirmed the stored variant (304 to our conditional request); it has been refreshed. */
  | { kind: 'not-modified'; variant: StoredVariant; status: number }
  /** The variant being revalidated was purged while we asked: the caller must fetch anew. */
  | { kind: 'gone' }
  /** Another node had it: taken from the shared tier into the local store. */
  | { kind: 'tier'; variant: StoredVariant };

/** What every flight of one edge shares. */
export interface FlightEnv {
  store: CacheStore;
  clock: Clock;
  maxObjectBytes: number;
  /** The shared cache tier (cluster.sharedCache): consulted before the origin, written through after. */
  tier?: RedisTier;
}

/** One fetch for the cache. */
export interface FlightRequest {
  key: EdgeKey;
  /** Forwarded request fields (conditionals and Range removed; validators added when revalidating). */
  headers: Record<string, string | string[]>;
  /** The client request fields that started it: selectors and storage rules (Authorization, Cookie) use them. */
  clientHeaders: HeaderValues;
  revalidating?: StoredVariant;
  /** Relays interim responses to the request that started the fetch (they come before any value could be returned). */
  interim?: OriginRequest['onInfo'];
}

/**
 * A client reading the shared body at its own pace: the flight writes while `write` returns true, then waits for the
 * client's drain. Memory is the fill's (bounded by maxObjectBytes), never a copy per client.
 */
export interface Sink {
  /** Takes one piece; false when the client cannot take more now. */
  write(b: Buffer): boolean;
  /** Calls `fn` once when the client can take more. */
  onDrain(fn: () => void): void;
  /** The whole body was written; `stored` is the variant the fill became (undefined when it was not stored). */
  end(stored: StoredVariant | undefined): void;
  fail(err: Error): void;
}

/** A request answered from the whole body (HEAD, Range): it waits for the fill and reads nothing meanwhile. */
export interface Waiter {
  /** The fill completed: its stored variant (if the store took it) and its body. */
  complete(stored: StoredVariant | undefined, body: Buffer): void;
  /** The body outgrew maxObjectBytes: there will be no whole body to answer from. */
  tooLarge(): void;
  fail(err: Error): void;
}

/** A client stalled past the flight's patience (typed, so the client side can tell it from an origin failure). */
export class StalledReaderError extends Error {
  readonly code = 'CLIENT_STALLED';
  constructor(ms: number) { super(`client took nothing for ${ms} ms while the origin waited for it`); this.name = 'StalledReaderError'; }
}

interface Reader {
  sink: Sink;
  /** Bytes written to this client. */
  offset: number;
  /** The next chunk of the flight's list to write (while the body is held as chunks). */
  index: number;
  /** Waiting for the client's drain. */
  blocked: boolean;
  /** `offset` when the stall timer was armed: no progress since then means stalled. */
  mark: number;
}

/** Past the fill (the body is no longer stored), how far the slowest client may fall behind before the origin is paused. */
const LAG_BYTES = 1024 * 1024;
/** Pieces written to a client from a whole body. */
const PIECE_BYTES = 64 * 1024;

export class Flight {
  readonly head: Promise<FlightHead>;
  /** The origin's response fields once it answered (for the CORS diagnostics of the request that started it). */
  originHeaders: HeaderValues | undefined;
  /** The store's purge epoch when the fetch started: a request after a later purge must not join it. */
  readonly startEpoch: number;
  stored: StoredVariant | undefined;
  /** False once the body outgrew the object limit (no longer a fill): late subscribers can no longer get all of it. */
  joinable = true;
  /** Settles when the body ended, failed (the error) or was abandoned; never rejects. */
  readonly settled: Promise<Error | undefined>;
  #settle!: (err: Error | undefined) => void;
  /** The body as received: every chunk while it is a fill; past it, only what the slowest client has still to take. */
  #chunks: Buffer[] = [];
  /** Bytes dropped from the front of #chunks (every client had them). */
  #dropped = 0;
  /** Bytes received. */
  #total = 0;
  /** The whole body once a fill ended: clients still reading take it from here. */
  #whole: Buffer | undefined;
  /** Content-Length the origin declared (204: 0), when it did. */
  #declared: number | undefined;
  #ended = false;
  #error: Error | undefined;
  #abandoned = false;
  #body: Readable | undefined;
  #paused = false;
  #stallTimer: NodeJS.Timeout | undefined;
  readonly #readers = new Map<Sink, Reader>();
  readonly #waiters = new Set<Waiter>();
  readonly #env: FlightEnv;
  readonly #req: FlightRequest;

  constructor(env: FlightEnv, req: FlightRequest) {
    this.#env = env;
    this.#req = req;
    this.startEpoch = env.store.epoch();
    this.settled = new Promise((r) => { this.#settle = r; });
    this.head = this.#run();
    this.head.catch(() => {});
  }

  /**
   * Streams the shared body to `sink` from its first byte, at the client's pace, then end (with the stored variant,
   * if any) or fail. A flight past its fill has dropped what every client had: it refuses new subscribers.
   */
  subscribe(sink: Sink): void {
    if (this.#error) { sink.fail(this.#error); return; }
    if (this.#dropped > 0 || this.#abandoned) { sink.fail(new Error('the shared body is no longer complete')); return; }
    const r: Reader = { sink, offset: 0, index: 0, blocked: false, mark: 0 };
    this.#readers.set(sink, r);
    this.#feed(r);
  }

  /** The client left: past the fill, the last one leaving ends the origin download (nothing can be stored). */
  unsubscribe(sink: Sink): void {
    if (!this.#readers.delete(sink)) return;
    this.#balance();
  }

  /** Waits for the whole body (within maxObjectBytes) without reading it. */
  wait(w: Waiter): void {
    if (this.#error) w.fail(this.#error);
    else if (this.#whole) w.complete(this.stored, this.#whole);
    else if (!this.joinable || this.#abandoned) w.tooLarge();
    else this.#waiters.add(w);
  }

  unwait(w: Waiter): void { this.#waiters.delete(w); }

  /** The origin failed mid-body: nobody may be sent a head for it any more. */
  get failed(): Error | undefined { return this.#error; }

  /**
   * Whether an answer whose head goes out now may say `stored` (RFC 9211 §2.5): stored already, or a body of declared
   * length within maxObjectBytes still on its way. A body of unknown length may yet outgrow the limit: not claimed.
   */
  get mayStore(): boolean {
    if (this.stored) return true;
    return !this.#ended && !this.#error && !this.#abandoned && this.joinable && this.#declared !== undefined;
  }

  /** Bytes this flight holds for its clients and its fill (for tests and diagnostics). */
  get heldBytes(): number {
    if (this.#whole) return this.#whole.length;
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    return n;
  }

  /** Writes to one client what it has not had, until it blocks; ends it once it has the whole body. */
  #feed(r: Reader): void {
    while (!r.blocked) {
      const piece = this.#next(r);
      if (piece === undefined) break;
      r.offset += piece.length;
      if (!r.sink.write(piece)) {
        r.blocked = true;
        r.sink.onDrain(() => {
          r.blocked = false;
          if (this.#readers.get(r.sink) === r) { this.#feed(r); this.#balance(); }
        });
      }
    }
    if (!r.blocked && this.#ended && r.offset === this.#total && this.#readers.get(r.sink) === r) {
      this.#readers.delete(r.sink);
      r.sink.end(this.stored);
    }
  }

  #next(r: Reader): Buffer | undefined {
    if (this.#whole) return r.offset < this.#whole.length ? this.#whole.subarray(r.offset, r.offset + PIECE_BYTES) : undefined;
    const c = this.#chunks[r.index];
    if (c !== undefined) r.index++;
    return c;
  }

  /**
   * Past the fill: drops what every client has had, pauses the origin while the slowest client is more than
   * LAG_BYTES behind (resumes at half), and ends the download when no client is left. A fill is never paused.
   */
  #balance(): void {
    if (this.joinable || this.#whole || this.#error || this.#abandoned) return;
    if (this.#readers.size === 0) {
      if (!this.#ended) this.#abandon();
      this.#chunks = [];
      return;
    }
    let min = Infinity;
    for (const r of this.#readers.values()) if (r.index < min) min = r.index;
    if (min > 0) {
      for (let i = 0; i < min; i++) this.#dropped += this.#chunks[i]!.length;
      this.#chunks.splice(0, min);
      for (const r of this.#readers.values()) r.index -= min;
    }
    if (this.#ended || !this.#body) return;
    const behind = this.#total - this.#dropped;
    if (!this.#paused && behind > LAG_BYTES) {
      this.#paused = true;
      this.#body.pause();
      this.#armStallTimer();
    } else if (this.#paused && behind <= LAG_BYTES / 2) {
      this.#paused = false;
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
      this.#body.resume();
    }
  }

  /**
   * While the origin waits for the slowest clients, one that takes nothing for the zone's body timeout is detached,
   * as an origin that sends nothing for it would be: a client that stopped reading cannot hold the download forever.
   */
  #armStallTimer(): void {
    const ms = this.#req.key.zone.zone.timeouts.bodyMs;
    for (const r of this.#readers.values()) r.mark = r.offset;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      for (const r of [...this.#readers.values()]) {
        if (r.blocked && r.offset === r.mark) { this.#readers.delete(r.sink); r.sink.fail(new StalledReaderError(ms)); }
      }
      const wasPaused = this.#paused;
      this.#balance();
      if (wasPaused && this.#paused && !this.#stallTimer) this.#armStallTimer();
    }, ms);
    this.#stallTimer.unref();
  }

  /** Nothing can be stored and nobody reads: the origin download is ended. */
  #abandon(): void {
    this.#abandoned = true;
    clearTimeout(this.#stallTimer);
    this.#chunks = [];
    this.#releaseLock();
    if (this.#body) { this.#body.on('error', () => {}); this.#body.destroy(); }
    this.#settle(undefined);
  }

  /** The body outgrew maxObjectBytes: no longer a fill; those waiting for a whole body are told. */
  #overflow(): void {
    this.joinable = false;
    for (const w of this.#waiters) w.tooLarge();
    this.#waiters.clear();
  }

  async #run(): Promise<FlightHead> {
    const { store, tier, clock } = this.#env;
    const { key, revalidating } = this.#req;
    const epoch = this.startEpoch;
    if (tier && !revalidating && !key.isPreflight) {
      const found = await lookupTier(tier, store, key, this.#req.clientHeaders, epoch, key.zone.zone.timeouts.headersMs, clock);
      this.#lockKey = found.lockKey;
      this.#fence = found.fence;
      if (found.variant) { this.#releaseLock(); return { kind: 'tier', variant: found.variant }; }
    } else if (tier) this.#fence = await tier.fence();
    const requestTime = clock.now();
    let res;
    try {
      res = await key.zone.origin.request({ method: key.isPreflight ? 'OPTIONS' : 'GET', path: key.target, headers: this.#req.headers, onInfo: this.#req.interim });
    } catch (err) {
      this.#releaseLock();
      throw classifyOriginError(err);
    }
    if (!this.#lockKey) return this.#answer(res, epoch, requestTime);
    try { return this.#answer(res, epoch, requestTime); } finally {
      // A shared answer holds the lock until its body is stored (and written through); any other lets go now.
      if (!this.#pumping) this.#releaseLock();
    }
  }

  #lockKey: string | undefined;
  /** The tier's purge generation when this fetch started: its write-through is refused if a purge since covers it. */
  #fence: number | undefined;
  #pumping = false;
  #releaseLock(): void {
    if (this.#lockKey && this.#env.tier) void this.#env.tier.release(this.#lockKey);
    this.#lockKey = undefined;
  }

  #answer(res: OriginResponse, epoch: number, requestTime: number): FlightHead {
    const { store, tier, clock, maxObjectBytes } = this.#env;
    const { key, revalidating, clientHeaders } = this.#req;
    const zone = key.zone;
    const responseTime = clock.now();
    const req = { method: 'GET', headers: clientHeaders };
    this.originHeaders = res.headers;

    // RFC 9111 §4.3.3/§4.3.4: a 304 to our validators freshens the stored response.
    if (revalidating && res.status === 304) {
      res.body.resume();
      // Purged (or any purge ran) while we asked: the 304 may vouch for what the purge removed; refetch in full.
      if (store.epoch() !== epoch || !store.variantsOf(revalidating.objectKey).includes(revalidating)) return { kind: 'gone' };
      // §4.3.4: a 304 whose validators name another response does not freshen this one.
      if (!selectedByValidators(revalidating.fieldMap, res.headers, responseTime)) return { kind: 'gone' };
      const merged = updateStoredHeaders(revalidating.fieldMap, res.headers);
      const fields = zone.clientFields(merged).filter(([n]) => n !== 'age');
      const decision = decideStore(req, { status: revalidating.status, headers: merged }, requestTime, responseTime, zone.policy);
      // Not storable because of this request (its no-store, its credentials): the stored response stays as it was.
      if (!decision.storable && !refusalConcernsResource(decision.reason, revalidating.status, req)) return { kind: 'not-modified', variant: revalidating, status: 304 };
      const freshness: Freshness = decision.storable ? decision.freshness : { ...revalidating.freshness, lifetime: 0, responseTime, correctedInitialAge: 0 };
      store.refresh(revalidating, withLength(fields, revalidating.body.length, revalidating.status), freshness);
      if (tier && this.#fence !== undefined) void tier.put(tierInput(revalidating), this.#fence);
      return { kind: 'not-modified', variant: revalidating, status: 304 };
    }

    const fields = zone.clientFields(res.headers);
    // A preflight answer has its own storage rule; every other answer RFC 9111's.
    const decision = key.isPreflight
      ? decidePreflight(res.status, res.headers, requestTime, responseTime)
      : decideStore(req, { status: res.status, headers: res.headers }, requestTime, responseTime, zone.policy);
    const vary = parseVary(res.headers.vary);
    const declared = Number(res.headers['content-length']);
    if (res.status === 204) this.#declared = 0;
    else if (res.headers['content-length'] !== undefined && Number.isSafeInteger(declared)) this.#declared = declared;
    let reason = decision.storable ? '' : decision.reason;
    if (decision.storable && vary === '*') reason = 'vary-star';
    if (decision.storable && declared > maxObjectBytes) reason = 'too-large';
    if (reason) {
      // A fresh non-storable answer for the URL supersedes what we held, when it says so of the resource; never when
      // this request's own directives or credentials explain it (storable.ts refusalConcernsResource).
      if (revalidating && refusalConcernsResource(reason, res.status, req)) store.remove(revalidating);
      return { kind: 'private', status: res.status, fields, body: res.body, reason };
    }

    // With edge-owned CORS the origin's Vary: Origin no longer splits the cache (the edge adds its own Vary).
    const varyNames = zone.cors ? (vary as string[]).filter((n) => n !== 'origin') : (vary as string[]);
    const keyNames = mergeNames(key.keyNames, varyNames);
    // The request's selector is the key's own (made once per request) unless the response's Vary adds names.
    const selector = keyNames === key.keyNames ? key.selector(clientHeaders, normalizeVaryValue) : selectorOf(keyNames, clientHeaders, normalizeVaryValue);
    const strip = fieldsToStrip({ status: res.status, headers: res.headers });
    // Age is not stored: it is computed on every use (RFC 9111 §4.2.3, §5.1).
    const storedFields = fields.filter(([n]) => n !== 'age' && !strip.includes(n));
    const tags = parseTags(res.headers['cache-tag']);
    const freshness = (decision as { freshness: Freshness }).freshness;
    this.#pump(res.body, (body) => {
      const v = store.insert({
        zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: key.objectKey, keyNames, selector, status: res.status,
        headers: withLength(storedFields, body.length, res.status), body, freshness, tags, maxVariants: zone.zone.cacheKey.maxVariants,
      }, epoch);
      // Written through only when stored here: the local purge-epoch check keeps purged content out of the tier.
      if (v && tier && this.#fence !== undefined) void tier.put(tierInput(v), this.#fence);
      return v;
    });
    return { kind: 'shared', status: res.status, fields, selector, keyNames };
  }

  #pump(body: Readable, store: (body: Buffer) => StoredVariant | undefined): void {
    this.#pumping = true;
    this.#body = body;
    const max = this.#env.maxObjectBytes;
    body.on('data', (chunk: Buffer) => {
      if (this.#abandoned) return;
      this.#total += chunk.length;
      this.#chunks.push(chunk);
      if (this.joinable && this.#total > max) this.#overflow();
      for (const r of this.#readers.values()) if (!r.blocked) this.#feed(r);
      this.#balance();
    });
    body.on('end', () => {
      if (this.#abandoned) return;
      // Stored before the last byte reaches any client, so the next request after a complete response is a HIT.
      // A store that fails stores nothing (the edge's guarded store counts and logs it); this guard only keeps a throw
      // out of the stream's event handler: the answer goes out either way.
      if (this.joinable) {
        const whole = ownedCopy(this.#chunks, this.#total);
        try { this.stored = store(whole); } catch { this.stored = undefined; }
        // Clients still reading take the stored body (one copy) rather than the chunks.
        this.#whole = this.stored?.body.length === whole.length ? this.stored.body : whole;
        this.#chunks = [];
      }
      this.#ended = true;
      this.#releaseLock();
      clearTimeout(this.#stallTimer);
      for (const w of this.#waiters) w.complete(this.stored, this.#whole!);
      this.#waiters.clear();
      for (const r of [...this.#readers.values()]) this.#feed(r);
      this.#settle(undefined);
    });
    body.on('error', (err) => {
      if (this.#abandoned) return;
      const e = classifyOriginError(err);
      this.#error = e;
      this.#releaseLock();
      clearTimeout(this.#stallTimer);
      this.joinable = false;
      this.#chunks = [];
      for (const r of this.#readers.values()) r.sink.fail(e);
      this.#readers.clear();
      for (const w of this.#waiters) w.fail(e);
      this.#waiters.clear();
      this.#settle(e);
    });
  }
}

/**
 * The body in one buffer of exactly its size, owned by the cache: socket reads arrive as views into larger (up to
 * 64 KiB) buffers, and holding such a view would pin the whole buffer for as long as the entry lives.
 */
function ownedCopy(chunks: readonly Buffer[], length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const c of chunks) offset += c.copy(out, offset);
  return out;
}

/** Response fields for a complete stored body: its own Content-Length (none on 1xx/204, RFC 9110 §8.6). */
export function withLength(fields: [string, string][], length: number, status: number): [string, string][] {
  const out = fields.filter(([n]) => n !== 'content-length');
  if (status !== 204 && status >= 200) out.push(['content-length', String(length)]);
  return out;
}

function mergeNames(keyHeaders: readonly string[], vary: readonly string[]): readonly string[] {
  if (vary.length === 0) return keyHeaders;
  const extra = vary.filter((n) => !keyHeaders.includes(n));
  return extra.length === 0 ? keyHeaders : [...keyHeaders, ...extra];
}

/** `Cache-Tag`: comma-separated, trimmed, case-insensitive (Cloudflare's rules). */
export function parseTags(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const out = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const t = part.trim().toLowerCase();
    if (t && t.length <= 1024) out.add(t);
  }
  return [...out];
}

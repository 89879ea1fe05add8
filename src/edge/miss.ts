// The miss path: one fetch per collapse key (Varnish's waiting list), then what the flight returned decides the answer:
// stream it, serve it whole, serve the stale one in its place, or fetch alone. Background revalidation lives here too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { currentAge, normalizeVaryValue, staleOnError, validatorsFor } from '../cache/policy/index.js';
import { selectorOf } from '../cache/key.js';
import { answerStatus, notStoredKind, type AnswerKind, type CacheStatusParts, type FwdReason } from '../observability/cache-status.js';
import { classifyOriginError } from '../origin/client.js';
import { Flight, withLength, type FlightEnv, type FlightHead } from './flight.js';
import { SharedBody, type Sink, type Waiter } from './shared-body.js';
import type { FileBody } from './file-body.js';
import { answerConditionals, flatFields, hasConditionals, sendText, serveComplete, type Servable } from './respond.js';
import { discard, relayInterim, type Answers } from './answers.js';
import { forwardFields, type Diagnose } from './origin-fields.js';
import type { Pass } from './pass.js';
import type { ZoneRuntime } from './zones.js';
import type { EdgeContext, EdgeKey } from './context.js';
import { noteOrigin } from '../observability/access-log.js';
import { rangeFromFill } from './range-fill.js';
import { createRangeMiss } from './range-miss.js';

/** A fetch for the cache: `stale` is the stored variant being revalidated (absent on a miss). */
export interface FetchPlan {
  stale?: StoredVariant;
  /** The lookup allowed `stale` to answer if the origin fails (stale-on-error.ts). */
  staleIfError: boolean;
  fwd: FwdReason;
}

export interface MissPath {
  /** Miss or revalidation: fetch (collapsed with identical requests), then serve what came back. */
  fetchAndServe(req: IncomingMessage, res: ServerResponse, key: EdgeKey, plan: FetchPlan): Promise<void>;
  /** A background revalidation (RFC 5861 §3 stale-while-revalidate): nobody waits for it. */
  revalidateInBackground(req: IncomingMessage, key: EdgeKey, v: StoredVariant): void;
}

type SharedHead = Extract<FlightHead, { kind: 'shared' }>;

export function createMissPath(ctx: EdgeContext, env: FlightEnv, answers: Answers, pass: Pass, diagnose: Diagnose): MissPath {
  const flights = new Map<string, Flight>();
  const { metrics, logger } = ctx;
  const store: CacheStore = env.store;
  const countOriginError = (err: unknown): void => metrics.originErrors.inc({ code: classifyOriginError(err).code });
  const ranges = createRangeMiss({ ...ctx, clock: env.clock, maxObjectBytes: env.maxObjectBytes }, store, answers, {
    whole: (req, res, key, fwd) => { fetchAndServe(req, res, key, { staleIfError: false, fwd }, true).catch((err) => answers.internalError(res, err)); },
    filling: (req, key) => flights.get(key.collapseKey(req.headers, normalizeVaryValue))?.startEpoch === store.epoch(),
  });

  function startFlight(req: IncomingMessage, key: EdgeKey, revalidating: StoredVariant | undefined, collapseKey: string | undefined, res?: ServerResponse): Flight {
    const headers = forwardFields(req, key, true);
    if (revalidating) Object.assign(headers, validatorsFor(revalidating.fieldMap, env.clock.now()));
    metrics.countOriginFetch(revalidating ? 'revalidate' : 'miss');
    // When the flight is over (its head, or its shared body, settled): an origin failure before or during the body is
    // counted once, whoever waits for it, and later requests no longer join it.
    const onSettled = (err: unknown): void => {
      if (err) countOriginError(err);
      if (collapseKey !== undefined && flights.get(collapseKey) === flight) flights.delete(collapseKey);
    };
    // (Never called before the constructor returns: the head is awaited at least once.)
    const flight: Flight = new Flight(env, { key, headers, clientHeaders: req.headers, revalidating, interim: res ? relayInterim(res) : undefined, onSettled });
    if (collapseKey !== undefined) flights.set(collapseKey, flight);
    return flight;
  }

  function revalidateInBackground(req: IncomingMessage, key: EdgeKey, v: StoredVariant): void {
    const collapseKey = key.backgroundKey(v.id);
    if (flights.has(collapseKey)) return;
    const flight = startFlight(req, key, v, collapseKey);
    flight.head.then((h) => {
      if (flight.originHeaders) diagnose(req, key, flight.originHeaders);
      // Nobody waits for an answer that cannot be stored (the stale copy was removed): its body is not downloaded.
      if (h.kind === 'private') discard(h.body);
    }, (err) => logger.warn({ err: String(err), url: key.target }, 'background revalidation failed'));
  }

  async function fetchAndServe(req: IncomingMessage, res: ServerResponse, key: EdgeKey, plan: FetchPlan, retried = false): Promise<void> {
    const { stale, fwd } = plan;
    // Ranges outside the whole-object rule, and requests stored pieces answer (src/edge/range-miss.ts).
    if (stale === undefined && !retried && ranges.take(req, res, key, fwd)) return;
    const collapseKey = key.collapseKey(req.headers, normalizeVaryValue, stale?.id);
    let flight = flights.get(collapseKey);
    // A fetch that began before a purge answered may carry purged content: later requests start their own.
    if (flight && flight.startEpoch !== store.epoch()) flight = undefined;
    const collapsed = flight !== undefined;
    flight ??= startFlight(req, key, stale, collapseKey, res);
    // Until this request subscribes, waits or leaves, the shared body is not given up for want of readers.
    const shared = flight.body instanceof SharedBody ? flight.body : undefined;
    shared?.expect();
    try {
      await serveFlight(req, res, key, plan, retried, flight, collapsed);
    } finally {
      shared?.arrived();
    }
  }

  /** Answers one request from the flight it started or joined (`collapsed`), once the origin's head is in. */
  async function serveFlight(req: IncomingMessage, res: ServerResponse, key: EdgeKey, plan: FetchPlan, retried: boolean, flight: Flight, collapsed: boolean): Promise<void> {
    const { stale, staleIfError, fwd } = plan;
    let head: FlightHead;
    try {
      head = await flight.head;
    } catch (err) {
      noteOrigin(req, undefined, flight.originMs);
      const code = classifyOriginError(err).code;
      const why = stale && staleOnError(stale, staleIfError, { disconnected: code === 'ORIGIN_UNREACHABLE' || code === 'ORIGIN_TIMEOUT' });
      if (stale && why) return answers.stored(req, res, key.zone, stale, 'stale', { detail: why });
      return answers.originFailed(res, err, key.zone);
    }
    noteOrigin(req, flight.originStatus, flight.originMs);
    if (!collapsed && flight.originHeaders) diagnose(req, key, flight.originHeaders);
    if (res.destroyed) {
      // The client left while the origin answered: an unstorable body is nobody's (a shared one is the fill's to decide).
      if (head.kind === 'private') discard(head.body);
      return;
    }
    const joined = collapsed || undefined;
    switch (head.kind) {
      case 'gone':
        if (retried) return sendText(res, 503, 'edgecache: the cached response was purged during revalidation; retry');
        return fetchAndServe(req, res, key, { staleIfError: false, fwd: 'miss' }, true);
      case 'tier': {
        const v = head.variant;
        if (selectorOf(v.keyNames, req.headers, normalizeVaryValue) !== v.selector) return fetchAlone(req, res, key, fwd);
        return answers.stored(req, res, key.zone, v, 'tier-hit', { ttl: v.freshness.lifetime - currentAge(v.freshness, env.clock.now()), collapsed: joined });
      }
      case 'not-modified':
        return answers.stored(req, res, key.zone, head.variant, 'revalidated', { fwd, fwdStatus: 304, collapsed: joined });
      case 'private': {
        if (collapsed) return pass(req, res, key, notStoredKind(head.reason), fwd, head.reason);
        const why = stale && staleOnError(stale, staleIfError, { status: head.status });
        if (stale && why) {
          discard(head.body);
          return answers.stored(req, res, key.zone, stale, 'stale', { fwdStatus: head.status, detail: why });
        }
        return answers.relay(req, res, key, head, notStoredKind(head.reason), { fwd, fwdStatus: head.status, detail: head.reason });
      }
      case 'shared': {
        // Joined a flight for the same key headers whose response varies on more (another Vary value), or whose body
        // outgrew the limit: this request needs its own fetch. The request that started it reads it from its first byte.
        if (collapsed && (!flight.body.joinable || (head.keyNames !== key.keyNames && selectorOf(head.keyNames, req.headers, normalizeVaryValue) !== head.selector))) {
          return fetchAlone(req, res, key, fwd);
        }
        const why = stale && staleOnError(stale, staleIfError, { status: head.status });
        if (stale && why) return answers.stored(req, res, key.zone, stale, 'stale', { fwdStatus: head.status, detail: why });
        return streamOrWait(req, res, key, flight, head, stale ? 'expired' : 'miss', { fwd, fwdStatus: head.status, collapsed: joined });
      }
    }
  }

  /** An uncollapsed fetch for the cache (a Vary mismatch with the flight it joined). */
  async function fetchAlone(req: IncomingMessage, res: ServerResponse, key: EdgeKey, fwd: FwdReason): Promise<void> {
    const flight = startFlight(req, key, undefined, undefined, res);
    let head: FlightHead;
    try { head = await flight.head; } catch (err) { noteOrigin(req, undefined, flight.originMs); return answers.originFailed(res, err, key.zone); }
    noteOrigin(req, flight.originStatus, flight.originMs);
    if (flight.originHeaders) diagnose(req, key, flight.originHeaders);
    if (head.kind === 'shared') return streamOrWait(req, res, key, flight, head, 'miss', { fwd, fwdStatus: head.status });
    if (head.kind === 'private') return answers.relay(req, res, key, head, notStoredKind(head.reason), { fwd, fwdStatus: head.status, detail: head.reason });
    if (head.kind === 'tier') return answers.stored(req, res, key.zone, head.variant, 'tier-hit');
    return sendText(res, 502, 'edgecache: unexpected origin answer');
  }

  /**
   * Answers a request from a shared fetch without holding more than the fill does. Conditionals are judged on the
   * origin's head (RFC 9110 §13.2.2 needs only its validators); a plain GET, or one whose conditions did not hold,
   * streams along at its own pace; a Range streams its bytes from the fill when the length is declared (range-fill.ts);
   * HEAD, and a Range of unknown length, wait for the fill and are answered from its body (RFC 9110 §14).
   * A body that outgrows maxObjectBytes is never held whole: HEAD then gets the origin's head without a body, and
   * Range is forwarded to the origin as a pass (its own fetch, so the origin answers the range itself; §14.2 lets a
   * cache ignore Range, but a 200 of an unbounded body would be worse for the client).
   */
  function streamOrWait(req: IncomingMessage, res: ServerResponse, key: EdgeKey, flight: Flight, head: SharedHead, kind: AnswerKind, own: CacheStatusParts): void {
    if (flight.body.failed) return answers.originFailed(res, flight.body.failed, key.zone);
    // Cache-Status says `stored` only when the head going out now can know it (RFC 9211 §2.5): see Flight.mayStore.
    const edgeNow = (): string[] => answers.edgeFields(req, key.zone, kind, fetchedStatus(kind, own, flight.body.mayStore));
    const h = req.headers;
    if (hasConditionals(h) && answerConditionals(req, res, head.status, fieldMapOf(head.fields), edgeNow())) {
      answers.done(res, kind, key.zone);
      return;
    }
    if (req.method === 'GET') {
      if (h.range === undefined) return stream(res, key.zone, flight, head, kind, edgeNow);
      // A range is answered from the fill as its bytes arrive (src/edge/range-fill.ts).
      const fields = answers.compression.missFields(key.zone.zone, head.status, head.fields);
      const r = rangeFromFill(req, res, flight.body, head.status, fields, edgeNow, (err) => answers.originFailed(res, err, key.zone), env.clock.now());
      if (r === 'full') return stream(res, key.zone, flight, head, kind, edgeNow);
      if (r === 'answered') return answers.done(res, kind, key.zone);
    }
    const w: Waiter = {
      complete: (stored, body) => {
        if (res.destroyed) return;
        // A fill streamed to disk that the store then refused: no body to answer from, so the origin answers it.
        if (!stored && !body) return pass(req, res, key, 'dynamic', own.fwd ?? 'miss', 'not-stored');
        const status = answerStatus(kind, { ...own, stored: stored !== undefined });
        const s: Servable = stored ? answers.compression.represent(req, key.zone.zone, stored) : {
          status: head.status, flatHeaders: flatFields(withLength(head.fields, body!.length, head.status), []), fieldMap: fieldMapOf(head.fields), body, bodyLength: body!.length,
        };
        serveComplete(req, res, s, answers.edgeFields(req, key.zone, kind, status, stored ? String(currentAge(stored.freshness, env.clock.now())) : undefined));
        answers.done(res, kind, key.zone);
      },
      tooLarge: () => {
        if (res.destroyed) return;
        const parts = { fwd: own.fwd, fwdStatus: head.status, detail: 'too-large' };
        if (req.method !== 'HEAD') return pass(req, res, key, 'dynamic', own.fwd ?? 'miss', 'too-large');
        res.writeHead(head.status, flatFields(head.fields, answers.edgeFields(req, key.zone, 'dynamic', answerStatus('dynamic', parts))));
        res.end();
        answers.done(res, 'dynamic', key.zone);
      },
      fail: (err) => answers.originFailed(res, err, key.zone),
    };
    res.on('close', () => flight.body.unwait(w));
    flight.body.wait(w);
  }

  /** Streams the shared body to one client with backpressure; the head goes out with the first body bytes. */
  function stream(res: ServerResponse, zone: ZoneRuntime, flight: Flight, head: SharedHead, kind: AnswerKind, edgeNow: () => string[]): void {
    const sink = new ClientStream(res, zone, flight.body, head, edgeNow, answers);
    flight.body.subscribe(sink);
    // A body already complete was written whole within subscribe (the usual small miss): nothing left to leave.
    if (!sink.finished) res.on('close', () => flight.body.unsubscribe(sink));
    answers.done(res, kind, zone);
  }

  return { fetchAndServe: (req, res, key, plan) => fetchAndServe(req, res, key, plan), revalidateInBackground };
}

/** One client reading a shared body (a Sink): one object per client, its state in fields rather than closures. */
class ClientStream implements Sink {
  /** Whether the head went out. An origin that fails before any byte arrives gets an error answer, never a head and a bare close. */
  #started = false;
  /** end or finish was called: the client has the whole body. */
  finished = false;
  /** A first piece held for the next turn (see write), and the drain callback waiting for it. */
  #held: Buffer | undefined;
  #drained: (() => void) | undefined;

  constructor(
    readonly res: ServerResponse,
    readonly zone: ZoneRuntime,
    readonly body: SharedBody | FileBody,
    readonly head: SharedHead,
    readonly edgeNow: () => string[],
    readonly answers: Answers,
  ) {}

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const { head } = this;
    this.res.writeHead(head.status, flatFields(this.answers.compression.missFields(this.zone.zone, head.status, head.fields), this.edgeNow()));
  }

  write(b: Buffer): boolean {
    // A body of unknown length may still end within this turn of the event loop (a small one often arrives with its
    // end in one read): the first piece waits for the next turn, so that such an answer can truthfully say `stored`.
    if (!this.#started && this.body.joinable && !this.body.mayStore) {
      this.#held = b;
      setImmediate(releaseHeld, this);
      return false;
    }
    this.#start();
    return this.res.write(b);
  }

  /** The held first piece goes out (next turn). */
  release(): void {
    const res = this.res;
    if (res.destroyed) return;
    this.#start();
    const ok = res.write(this.#held!);
    this.#held = undefined;
    const fn = this.#drained!;
    this.#drained = undefined;
    if (ok) fn(); else res.once('drain', fn);
  }

  onDrain(fn: () => void): void {
    if (this.#held) this.#drained = fn; else this.res.once('drain', fn);
  }

  end(): void {
    this.finished = true;
    this.#start();
    this.res.end();
  }

  finish(b: Buffer): void {
    this.finished = true;
    this.#start();
    this.res.end(b);
  }

  fail(err: Error): void {
    if (this.#started) this.res.destroy(); else this.answers.originFailed(this.res, err, this.zone);
  }
}

const releaseHeld = (s: ClientStream): void => s.release();


/**
 * Cache-Status members of answers fetched for the cache, made once per (kind, fwd, fwd-status, stored, collapsed): every
 * miss writes one, and they repeat. Others (a detail or ttl of their own) are made each time.
 */
const FETCHED_STATUS = new Map<number, string>();
const FWD_INDEX: Readonly<Record<FwdReason, number>> = { bypass: 1, method: 2, 'uri-miss': 3, 'vary-miss': 4, miss: 5, request: 6, stale: 7, partial: 8 };

function fetchedStatus(kind: AnswerKind, own: CacheStatusParts, stored: boolean): string {
  const status = own.fwdStatus;
  if ((kind !== 'miss' && kind !== 'expired') || own.detail !== undefined || own.ttl !== undefined || own.hit !== undefined ||
      status === undefined || !Number.isInteger(status) || status < 100 || status > 999) {
    return answerStatus(kind, { ...own, stored });
  }
  const id = ((((status * 2 + (kind === 'miss' ? 1 : 0)) * 16 + (own.fwd === undefined ? 0 : FWD_INDEX[own.fwd])) * 2 + (stored ? 1 : 0)) * 2) + (own.collapsed ? 1 : 0);
  let s = FETCHED_STATUS.get(id);
  if (s === undefined) {
    s = answerStatus(kind, { ...own, stored });
    FETCHED_STATUS.set(id, s);
  }
  return s;
}

/** Response fields by name, as conditionals and ranges read them (prototype-free: a field may be named `__proto__`). */
function fieldMapOf(fields: [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [n, v] of fields) {
    const had = out[n];
    out[n] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

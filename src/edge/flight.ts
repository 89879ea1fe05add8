// One origin fetch for the cache, shared by every request that collapses onto it (streamed to all, stored once).
// The flight returns what happened (its head, then the body to subscribers); the miss path decides what to answer.
import type { Readable } from 'node:stream';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { classifyOriginError, type OriginFetch, type OriginRequest } from '../origin/client.js';
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
import { SharedBody } from './shared-body.js';
import { FileBody } from './file-body.js';
import { HEADROOM_BODY_BYTES, holdHeadroom } from './heap-growth.js';

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
  /**
   * Called once when the flight is over: its head failed (the error), its head was not a shared body (undefined), or
   * its shared body ended, failed (the error) or was abandoned. A direct callback: no promise bookkeeping per miss.
   */
  onSettled?: (err: unknown) => void;
}

export class Flight {
  readonly head: Promise<FlightHead>;
  /** The origin's response fields once it answered (for the CORS diagnostics of the request that started it). */
  originHeaders: HeaderValues | undefined;
  /** The origin's status and the time to its response head, ms (for the access log); unset when no origin was asked. */
  originStatus: number | undefined;
  originMs: number | undefined;
  /** The store's purge epoch when the fetch started: a request after a later purge must not join it. */
  readonly startEpoch: number;
  /**
   * The response body, once the origin answered with a shareable one: held in memory (SharedBody), or, with a disk
   * tier and a declared length, streamed to its body file and read from there by every client (FileBody).
   */
  body: SharedBody | FileBody;
  readonly #env: FlightEnv;
  readonly #req: FlightRequest;

  constructor(env: FlightEnv, req: FlightRequest) {
    this.#env = env;
    this.#req = req;
    this.startEpoch = env.store.epoch();
    // With a disk tier, fills of a declared length stream to disk (FileBody); one of unknown length is buffered in
    // memory, so it is bounded by MEMORY_FILL_BYTES however large maxObjectBytes is.
    const memoryFill = env.store.beginFill ? Math.min(env.maxObjectBytes, MEMORY_FILL_BYTES) : env.maxObjectBytes;
    this.body = new SharedBody(memoryFill, req.key.zone.zone.timeouts.bodyMs);
    // A shared answer holds the cross-node lock until its body is stored (and written through), failed or abandoned.
    if (env.tier) this.body.whenSettled(() => this.#releaseLock());
    this.head = this.#run();
    this.head.catch(() => {});
  }

  async #run(): Promise<FlightHead> {
    try {
      return this.#headed(await this.#ask());
    } catch (err) {
      this.#notify(err);
      throw err;
    }
  }

  /** The head is known: the flight is over now unless it shares a body, then once that body settles. */
  #headed(head: FlightHead): FlightHead {
    if (head.kind === 'shared') this.body.whenSettled((err) => this.#notify(err));
    else this.#notify(undefined);
    return head;
  }

  #notified = false;
  #notify(err: unknown): void {
    if (this.#notified) return;
    this.#notified = true;
    this.#req.onSettled?.(err);
  }

  async #ask(): Promise<FlightHead> {
    const { store, tier, clock } = this.#env;
    const { key, revalidating } = this.#req;
    const epoch = this.startEpoch;
    if (tier && !revalidating && !key.isPreflight) {
      const found = await lookupTier(tier, store, key, this.#req.clientHeaders, epoch, key.zone.zone.timeouts.headersMs, clock);
      this.#lockKey = found.lockKey;
      this.#fence = found.fence;
      if (found.variant) { this.#releaseLock(); return { kind: 'tier', variant: found.variant }; }
    } else if (tier) this.#fence = await tier.fence(key.zone.zone.id);
    const requestTime = clock.now();
    let res;
    const asked = performance.now();
    try {
      res = await key.zone.origin.fetch({ method: key.isPreflight ? 'OPTIONS' : 'GET', path: key.target, headers: this.#req.headers, onInfo: this.#req.interim });
      this.originStatus = res.status;
    } catch (err) {
      this.originMs = performance.now() - asked;
      this.#releaseLock();
      throw classifyOriginError(err);
    }
    this.originMs = performance.now() - asked;
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

  #answer(res: OriginFetch, epoch: number, requestTime: number): FlightHead {
    const { store, tier, clock, maxObjectBytes } = this.#env;
    const { key, revalidating, clientHeaders } = this.#req;
    const zone = key.zone;
    const responseTime = clock.now();
    const req = { method: 'GET', headers: clientHeaders };
    this.originHeaders = res.headers;

    // RFC 9111 §4.3.3/§4.3.4: a 304 to our validators freshens the stored response.
    if (revalidating && res.status === 304) {
      res.body.dump();
      // Purged while we asked (removed, or a purge that names it, soft ones too): the 304 may vouch for what the purge
      // removed; refetch in full. Purges of other URLs (an unsafe method's invalidation, RFC 9111 §4.4) leave it be.
      if (store.purgedSince(revalidating, epoch) || !store.variantsOf(revalidating.objectKey).includes(revalidating)) return { kind: 'gone' };
      // §4.3.4: a 304 whose validators name another response does not freshen this one.
      if (!selectedByValidators(revalidating.fieldMap, res.headers, responseTime)) return { kind: 'gone' };
      const merged = updateStoredHeaders(revalidating.fieldMap, res.headers);
      const fields = zone.clientFields(merged).filter(([n]) => n !== 'age');
      const decision = decideStore(req, { status: revalidating.status, headers: merged }, requestTime, responseTime, zone.policy);
      // Not storable because of this request (its no-store, its credentials): the stored response stays as it was.
      if (!decision.storable && !refusalConcernsResource(decision.reason, revalidating.status, req)) return { kind: 'not-modified', variant: revalidating, status: 304 };
      const freshness: Freshness = decision.storable ? decision.freshness : { ...revalidating.freshness, lifetime: 0, responseTime, correctedInitialAge: 0 };
      store.refresh(revalidating, withLength(fields, revalidating.bodyLength, revalidating.status), freshness);
      const through = tier && this.#fence !== undefined ? tierInput(revalidating) : undefined;
      if (through) void tier!.put(through, this.#fence);
      return { kind: 'not-modified', variant: revalidating, status: 304 };
    }

    const fields = zone.clientFields(res.headers);
    // A preflight answer has its own storage rule; every other answer RFC 9111's.
    const decision = key.isPreflight
      ? decidePreflight(res.status, res.headers, requestTime, responseTime)
      : decideStore(req, { status: res.status, headers: res.headers }, requestTime, responseTime, zone.policy);
    const vary = varyNamesOf(res.headers.vary, zone.cors !== undefined);
    const declared = Number(res.headers['content-length']);
    let reason = decision.storable ? '' : decision.reason;
    if (decision.storable && vary === '*') reason = 'vary-star';
    if (decision.storable && declared > maxObjectBytes) reason = 'too-large';
    if (reason) {
      // A fresh non-storable answer for the URL supersedes what we held, when it says so of the resource; never when
      // this request's own directives or credentials explain it (storable.ts refusalConcernsResource).
      if (revalidating && refusalConcernsResource(reason, res.status, req)) store.remove(revalidating);
      const body = res.body.readable();
      // A large body relayed uncached (too large, private) churns memory as a fill does: see below.
      if (declared >= HEADROOM_BODY_BYTES) body.once('close', holdHeadroom());
      return { kind: 'private', status: res.status, fields, body, reason };
    }

    const keyNames = mergeNames(key.keyNames, vary as readonly string[]);
    // The request's selector is the key's own (made once per request) unless the response's Vary adds names.
    const selector = keyNames === key.keyNames ? key.selector(clientHeaders, normalizeVaryValue) : selectorOf(keyNames, clientHeaders, normalizeVaryValue);
    const strip = fieldsToStrip({ status: res.status, headers: res.headers });
    // Age is not stored: it is computed on every use (RFC 9111 §4.2.3, §5.1). Nor is Content-Length: the stored body's
    // own is added when it is complete (withLength).
    const storedFields = fields.filter(([n]) => n !== 'age' && n !== 'content-length' && !strip.includes(n));
    const tags = parseTags(res.headers['cache-tag']);
    const freshness = (decision as { freshness: Freshness }).freshness;
    const length = res.status === 204 ? 0 : res.headers['content-length'] !== undefined && Number.isSafeInteger(declared) ? declared : undefined;
    this.#pumping = true;
    const writer = length !== undefined && length > 0 ? store.beginFill?.() : undefined;
    const filled = writer !== undefined ? new FileBody(writer, length!) : undefined;
    if (filled !== undefined) this.body = filled;
    // A large body churns external memory while it streams (a new Buffer every socket read): V8 gets room enough not
    // to collect every few MiB (heap-growth.ts).
    if (length !== undefined && length >= HEADROOM_BODY_BYTES) this.body.whenSettled(holdHeadroom());
    if (filled !== undefined) {
      if (tier) filled.whenSettled(() => this.#releaseLock());
      filled.start(res.body.readable(), (file) => store.insert({
        zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: key.objectKey, keyNames, selector, status: res.status,
        headers: appendLength(storedFields, file.length, res.status), body: NO_BODY, bodyFile: file, freshness, tags, maxVariants: zone.zone.cacheKey.maxVariants,
      }, epoch));
      return { kind: 'shared', status: res.status, fields, selector, keyNames };
    }
    (this.body as SharedBody).start(res.body, length, (body) => {
      const v = store.insert({
        zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: key.objectKey, keyNames, selector, status: res.status,
        headers: appendLength(storedFields, body.length, res.status), body, freshness, tags, maxVariants: zone.zone.cacheKey.maxVariants,
      }, epoch);
      // Written through only when stored here: the local purge-epoch check keeps purged content out of the tier.
      const through = v && tier && this.#fence !== undefined ? tierInput(v) : undefined;
      if (through) void tier!.put(through, this.#fence);
      return v;
    });
    return { kind: 'shared', status: res.status, fields, selector, keyNames };
  }
}

const NO_BODY = Buffer.alloc(0);
/** Most bytes a fill of unknown length keeps in memory when a disk tier could take larger fills of a declared length. */
const MEMORY_FILL_BYTES = 32 * 1024 * 1024;

/** Response fields for a complete stored body: its own Content-Length (none on 1xx/204, RFC 9110 §8.6). */
export function withLength(fields: [string, string][], length: number, status: number): [string, string][] {
  const out = fields.filter(([n]) => n !== 'content-length');
  if (status !== 204 && status >= 200) out.push(['content-length', String(length)]);
  return out;
}

/** `fields` (already without Content-Length, and no one else's) with the stored body's own Content-Length appended. */
function appendLength(fields: [string, string][], length: number, status: number): [string, string][] {
  if (status !== 204 && status >= 200) fields.push(['content-length', String(length)]);
  return fields;
}

/** Parsed Vary values (RFC 9111 §4.1), by field value: origins send few distinct ones, each is parsed once. */
const VARY_NAMES = new Map<string, { names: readonly string[] | '*'; withoutOrigin: readonly string[] | '*' }>();
/** Bound on the Vary values remembered (origins choose them): past it the memo starts over. */
const VARY_NAMES_MAX = 256;
const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * The names a Vary value lists (lowercased, once each), or '*'. With edge-owned CORS (`edgeCors`) the origin's
 * Vary: Origin no longer splits the cache (the edge adds its own Vary): `origin` is left out.
 */
export function varyNamesOf(value: string | string[] | undefined, edgeCors: boolean): readonly string[] | '*' {
  if (value === undefined) return NO_NAMES;
  if (typeof value !== 'string') return withoutOrigin(parseVary(value), edgeCors);
  let memo = VARY_NAMES.get(value);
  if (memo === undefined) {
    if (VARY_NAMES.size >= VARY_NAMES_MAX) VARY_NAMES.clear();
    const names = parseVary(value);
    memo = { names: names === '*' ? '*' : Object.freeze(names), withoutOrigin: Object.freeze(withoutOrigin(names, true)) };
    VARY_NAMES.set(value, memo);
  }
  return edgeCors ? memo.withoutOrigin : memo.names;
}

function withoutOrigin(names: string[] | '*', edgeCors: boolean): string[] | '*' {
  return names === '*' || !edgeCors ? names : names.filter((n) => n !== 'origin');
}

/**
 * Merged key-name lists, made once per (key names, Vary names) pair: no new array per response. Keyed by the lists
 * themselves (varyNamesOf returns the same list for the same Vary value): a list nobody holds is forgotten.
 */
const MERGED = new WeakMap<readonly string[], WeakMap<readonly string[], readonly string[]>>();

function mergeNames(keyHeaders: readonly string[], vary: readonly string[]): readonly string[] {
  if (vary.length === 0) return keyHeaders;
  let allKeyed = true;
  for (let i = 0; i < vary.length && allKeyed; i++) if (!keyHeaders.includes(vary[i]!)) allKeyed = false;
  if (allKeyed) return keyHeaders;
  let byVary = MERGED.get(keyHeaders);
  if (byVary === undefined) { byVary = new WeakMap(); MERGED.set(keyHeaders, byVary); }
  let merged = byVary.get(vary);
  if (merged === undefined) {
    merged = Object.freeze([...keyHeaders, ...vary.filter((n) => !keyHeaders.includes(n))]);
    byVary.set(vary, merged);
  }
  return merged;
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

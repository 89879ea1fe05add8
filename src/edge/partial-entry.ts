// Partial content in the store (RFC 9111 §3.3, §3.4): the pieces of one variant held as one entry beside the URL's
// object (its key plus PARTIAL_KEY_SUFFIX, the way cached preflights live beside it), so every purge that names the
// URL (object, variant, tag, host, prefix, soft, everything) names its pieces too, and the store's byte bound and LRU
// count them. The entry's body is its spans' bytes in order; which spans, of how long a representation, is kept in
// one internal field that never reaches a client.
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { bodyOf } from '../storage/store.js';
import { partialObjectKey, selectorOf, type HeaderValues } from '../cache/key.js';
import { decideStore, evaluateReuse, fieldsToStrip, normalizeVaryValue, parseVary } from '../cache/policy/index.js';
import type { Freshness } from '../cache/policy/types.js';
import { addSpan, canCombine, type Span } from '../cache/policy/partial.js';
import { parseTags } from './flight.js';
import type { EdgeKey } from './context.js';

/** The internal field naming the spans an entry holds: `LENGTH:first-last,first-last`. */
export const PIECES_FIELD = 'edgecache-pieces';
/** Most spans one entry keeps: past it the new piece replaces the entry (a client scattering tiny ranges cannot grow it). */
const MAX_SPANS = 32;

/** Pieces of a URL's variants live under its object key plus PARTIAL_KEY_SUFFIX (a request never selects them by lookup). */
export const partialKey = partialObjectKey;

/** A fresh partial entry as read from the store. */
export interface PartialEntry {
  variant: StoredVariant;
  /** The complete length of the representation. */
  length: number;
  spans: Span[];
  /** The stored response fields without the internal one (a 206's, Content-Range and Content-Length removed). */
  fields: [string, string][];
}

/**
 * Whether a stored piece or slice may answer this request as it is (RFC 9111 §4, §5.2.1): fresh, not soft-purged, and
 * no request directive (no-cache, max-age=0, min-fresh...) asks for validation. Otherwise it is fetched anew.
 */
export function isUsable(v: StoredVariant, headers: HeaderValues, now: number, key: EdgeKey): boolean {
  return !v.forcedStale && evaluateReuse(v.freshness, headers, now, key.zone.policy).action === 'serve';
}

/** The usable partial entry this request selects, if any (a stale or soft-purged one is not used: RFC 9111 §4.2). */
export function readPartial(store: CacheStore, key: EdgeKey, headers: HeaderValues, now: number): PartialEntry | undefined {
  const v = store.lookup(partialKey(key.objectKey), headers);
  if (v === undefined || !isUsable(v, headers, now, key)) return undefined;
  const raw = v.fieldMap[PIECES_FIELD];
  const parsed = typeof raw === 'string' ? parsePieces(raw) : undefined;
  if (parsed === undefined) return undefined;
  return { variant: v, ...parsed, fields: v.headers.filter(([n]) => n !== PIECES_FIELD) };
}

function parsePieces(value: string): { length: number; spans: Span[] } | undefined {
  const m = /^(\d+):(.*)$/.exec(value);
  if (!m) return undefined;
  const spans: Span[] = [];
  for (const s of m[2]!.split(',')) {
    const r = /^(\d+)-(\d+)$/.exec(s);
    if (!r) return undefined;
    spans.push({ start: Number(r[1]), end: Number(r[2]) });
  }
  return { length: Number(m[1]), spans };
}

/** The entry's bytes in representation order (its spans, back to back). */
export function partialBody(e: PartialEntry): Promise<Buffer> { return bodyOf(e.variant); }

/** Offset in the entry's body of byte `pos` of the representation (which one of its spans holds). */
export function bodyOffset(spans: readonly Span[], pos: number): number {
  let off = 0;
  for (const s of spans) {
    if (pos >= s.start && pos <= s.end) return off + pos - s.start;
    off += s.end - s.start + 1;
  }
  return -1;
}

/** What the store needs of an origin answer to keep it (shared by complete answers and pieces). */
export interface Keepable {
  keyNames: readonly string[];
  selector: string;
  fields: [string, string][];
  freshness: Freshness;
  tags: string[];
}

/**
 * Whether an origin answer may be stored, judged as the 200 it is part of (RFC 9111 §3.3: a cache may store an
 * incomplete response "if the cache entry is recorded as incomplete"), and what to store: the zone's client fields
 * minus Age and the fields §3.1 strips, the selector over the key headers and the response's Vary.
 */
export function keepable(key: EdgeKey, clientHeaders: HeaderValues, status: number, headers: HeaderValues, requestTime: number, responseTime: number): Keepable | undefined {
  const zone = key.zone;
  const decision = decideStore({ method: 'GET', headers: clientHeaders }, { status, headers }, requestTime, responseTime, zone.policy);
  if (!decision.storable) return undefined;
  const vary = parseVary(headers.vary);
  if (vary === '*') return undefined;
  const varyNames = zone.cors ? vary.filter((n) => n !== 'origin') : vary;
  const keyNames = varyNames.every((n) => key.keyNames.includes(n)) ? key.keyNames : [...key.keyNames, ...varyNames.filter((n) => !key.keyNames.includes(n))];
  const strip = fieldsToStrip({ status, headers });
  const fields = zone.clientFields(headers).filter(([n]) => n !== 'age' && n !== 'content-length' && n !== 'content-range' && n !== PIECES_FIELD && !strip.includes(n));
  return { keyNames, selector: selectorOf(keyNames, clientHeaders, normalizeVaryValue), fields, freshness: decision.freshness, tags: parseTags(headers['cache-tag']) };
}

/**
 * Stores a piece (`body` holds bytes `span` of a representation of `length` bytes), combined with the stored entry
 * when §3.4 allows (same complete length, matching strong validators), else replacing it. Returns the entry as
 * stored, with its body, or undefined when the store refused it.
 */
export function savePiece(
  store: CacheStore, key: EdgeKey, k: Keepable, old: { entry: PartialEntry; body: Buffer } | undefined,
  span: Span, length: number, body: Buffer, now: number, epoch: number,
): { entry: PartialEntry; body: Buffer } | undefined {
  let spans: Span[] = [span];
  let bytes = body;
  if (old && old.entry.length === length && old.entry.spans.length < MAX_SPANS && canCombine(fieldRecord(old.entry.fields), fieldRecord(k.fields), now)) {
    spans = addSpan(old.entry.spans, span);
    bytes = Buffer.allocUnsafe(spans.reduce((n, s) => n + s.end - s.start + 1, 0));
    // Old spans first, then the new piece over them: its bytes win where they overlap (it is the newer response,
    // RFC 9110 §15.3.7.3). Every old span and the new one lies within one merged span.
    let off = 0;
    for (const o of old.entry.spans) {
      const n = o.end - o.start + 1;
      old.body.copy(bytes, bodyOffset(spans, o.start), off, off + n);
      off += n;
    }
    body.copy(bytes, bodyOffset(spans, span.start));
  }
  const pieces = `${length}:${spans.map((s) => `${s.start}-${s.end}`).join(',')}`;
  const v = store.insert({
    zoneId: key.zoneId, host: key.host, path: key.path, query: key.query, objectKey: partialKey(key.objectKey),
    keyNames: k.keyNames, selector: k.selector, status: 206, headers: [...k.fields, [PIECES_FIELD, pieces]], body: bytes,
    freshness: k.freshness, tags: k.tags, maxVariants: key.zone.zone.cacheKey.maxVariants,
  }, epoch);
  if (v === undefined) return undefined;
  return { entry: { variant: v, length, spans, fields: k.fields }, body: bytes };
}

/** [name, value] pairs as a name → value(s) record (prototype-free) for the policy functions. */
export function fieldRecord(fields: readonly [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [n, v] of fields) {
    const had = out[n];
    out[n] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

// Owns: the rules for partial content in a cache (RFC 9111 §3.3 storing incomplete responses, §3.4 combining them;
// RFC 9110 §14.4 Content-Range, §15.3.7.3 combining ranges): what a Range request asks for, which stored spans cover
// it, what is missing, and whether two responses may be combined. Pure.
import { singleValue } from './conditional.js';
import { parseEntityTag } from './entity-tag.js';
import { parseHttpDate } from './http-date.js';
import { DEFAULT_MAX_RANGES, parseBytesRange, resolveRanges, type ParsedRangeSpec } from './range.js';
import type { Headers } from './types.js';

/** An inclusive byte span of a representation. */
export interface Span { start: number; end: number }

/**
 * What a request's Range asks of a miss:
 * - `none`: no Range, or not a GET (RFC 9110 §14.2: only GET has range semantics);
 * - `ignored`: a Range a cache MUST/MAY ignore (invalid syntax, another unit, too many specs): served as a 200
 *   (https://www.rfc-editor.org/rfc/rfc9110#section-14.2);
 * - `from-zero`: the first range starts at byte 0 (what video players and download managers send first), or several
 *   ranges: the whole representation is fetched once and the range answered from the fill;
 * - `single`: one range elsewhere (a suffix, a mid-object range): forwarded, and the 206 stored as a partial entry.
 */
export type RangeAsk =
  | { kind: 'none' } | { kind: 'ignored' } | { kind: 'from-zero' }
  | { kind: 'single'; spec: ParsedRangeSpec; value: string };

const NONE: RangeAsk = { kind: 'none' };
const IGNORED: RangeAsk = { kind: 'ignored' };
const FROM_ZERO: RangeAsk = { kind: 'from-zero' };

export function rangeAsk(method: string, h: Headers): RangeAsk {
  if (method !== 'GET' || h.range === undefined) return NONE;
  const value = singleValue(h, 'range');
  if (value === undefined) return IGNORED;
  const specs = parseBytesRange(value, DEFAULT_MAX_RANGES);
  if (specs === undefined) return IGNORED;
  const first = specs[0]!;
  if (specs.length > 1 || (first.kind === 'int' && /^0+$/.test(first.first))) return FROM_ZERO;
  return { kind: 'single', spec: first, value };
}

/** A spec resolved against a representation of `length` bytes; undefined when unsatisfiable (RFC 9110 §14.1.2). */
export function resolveSpec(spec: ParsedRangeSpec, length: number): Span | undefined {
  // An empty representation has no satisfiable range (resolveRanges leaves that case to answerRange).
  const [r] = length === 0 ? [] : resolveRanges([spec], length);
  return r === undefined ? undefined : { start: r.start, end: r.end };
}

/**
 * `Content-Range: bytes first-last/complete-length` of a 206 (https://www.rfc-editor.org/rfc/rfc9110#section-14.4).
 * Undefined for anything else, an unknown complete length (`/*`) included: such a piece cannot be placed or combined.
 */
export function parseContentRange(value: string | undefined): (Span & { length: number }) | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes[ \t]+(\d{1,15})-(\d{1,15})\/(\d{1,15})$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]), end = Number(m[2]), length = Number(m[3]);
  if (end < start || end >= length) return undefined;
  return { start, end, length };
}

/** `spans` (sorted, disjoint, non-adjacent) with `s` added: overlapping and adjacent spans merge. A new array. */
export function addSpan(spans: readonly Span[], s: Span): Span[] {
  const out: Span[] = [];
  let cur = { ...s };
  let placed = false;
  for (const x of spans) {
    if (x.end + 1 < cur.start) out.push(x);
    else if (cur.end + 1 < x.start) { if (!placed) { out.push(cur); placed = true; } out.push(x); }
    else cur = { start: Math.min(cur.start, x.start), end: Math.max(cur.end, x.end) };
  }
  if (!placed) out.push(cur);
  return out.sort((a, b) => a.start - b.start);
}

/** The parts of `want` that `spans` do not hold, in order. */
export function missingSpans(spans: readonly Span[], want: Span): Span[] {
  const out: Span[] = [];
  let pos = want.start;
  for (const x of spans) {
    if (x.end < pos) continue;
    if (x.start > want.end) break;
    if (x.start > pos) out.push({ start: pos, end: x.start - 1 });
    pos = x.end + 1;
    if (pos > want.end) break;
  }
  if (pos <= want.end) out.push({ start: pos, end: want.end });
  return out;
}

/**
 * Whether a stored piece and a new one are parts of the same representation, so they may be combined
 * (https://www.rfc-editor.org/rfc/rfc9111#section-3.4: "if they all share the same strong validator"; RFC 9110
 * §15.3.7.3). A strong ETag must match exactly; without ETags, Last-Modified must be equal and strong (Date at least a
 * second later, https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2). Pieces with no validator at all on either side
 * are combined when they state the same complete length (the cache-tests' optimal behaviour; an origin that sends
 * neither validator gives a cache nothing better to go on). Any other mix (a weak tag, one side without validators)
 * never combines: the newer piece replaces the older.
 */
export function canCombine(stored: Headers, fresh: Headers, now: number): boolean {
  const a = singleValue(stored, 'etag'), b = singleValue(fresh, 'etag');
  if (a !== undefined || b !== undefined) {
    const x = parseEntityTag(a), y = parseEntityTag(b);
    return x !== undefined && y !== undefined && !x.weak && !y.weak && x.opaque === y.opaque;
  }
  const la = singleValue(stored, 'last-modified'), lb = singleValue(fresh, 'last-modified');
  if (la !== undefined || lb !== undefined) return la === lb && isStrongDate(stored, now) && isStrongDate(fresh, now);
  return true;
}

function isStrongDate(h: Headers, now: number): boolean {
  const lm = parseHttpDate(singleValue(h, 'last-modified'), now);
  const date = parseHttpDate(singleValue(h, 'date'), now);
  return lm !== undefined && date !== undefined && date - lm >= 1000;
}

/** The validator to send as If-Range when asking for the rest of a stored piece (RFC 9110 §13.1.5): strong only. */
export function ifRangeFor(stored: Headers, now: number): string | undefined {
  const etag = singleValue(stored, 'etag');
  if (etag !== undefined) { const t = parseEntityTag(etag); return t !== undefined && !t.weak ? etag : undefined; }
  const lm = singleValue(stored, 'last-modified');
  return lm !== undefined && isStrongDate(stored, now) ? lm : undefined;
}

/** `Range` for the spans asked of the origin (one `first-last` each; a span reaching the end is left open). */
export function rangeValue(spans: readonly Span[], length: number): string {
  return `bytes=${spans.map((s) => s.end === length - 1 ? `${s.start}-` : `${s.start}-${s.end}`).join(',')}`;
}

// Owns: answering a byte Range request (with If-Range) from a stored complete 200 response (RFC 9110 §14, §13.1.5).
//
// Pure apart from the random multipart boundary (and the wall clock when RangeOptions.now is not given). The handler calls this only after evaluateConditionals() returned
// 'none' (a 304 wins over Range: https://www.rfc-editor.org/rfc/rfc9110#section-14.2). The headers returned replace the
// stored response's fields of the same name (Content-Length, and Content-Type for multipart); the handler keeps the
// stored response's other fields (Date, Cache-Control, ETag, Expires, Content-Location, Vary must be on a 206:
// https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7).

import { randomBytes } from 'node:crypto';
import { TOKEN_RE } from '../../http/fields.js';
import { singleValue } from './conditional.js';
import { isStrongMatch, parseEntityTag } from './entity-tag.js';
import { parseExactHttpDate, parseHttpDate } from './http-date.js';
import type { Headers } from './types.js';

/** One piece of a 206 body: literal bytes (a multipart part's head) or an inclusive byte range of the stored body. */
export type RangePiece = Buffer | { start: number; end: number };

export type RangeAnswer =
  | { kind: 'full' }
  /** `body` when the stored body is in memory; `pieces` always (what a body on disk is read by, never whole). */
  | { kind: 'partial'; status: 206; headers: [string, string][]; body: Buffer | undefined; pieces: RangePiece[] }
  | { kind: 'unsatisfiable'; status: 416; headers: [string, string][] };

export interface RangeOptions {
  /** More range-specs than this and the Range field is ignored (a 200 is served). Default 100. */
  maxRanges?: number;
  /** The time of the request (ms since the epoch), used only to place rfc850 two-digit years. Default: the wall clock. */
  now?: number;
}

export interface StoredForRange {
  status: number;
  headers: Headers;
  /** The body in memory, if it is. */
  body?: Buffer | undefined;
  /** The body's length when `body` is not given (a body on disk). */
  length?: number;
}

/** A resolved byte range, inclusive, within the representation; `order` is its place in the request. */
export interface ByteRange {
  start: number;
  end: number;
  order: number;
}

export type ParsedRangeSpec = { kind: 'int'; first: string; last: string | undefined } | { kind: 'suffix'; length: string };

export const DEFAULT_MAX_RANGES = 100;
/**
 * Ranges closer than this are sent as one part: "a server MAY coalesce any of the ranges that overlap, or that are
 * separated by a gap that is smaller than the overhead of sending multiple parts ... around 80 bytes"
 * (https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2).
 */
const COALESCE_GAP = 80;
const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;
const FULL: RangeAnswer = { kind: 'full' };

/**
 * Answers `Range` from a stored complete 200. `full` means: ignore Range, serve the whole stored 200.
 *
 * - Only GET has range semantics; any other method (HEAD included) ignores Range
 *   (https://www.rfc-editor.org/rfc/rfc9110#section-14.2, "GET is the only method for which range handling is defined").
 * - Only a stored 200 whose body is complete is sliced.
 * - If-Range false → full (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5).
 * - Units other than `bytes` → full ("A proxy MAY discard a Range header field that contains a range unit it does not
 *   understand", https://www.rfc-editor.org/rfc/rfc9110#section-14.2).
 * - An invalid ranges-specifier, or more than `maxRanges` range-specs (a broken client or a denial-of-service attempt)
 *   → full ("MAY ignore or reject", https://www.rfc-editor.org/rfc/rfc9110#section-14.2).
 * - An empty representation → full ("MAY ignore a Range header field when the selected representation has no content").
 * - No satisfiable range-spec → 416 with `Content-Range: bytes *\/LEN` (https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17).
 * - One range (after dropping unsatisfiable ones and coalescing) → 206 with Content-Range; body is a subarray, no copy.
 * - Several → 206 multipart/byteranges, parts in request order (https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2).
 *   Overlapping and nearly adjacent ranges are coalesced, so the response never repeats bytes: many small overlapping
 *   ranges cannot amplify the transfer beyond the body plus one part header per distinct range.
 */
export function answerRange(
  method: string,
  reqHeaders: Headers,
  stored: StoredForRange,
  opts: RangeOptions = {},
): RangeAnswer {
  if (method !== 'GET') return FULL;
  // Range is a singleton field: absent, or more than one field line (invalid), means no range.
  const rangeValue = singleValue(reqHeaders, 'range');
  if (rangeValue === undefined) return FULL;
  if (!isCompleteStored200(stored)) return FULL;

  // If-Range is evaluated before Range (https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2, step 5).
  if (reqHeaders['if-range'] !== undefined && !isIfRangeTrue(singleValue(reqHeaders, 'if-range'), stored.headers, opts.now ?? Date.now())) {
    return FULL;
  }

  const maxRanges = opts.maxRanges ?? DEFAULT_MAX_RANGES;
  const specs = parseBytesRange(rangeValue, maxRanges);
  if (specs === undefined) return FULL;

  const length = storedLength(stored);
  if (length === 0) return FULL;

  const ranges = resolveRanges(specs, length);
  if (ranges.length === 0) {
    return {
      kind: 'unsatisfiable',
      status: 416,
      headers: [
        ['content-range', `bytes */${length}`],
        ['content-length', '0'],
      ],
    };
  }

  const parts = ranges.length > 1 ? coalesce(ranges) : ranges;
  if (parts.length === 1) {
    // A single part (also when several ranges coalesced into one: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2).
    const { start, end } = parts[0]!;
    return {
      kind: 'partial',
      status: 206,
      headers: [
        ['content-range', `bytes ${start}-${end}/${length}`],
        ['content-length', String(end - start + 1)],
      ],
      body: stored.body?.subarray(start, end + 1),
      pieces: [{ start, end }],
    };
  }
  return multipart(parts, stored, length);
}

/** A stored 200 whose body is the whole representation: no Content-Range, and Content-Length (if any) equal to the body. */
function isCompleteStored200(stored: StoredForRange): boolean {
  if (stored.status !== 200) return false;
  if (stored.headers['content-range'] !== undefined) return false;
  const cl = stored.headers['content-length'];
  if (cl === undefined) return true;
  const v = singleValue(stored.headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) && Number(v) === storedLength(stored);
}

function storedLength(stored: StoredForRange): number {
  return stored.body?.length ?? stored.length ?? 0;
}

/**
 * If-Range (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5): an entity-tag must match the stored ETag by strong
 * comparison (a weak tag never does); an HTTP-date must equal Last-Modified exactly and be a strong validator, which for
 * a cache means the stored Date is at least one second after Last-Modified
 * (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2). Anything else is false.
 */
export function isIfRangeTrue(value: string | undefined, stored: Headers, now: number): boolean {
  if (value === undefined) return false;
  // "A valid entity-tag can be distinguished from a valid HTTP-date by examining the first three characters for a DQUOTE."
  if (value.slice(0, 3).includes('"')) {
    const presented = parseEntityTag(value);
    const current = parseEntityTag(singleValue(stored, 'etag'));
    return presented !== undefined && current !== undefined && isStrongMatch(presented, current);
  }
  const presented = parseExactHttpDate(value, now);
  const lastModified = parseHttpDate(singleValue(stored, 'last-modified'), now);
  const date = parseHttpDate(singleValue(stored, 'date'), now);
  if (presented === undefined || lastModified === undefined || date === undefined) return false;
  return presented === lastModified && date - lastModified >= 1000;
}

/**
 * Parses `bytes=<range-set>` (https://www.rfc-editor.org/rfc/rfc9110#section-14.1.1). Undefined — ignore the field — when
 * the unit is not bytes, any range-spec is invalid (other-range is undefined for bytes; last-pos < first-pos), the set
 * is empty, or it has more than `maxRanges` range-specs. Range units are case-insensitive.
 */
export function parseBytesRange(value: string, maxRanges: number): ParsedRangeSpec[] | undefined {
  const eq = value.indexOf('=');
  if (eq <= 0) return undefined;
  const unit = value.slice(0, eq);
  if (!TOKEN_RE.test(unit) || unit.toLowerCase() !== 'bytes') return undefined;
  const specs: ParsedRangeSpec[] = [];
  // Empty list elements and OWS around commas are allowed (https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1.2).
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    if (spec === '') continue;
    if (specs.length === maxRanges) return undefined;
    let m = INT_RANGE.exec(spec);
    if (m) {
      const first = m[1]!;
      const last = m[2] === '' ? undefined : m[2]!;
      if (last !== undefined && compareDecimal(last, first) < 0) return undefined; // invalid int-range
      specs.push({ kind: 'int', first, last });
      continue;
    }
    m = SUFFIX_RANGE.exec(spec);
    if (m) {
      specs.push({ kind: 'suffix', length: m[1]! });
      continue;
    }
    return undefined;
  }
  return specs.length > 0 ? specs : undefined;
}

/**
 * Resolves byte range-specs against the representation length, dropping the unsatisfiable ones: an int-range whose
 * first-pos is not below the length, a suffix-range of length 0. last-pos beyond the end is clamped to the last byte;
 * a suffix longer than the representation means all of it (https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2).
 */
export function resolveRanges(specs: ParsedRangeSpec[], length: number): ByteRange[] {
  const out: ByteRange[] = [];
  specs.forEach((spec, order) => {
    if (spec.kind === 'int') {
      const first = toSaturatedInt(spec.first);
      if (first >= length) return;
      const last = spec.last === undefined ? length - 1 : Math.min(toSaturatedInt(spec.last), length - 1);
      out.push({ start: first, end: last, order });
    } else {
      const suffix = toSaturatedInt(spec.length);
      if (suffix === 0) return;
      out.push({ start: Math.max(0, length - suffix), end: length - 1, order });
    }
  });
  return out;
}

/**
 * Merges ranges that overlap or are fewer than COALESCE_GAP bytes apart; each merged part takes the place of its
 * earliest-requested member, so parts keep the request order (https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2).
 */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: ByteRange[] = [];
  for (const r of sorted) {
    const prev = merged[merged.length - 1];
    if (prev !== undefined && r.start - prev.end - 1 < COALESCE_GAP) {
      prev.end = Math.max(prev.end, r.end);
      prev.order = Math.min(prev.order, r.order);
    } else {
      merged.push({ ...r });
    }
  }
  return merged.sort((a, b) => a.order - b.order);
}

/**
 * A multipart/byteranges 206 (https://www.rfc-editor.org/rfc/rfc9110#section-14.6): each part carries its Content-Range
 * and the stored Content-Type; no Content-Range in the header section. The boundary is 128 random bits, so it cannot be
 * predicted by whoever wrote the content.
 */
function multipart(parts: ByteRange[], stored: StoredForRange, length: number): RangeAnswer {
  const boundary = randomBytes(16).toString('hex');
  const contentType = firstValue(stored.headers['content-type']);
  const pieces: RangePiece[] = [];
  let total = 0;
  const add = (p: RangePiece): void => { pieces.push(p); total += Buffer.isBuffer(p) ? p.length : p.end - p.start + 1; };
  parts.forEach(({ start, end }, i) => {
    let head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\n`;
    if (contentType !== undefined) head += `content-type: ${contentType}\r\n`;
    head += `content-range: bytes ${start}-${end}/${length}\r\n\r\n`;
    add(Buffer.from(head, 'latin1'));
    add({ start, end });
  });
  add(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  const whole = stored.body;
  const body = whole === undefined ? undefined : Buffer.concat(pieces.map((p) => Buffer.isBuffer(p) ? p : whole.subarray(p.start, p.end + 1)));
  return {
    kind: 'partial',
    status: 206,
    headers: [
      ['content-type', `multipart/byteranges; boundary=${boundary}`],
      ['content-length', String(total)],
    ],
    body,
    pieces,
  };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A decimal numeral as a number, saturating at Number.MAX_SAFE_INTEGER: "recipients MUST anticipate potentially large
 * decimal numerals and prevent parsing errors due to integer conversion overflows"
 * (https://www.rfc-editor.org/rfc/rfc9110#section-14.1.1). No Buffer is that long, so saturation changes no answer.
 */
function toSaturatedInt(digits: string): number {
  const n = Number(digits);
  return n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n;
}

/** Compares two decimal numerals of any size exactly. */
function compareDecimal(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

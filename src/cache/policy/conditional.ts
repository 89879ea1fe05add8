// Owns: evaluating a client's conditional request fields against a stored response (RFC 9110 §13) and the 304 field set.
//
// Pure: no I/O, no clock (except the rfc850 two-digit-year window, see parseHttpDate).
// The handler calls evaluateConditionals() first; only on 'none' does it go on to answerRange() (range.ts),
// because Range is ignored when a conditional GET yields 304 (https://www.rfc-editor.org/rfc/rfc9110#section-14.2).

import type { Headers } from './types.js';

export type ConditionalResult = 'none' | 'not-modified' | 'precondition-failed';

export interface StoredForConditionals {
  status: number;
  headers: Headers;
  /** When the cache received the response (ms since epoch); the If-Modified-Since fallback when there is no Last-Modified nor Date. */
  receivedAt?: number;
}

export interface ConditionalOptions {
  /**
   * Evaluate If-Match / If-Unmodified-Since at the cache (412 when false). Default true.
   * RFC 9110 §13.1.1/§13.1.4 let a cache ignore them ("MAY ignore"), RFC 9111 §4.3.2 says they are
   * "not applicable to a cache"; set false to ignore them (the request is then answered as if they were absent).
   */
  evaluateOriginPreconditions?: boolean;
}

/** An entity-tag (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3); `opaque` keeps its double quotes. */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

// ---------------------------------------------------------------- field access

/** The value of a singleton field; undefined when absent or when sent more than once (so invalid). */
export function singleValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.length === 1 ? v[0]!.trim() : undefined;
  return v.trim();
}

/** The value of a list-based field, field lines combined with ", " (https://www.rfc-editor.org/rfc/rfc9110#section-5.3). */
function listValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

function hasField(headers: Headers, name: string): boolean {
  const v = headers[name];
  return v !== undefined && !(Array.isArray(v) && v.length === 0);
}

// ---------------------------------------------------------------- HTTP-date

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_RE = MONTHS.join('|');
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH_RE}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH_RE})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH_RE}) ( \\d|\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`);

/**
 * Parses an HTTP-date in any of its three formats, case-sensitively, into ms since the epoch;
 * undefined when invalid (https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7).
 * `now` only places an rfc850 two-digit year: one more than 50 years ahead means the century before.
 */
export function parseHttpDate(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let m = IMF_FIXDATE.exec(v);
  if (m) return toTime(+m[3]!, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  m = RFC850_DATE.exec(v);
  if (m) {
    // https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7 — two-digit year: the most recent past year with those
    // digits when it would otherwise be more than 50 years in the future.
    const nowYear = new Date(now).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + +m[3]!;
    if (year > nowYear + 50) year -= 100;
    else if (year <= nowYear - 50) year += 100; // e.g. "01" read in 2099 is 2101, not 2001
    return toTime(year, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  m = ASCTIME_DATE.exec(v);
  if (m) return toTime(+m[6]!, m[1]!, +m[2]!.trim(), +m[3]!, +m[4]!, +m[5]!);
  return undefined;
}

function toTime(year: number, mon: string, day: number, h: number, min: number, s: number): number | undefined {
  const month = MONTHS.indexOf(mon);
  if (h > 23 || min > 59 || s > 60 || day < 1) return undefined; // second 60: a leap second, rolls into the next minute
  const d = new Date(0);
  d.setUTCFullYear(year, month + 1, 0); // the last day of `month` (also right for years 0-99, unlike Date.UTC)
  if (day > d.getUTCDate()) return undefined; // e.g. 31 Feb
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(h, min, s, 0);
  return d.getTime();
}

// ---------------------------------------------------------------- entity-tags

const ETAGC = /^[\x21\x23-\x7e\x80-\uffff]*$/; // etagc = %x21 / %x23-7E / obs-text (and any non-ASCII a JS string holds)

/** Parses exactly one entity-tag (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3); undefined when invalid. */
export function parseEntityTag(value: string | undefined): EntityTag | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const weak = v.startsWith('W/');
  const opaque = weak ? v.slice(2) : v;
  if (opaque.length < 2 || opaque[0] !== '"' || opaque[opaque.length - 1] !== '"') return undefined;
  if (!ETAGC.test(opaque.slice(1, -1))) return undefined;
  return { weak, opaque };
}

/** Strong comparison: both strong and the opaque-tags equal (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2). */
export function isStrongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison: opaque-tags equal, weakness ignored (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2). */
export function isWeakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

interface ListMember {
  raw: string;
  tag: EntityTag | undefined;
}

/**
 * Splits an `#entity-tag` list. Commas are legal inside an opaque-tag, so this scans quotes rather than splitting on ",";
 * empty members are skipped (https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1.2). A malformed member keeps its raw text
 * and has no tag.
 */
function scanEntityTags(value: string): ListMember[] {
  const out: ListMember[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value[i];
    if (c === ' ' || c === '\t' || c === ',') {
      i++;
      continue;
    }
    const start = i;
    const quoteAt = value.startsWith('W/"', i) ? i + 2 : c === '"' ? i : -1;
    let end = -1;
    if (quoteAt >= 0) {
      const close = value.indexOf('"', quoteAt + 1);
      if (close >= 0) {
        let j = close + 1;
        while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
        if (j === n || value[j] === ',') end = close + 1;
      }
    }
    if (end < 0) {
      // Not a well-formed entity-tag: the member runs to the next comma.
      const comma = value.indexOf(',', i);
      end = comma < 0 ? n : comma;
    }
    const raw = value.slice(start, end).trim();
    out.push({ raw, tag: parseEntityTag(raw) });
    i = end;
  }
  return out;
}

/**
 * Lenient reading for weak comparison only: a bare token without quotes (`ETag: abc`, a common origin bug) is read as
 * the strong tag `"abc"`. The http-tests/cache-tests "check" cases conditional-etag-*-unquoted-* probe this.
 */
function lenientTag(raw: string): EntityTag | undefined {
  const tag = parseEntityTag(raw);
  if (tag) return tag;
  return /^[\x21\x23-\x2b\x2d-\x7e\x80-\uffff]+$/.test(raw) ? { weak: false, opaque: `"${raw}"` } : undefined;
}

// ---------------------------------------------------------------- preconditions

/** If-Match: true for "*" when a representation exists, or when a listed tag strongly matches (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1). */
function isIfMatchTrue(value: string, storedEtag: EntityTag | undefined): boolean {
  if (value.trim() === '*') return true;
  if (!storedEtag) return false;
  return scanEntityTags(value).some((m) => m.tag !== undefined && isStrongMatch(m.tag, storedEtag));
}

/**
 * If-None-Match: false for "*" when a representation exists, or when a listed tag weakly matches
 * (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2). Returns whether the condition is FALSE (i.e. "matched").
 */
function isIfNoneMatchMatched(value: string, storedEtagRaw: string | undefined): boolean {
  if (value.trim() === '*') return true;
  if (storedEtagRaw === undefined) return false;
  const stored = lenientTag(storedEtagRaw);
  return scanEntityTags(value).some((m) => {
    if (m.raw === storedEtagRaw) return true; // the exact validator the origin sent, even if malformed
    const tag = m.tag ?? lenientTag(m.raw);
    return tag !== undefined && stored !== undefined && isWeakMatch(tag, stored);
  });
}

/**
 * The stored response's modification date for If-Modified-Since: Last-Modified, else Date, else when it was received
 * (https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2).
 */
function modificationDateForIms(stored: StoredForConditionals): number | undefined {
  return (
    parseHttpDate(singleValue(stored.headers, 'last-modified')) ??
    parseHttpDate(singleValue(stored.headers, 'date')) ??
    stored.receivedAt
  );
}

function isSafeForCache(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/**
 * Evaluates a request's preconditions against a stored response the cache is about to reuse, in the order of
 * https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2 :
 *   If-Match → (else) If-Unmodified-Since → 412; If-None-Match → 304; (no If-None-Match) If-Modified-Since → 304.
 * If-Range is not evaluated here (answerRange in range.ts does it).
 *
 * Returns 'none' — serve the stored response normally — when:
 *  - the method is not GET/HEAD: a cache evaluates preconditions only on requests a stored response can satisfy
 *    (https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2, "MUST NOT evaluate ... semantics that cannot be satisfied");
 *  - the stored status is not 2xx: preconditions are ignored when the response without them would not be 2xx/412
 *    (https://www.rfc-editor.org/rfc/rfc9110#section-13.2.1).
 */
export function evaluateConditionals(
  method: string,
  reqHeaders: Headers,
  stored: StoredForConditionals,
  opts: ConditionalOptions = {},
): ConditionalResult {
  if (!isSafeForCache(method)) return 'none';
  if (stored.status < 200 || stored.status > 299) return 'none';

  const storedEtagRaw = singleValue(stored.headers, 'etag');
  const storedEtag = parseEntityTag(storedEtagRaw);

  if (opts.evaluateOriginPreconditions !== false) {
    // Step 1: If-Match, strong comparison (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1).
    const ifMatch = listValue(reqHeaders, 'if-match');
    if (ifMatch !== undefined) {
      if (!isIfMatchTrue(ifMatch, storedEtag)) return 'precondition-failed';
    } else {
      // Step 2: If-Unmodified-Since, only without If-Match, only a valid date, only when the representation has a
      // Last-Modified (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4).
      const ius = parseHttpDate(singleValue(reqHeaders, 'if-unmodified-since'));
      const lastModified = parseHttpDate(singleValue(stored.headers, 'last-modified'));
      if (ius !== undefined && lastModified !== undefined && lastModified > ius) return 'precondition-failed';
    }
  }

  // Step 3: If-None-Match, weak comparison; false → 304 for GET/HEAD (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2).
  const ifNoneMatch = listValue(reqHeaders, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    return isIfNoneMatchMatched(ifNoneMatch, storedEtagRaw) ? 'not-modified' : 'none';
  }

  // Step 4: If-Modified-Since, only without If-None-Match, only GET/HEAD, ignored unless one valid HTTP-date
  // (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3); "earlier than or equal" → 304.
  if (hasField(reqHeaders, 'if-modified-since')) {
    const ims = parseHttpDate(singleValue(reqHeaders, 'if-modified-since'));
    const modified = modificationDateForIms(stored);
    if (ims !== undefined && modified !== undefined && modified <= ims) return 'not-modified';
  }
  return 'none';
}

/** Fields a 304 must carry when present in the 200 it stands for (https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5). */
const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary'] as const;

/**
 * The fields of a 304 made from a stored response: Cache-Control, Content-Location, Date, ETag, Expires, Vary, and
 * Last-Modified when there is no ETag — "Last-Modified might be useful if the response does not have an ETag field";
 * no other representation metadata (https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5).
 * The handler adds Age (https://www.rfc-editor.org/rfc/rfc9111#section-5.1) and edge fields such as CORS.
 */
export function notModifiedHeaders(stored: Headers): Headers {
  const out: Headers = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    const v = stored[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? [...v] : v;
  }
  // The variant's own CORS fields: a browser merges a 304's fields into the copy it holds, which may be another
  // Origin's copy of the same representation (RFC 9110 §15.4.5 allows fields that guide cache updates).
  for (const name in stored) {
    if (!name.startsWith('access-control-')) continue;
    const v = stored[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? [...v] : v;
  }
  if (stored['etag'] === undefined && stored['last-modified'] !== undefined) {
    const lm = stored['last-modified'];
    out['last-modified'] = Array.isArray(lm) ? [...lm] : lm;
  }
  return out;
}

// Owns: evaluating a client's conditional request fields against a stored response (RFC 9110 §13) and the 304 field set.
//
// Pure: no I/O; the clock (`now`, for rfc850 two-digit years only) comes in through ConditionalOptions.
// The handler calls evaluateConditionals() first; only on 'none' does it go on to answerRange() (range.ts),
// because Range is ignored when a conditional GET yields 304 (https://www.rfc-editor.org/rfc/rfc9110#section-14.2).

import { parseEntityTag, parseEntityTagList, readOriginEntityTag, isStrongMatch, isWeakMatch, type EntityTag } from './entity-tag.js';
import { parseExactHttpDate, parseHttpDate } from './http-date.js';
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
  /** The time of the request (ms since the epoch), used only to place rfc850 two-digit years. Default: the wall clock. */
  now?: number;
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

// ---------------------------------------------------------------- preconditions

/** If-Match: true for "*" when a representation exists, or when a listed tag strongly matches (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1). */
function isIfMatchTrue(value: string, storedEtag: EntityTag | undefined): boolean {
  if (value.trim() === '*') return true;
  if (!storedEtag) return false;
  return parseEntityTagList(value).some((m) => m.tag !== undefined && isStrongMatch(m.tag, storedEtag));
}

/**
 * If-None-Match: false for "*" when a representation exists, or when a listed tag weakly matches
 * (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2). Returns whether the condition is FALSE (i.e. "matched").
 */
function isIfNoneMatchMatched(value: string, storedEtagRaw: string | undefined): boolean {
  if (value.trim() === '*') return true;
  if (storedEtagRaw === undefined) return false;
  const stored = readOriginEntityTag(storedEtagRaw);
  return parseEntityTagList(value).some((m) => {
    if (m.raw === storedEtagRaw) return true; // the exact validator the origin sent, even if malformed
    const tag = m.tag ?? readOriginEntityTag(m.raw);
    return tag !== undefined && stored !== undefined && isWeakMatch(tag, stored);
  });
}

/**
 * The stored response's modification date for If-Modified-Since: Last-Modified, else Date, else when it was received
 * (https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2).
 */
function modificationDateForIms(stored: StoredForConditionals, now: number): number | undefined {
  return (
    parseHttpDate(singleValue(stored.headers, 'last-modified'), now) ??
    parseHttpDate(singleValue(stored.headers, 'date'), now) ??
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

  const now = opts.now ?? Date.now();
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
      const ius = parseExactHttpDate(singleValue(reqHeaders, 'if-unmodified-since'), now);
      const lastModified = parseHttpDate(singleValue(stored.headers, 'last-modified'), now);
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
    const ims = parseExactHttpDate(singleValue(reqHeaders, 'if-modified-since'), now);
    const modified = modificationDateForIms(stored, now);
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

// Validation: conditional request fields from a stored response, matching a 304 to it, and freshening its header
// fields (RFC 9111 §3.2, §4.3.1, §4.3.4; RFC 9110 §8.8.3).
import { connectionTokens, HOP_BY_HOP_FIELDS } from '../../http/fields.js';
import { firstFieldLine } from './cache-control.js';
import { formatEntityTag, isStrongMatch, isWeakMatch, readOriginEntityTag } from './entity-tag.js';
import { isHttpDate, parseHttpDate } from './http-date.js';
import { fieldsToStrip } from './storable.js';
import type { Headers } from './types.js';

/**
 * Fields a 304 does not update:
 * - Content-Length (RFC 9111 §3.2);
 * - fields excepted from storage (HOP_BY_HOP_FIELDS: hop-by-hop and proxy-specific, RFC 9111 §3.1);
 * - fields describing the stored bytes, which a 304 cannot change (Content-Encoding, Transfer-Encoding) and
 *   Content-Range, "automatically processed and removed" (RFC 9111 §3.2 allows omitting these for integrity);
 * - Set-Cookie / Set-Cookie2: a response setting cookies is never stored (product decision, see decideStore), so a
 *   304 must not smuggle one into a stored response served to everybody; the handler may still pass it on to the
 *   client whose request triggered the revalidation.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3.2
 */
export const NOT_UPDATED_FROM_304: ReadonlySet<string> = new Set([
  'content-length', 'content-encoding', 'transfer-encoding', 'content-range', 'set-cookie', 'set-cookie2',
  ...HOP_BY_HOP_FIELDS,
]);

function copyValue(value: string | string[]): string | string[] {
  return typeof value === 'string' ? value : [...value];
}

/**
 * The stored response's header fields freshened with a 304's (or a HEAD 200's): every field of the new response
 * replaces all stored lines of that name, except the fields in NOT_UPDATED_FROM_304 and those the new response's
 * Connection lists; the other stored fields are kept. The stored Age is dropped when the 304 has none: the age of
 * the freshened response is that of the 304 (RFC 9111 §4.2.3), and caches generate Age when serving (§4).
 * Fields named by a qualified private / no-cache in the result are removed (RFC 9111 §3.1).
 * https://www.rfc-editor.org/rfc/rfc9111#section-3.2 and #section-4.3.4
 */
export function updateStoredHeaders(stored: Headers, fresh304: Headers): Headers {
  const result: Headers = {};
  for (const [name, value] of Object.entries(stored)) {
    if (value !== undefined) result[name] = copyValue(value);
  }
  const listed = connectionTokens(fresh304['connection']);
  for (const [rawName, value] of Object.entries(fresh304)) {
    const name = rawName.toLowerCase();
    if (value === undefined || NOT_UPDATED_FROM_304.has(name) || listed?.has(name)) continue;
    result[name] = copyValue(value);
  }
  if (fresh304['age'] === undefined) delete result['age'];
  for (const name of fieldsToStrip({ headers: result })) delete result[name];
  return result;
}

/**
 * Precondition fields for revalidating a stored response: its entity-tag in If-None-Match (MUST, quoted if the
 * origin sent it unquoted) and its Last-Modified in If-Modified-Since (sending both is allowed; origins that only
 * understand dates still answer 304). Invalid Last-Modified dates are not sent. The ETag is read as origins send it
 * (readOriginEntityTag). `now` (ms) places rfc850 two-digit years; default: the wall clock.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.3.1 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
 */
export function validatorsFor(stored: Headers, now: number = Date.now()): Headers {
  const out: Headers = {};
  const etag = readOriginEntityTag(firstFieldLine(stored, 'etag'));
  if (etag !== undefined) out['if-none-match'] = formatEntityTag(etag);
  const lastModified = firstFieldLine(stored, 'last-modified');
  if (lastModified !== undefined && isHttpDate(lastModified, now)) {
    out['if-modified-since'] = lastModified.trim();
  }
  return out;
}

/**
 * Does a 304 identify this stored response for update? (RFC 9111 §4.3.4)
 * - a strong entity-tag in the 304: the stored one must be strong and equal (strong comparison); otherwise the
 *   cache "MUST NOT use the new response to update any stored responses";
 * - a weak entity-tag: weak comparison with the stored entity-tag;
 * - no entity-tag but Last-Modified: the same instant as the stored Last-Modified;
 * - no validator at all: the 304 answered a conditional request built from this one stored response alone
 *   (we revalidate one stored response at a time), so it is the only candidate and is selected.
 * `now` (ms) places rfc850 two-digit years, the same for both dates; default: the wall clock.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4 and https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
 */
export function selectedByValidators(stored: Headers, res304: Headers, now: number = Date.now()): boolean {
  const newTag = readOriginEntityTag(firstFieldLine(res304, 'etag'));
  if (newTag !== undefined) {
    const storedTag = readOriginEntityTag(firstFieldLine(stored, 'etag'));
    if (storedTag === undefined) return false;
    return newTag.weak ? isWeakMatch(storedTag, newTag) : isStrongMatch(storedTag, newTag);
  }
  const newLastModified = firstFieldLine(res304, 'last-modified');
  if (newLastModified !== undefined) {
    const storedLastModified = firstFieldLine(stored, 'last-modified');
    if (storedLastModified === undefined) return false;
    const a = parseHttpDate(newLastModified, now);
    const b = parseHttpDate(storedLastModified, now);
    return a !== undefined && a === b;
  }
  return true;
}

// Validation: conditional request fields from a stored response, matching a 304 to it, and freshening its header
// fields (RFC 9111 §3.2, §4.3.1, §4.3.4; RFC 9110 §8.8.3).
import { combineFieldLines, firstFieldLine, splitList } from './cache-control.js';
import { parseHttpDate } from './freshness.js';
import { fieldsToStrip, NEVER_STORED_FIELDS } from './storable.js';
import type { Headers } from './types.js';

/**
 * Fields a 304 does not update:
 * - Content-Length (RFC 9111 §3.2);
 * - fields excepted from storage (hop-by-hop, proxy-specific: RFC 9111 §3.1);
 * - fields describing the stored bytes, which a 304 cannot change (Content-Encoding, Transfer-Encoding) and
 *   Content-Range, "automatically processed and removed" (RFC 9111 §3.2 allows omitting these for integrity);
 * - Set-Cookie / Set-Cookie2: a response setting cookies is never stored (product decision, see decideStore), so a
 *   304 must not smuggle one into a stored response served to everybody; the handler may still pass it on to the
 *   client whose request triggered the revalidation.
 * https://www.rfc-editor.org/rfc/rfc9111#section-3.2
 */
export const NOT_UPDATED_FROM_304: ReadonlySet<string> = new Set([
  'content-length', 'content-encoding', 'transfer-encoding', 'content-range', 'set-cookie', 'set-cookie2',
  ...NEVER_STORED_FIELDS,
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
  const connection = combineFieldLines(fresh304['connection']);
  const listed = new Set(connection === undefined ? [] : splitList(connection).map((n) => n.toLowerCase()));
  for (const [rawName, value] of Object.entries(fresh304)) {
    const name = rawName.toLowerCase();
    if (value === undefined || NOT_UPDATED_FROM_304.has(name) || listed.has(name)) continue;
    result[name] = copyValue(value);
  }
  if (fresh304['age'] === undefined) delete result['age'];
  for (const name of fieldsToStrip({ headers: result })) delete result[name];
  return result;
}

/** A parsed entity-tag (RFC 9110 §8.8.3); `opaque` keeps its double quotes. */
interface ParsedEtag {
  weak: boolean;
  opaque: string;
}

/**
 * Parses an ETag field value. Unquoted values (a common origin mistake) are read as if quoted.
 * https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
 */
function parseEtag(value: string | undefined): ParsedEtag | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^W\/"[^"]*"$/.test(text)) return { weak: true, opaque: text.slice(2) };
  if (/^"[^"]*"$/.test(text)) return { weak: false, opaque: text };
  if (!text.includes('"')) return { weak: false, opaque: `"${text}"` };
  return { weak: false, opaque: text }; // malformed: compared verbatim
}

function formatEtag(tag: ParsedEtag): string {
  return tag.weak ? `W/${tag.opaque}` : tag.opaque;
}

/**
 * Precondition fields for revalidating a stored response: its entity-tag in If-None-Match (MUST, quoted if the
 * origin sent it unquoted) and its Last-Modified in If-Modified-Since (sending both is allowed; origins that only
 * understand dates still answer 304). Invalid Last-Modified dates are not sent.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.3.1 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
 */
export function validatorsFor(stored: Headers): Headers {
  const out: Headers = {};
  const etag = parseEtag(firstFieldLine(stored, 'etag'));
  if (etag !== undefined) out['if-none-match'] = formatEtag(etag);
  const lastModified = firstFieldLine(stored, 'last-modified');
  if (lastModified !== undefined && parseHttpDate(lastModified, 0) !== undefined) {
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
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4 and https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
 */
export function selectedByValidators(stored: Headers, res304: Headers): boolean {
  const newTag = parseEtag(firstFieldLine(res304, 'etag'));
  if (newTag !== undefined) {
    const storedTag = parseEtag(firstFieldLine(stored, 'etag'));
    if (storedTag === undefined) return false;
    if (!newTag.weak) return !storedTag.weak && storedTag.opaque === newTag.opaque;
    return storedTag.opaque === newTag.opaque;
  }
  const newLastModified = firstFieldLine(res304, 'last-modified');
  if (newLastModified !== undefined) {
    const storedLastModified = firstFieldLine(stored, 'last-modified');
    if (storedLastModified === undefined) return false;
    const a = parseHttpDate(newLastModified, 0);
    const b = parseHttpDate(storedLastModified, 0);
    return a !== undefined && a === b;
  }
  return true;
}

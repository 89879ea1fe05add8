// Content codings the edge adds itself (gzip, br): which responses may be compressed, which coding a request gets, and
// the fields of a compressed representation (Content-Encoding, Vary, a distinct ETag). Pure: no zlib, no I/O.
import { combineFieldLines, parseCacheControl } from './cache-control.js';
import { normalizeAcceptEncoding, parseVary } from './vary.js';

export type EdgeCoding = 'br' | 'gzip';

/** Media types compressed when a zone's `compress.types` is not given: text and the text-like application types. */
export const DEFAULT_COMPRESS_TYPES: readonly string[] = Object.freeze([
  'text/*', 'application/json', 'application/javascript', 'application/x-javascript', 'application/ecmascript',
  'application/xml', 'application/xhtml+xml', 'application/rss+xml', 'application/atom+xml', 'application/ld+json',
  'application/manifest+json', 'application/geo+json', 'application/wasm', 'application/vnd.ms-fontobject',
  'image/svg+xml', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/bmp', 'font/ttf', 'font/otf',
]);

/** A zone's compression settings, compiled once. */
export interface CodingPolicy {
  /** Exact media types (lowercase) and `type/` prefixes of `type/*` patterns. */
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  readonly minBytes: number;
  readonly brotliQuality: number;
}

export function compileCodingPolicy(o: { types: readonly string[]; minBytes: number; brotliQuality: number }): CodingPolicy {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const t of o.types) {
    const p = t.trim().toLowerCase();
    if (p.endsWith('/*')) prefixes.push(p.slice(0, -1)); else exact.add(p);
  }
  return { exact, prefixes, minBytes: o.minBytes, brotliQuality: o.brotliQuality };
}

/** The media type of a Content-Type value: type/subtype, lowercased, without parameters (RFC 9110 §8.3.1). */
export function mediaTypeOf(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const semi = v.indexOf(';');
  return (semi === -1 ? v : v.slice(0, semi)).trim().toLowerCase();
}

/** Never compressed whatever the list says: an event stream must reach the client as each event is written. */
const NEVER: ReadonlySet<string> = new Set(['text/event-stream']);

export function isCompressibleType(policy: CodingPolicy, contentType: string | string[] | undefined): boolean {
  const t = mediaTypeOf(contentType);
  if (t === undefined || t === '' || NEVER.has(t)) return false;
  if (policy.exact.has(t)) return true;
  for (const p of policy.prefixes) if (t.startsWith(p)) return true;
  return false;
}

/**
 * Whether the edge may compress a stored response: a 200 whose content is in identity (no Content-Encoding, RFC 9110
 * §8.4), a complete body (no Content-Range), of a compressible type, not marked `no-transform` (RFC 9111 §5.2.2.6: "an
 * intermediary ... MUST NOT transform the content"), and not smaller than minBytes (`length` undefined: not known yet).
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.6
 */
export function canCompress(policy: CodingPolicy, status: number, fields: Record<string, string | string[] | undefined>, length: number | undefined): boolean {
  if (status !== 200) return false;
  if (length !== undefined && length < policy.minBytes) return false;
  const ce = combineFieldLines(fields['content-encoding']);
  if (ce !== undefined && ce.trim().toLowerCase() !== 'identity' && ce.trim() !== '') return false;
  if (fields['content-range'] !== undefined) return false;
  if (!isCompressibleType(policy, fields['content-type'])) return false;
  return !parseCacheControl(fields['cache-control']).has('no-transform');
}

const BOTH: readonly EdgeCoding[] = Object.freeze(['br', 'gzip']);
const BR: readonly EdgeCoding[] = Object.freeze(['br']);
const GZIP: readonly EdgeCoding[] = Object.freeze(['gzip']);
const NONE: readonly EdgeCoding[] = Object.freeze([]);

/**
 * The codings a request accepts, best first, folded to the ones the edge makes (normalizeAcceptEncoding: `br, gzip`,
 * `br`, `gzip` or identity; RFC 9110 §12.5.3), so any Accept-Encoding selects one of at most three representations.
 * https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
 */
export function acceptedCodings(value: string | string[] | undefined): readonly EdgeCoding[] {
  const v = combineFieldLines(value);
  if (v === undefined) return NONE;
  switch (normalizeAcceptEncoding(v)) {
    case 'br, gzip': return BOTH;
    case 'br': return BR;
    case 'gzip': return GZIP;
    default: return NONE;
  }
}

/**
 * The ETag of a compressed representation: the coding appended inside the quotes (`"abc"` → `"abc-gzip"`, weakness
 * kept), since a strong validator must differ between representations (RFC 9110 §8.8.3) and a compressed one is not
 * the identity one. https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
 */
export function codedEntityTag(etag: string, coding: EdgeCoding): string {
  const t = etag.trim();
  if (t.length < 2 || t[t.length - 1] !== '"') return t;
  return `${t.slice(0, -1)}-${coding}"`;
}

/** Vary with accept-encoding added unless it is listed (RFC 9110 §12.5.5); '*' stays '*'. */
export function varyWithAcceptEncoding(vary: string | string[] | undefined): string {
  const combined = combineFieldLines(vary);
  if (combined === undefined || combined.trim() === '') return 'Accept-Encoding';
  const names = parseVary(combined);
  if (names === '*' || names.includes('accept-encoding')) return combined;
  return `${combined}, Accept-Encoding`;
}

/**
 * The fields of a representation: the stored ones with Vary naming Accept-Encoding, and for a coding also
 * Content-Encoding, its own Content-Length and a distinct ETag. Flat [name, value, ...] as writeHead takes them.
 */
export function representationFields(fields: readonly [string, string][], coding: EdgeCoding | undefined, length: number): string[] {
  const out: string[] = [];
  const varies: string[] = [];
  for (const [n, v] of fields) {
    if (n === 'vary') { varies.push(v); continue; }
    if (coding !== undefined && (n === 'content-length' || n === 'content-encoding')) continue;
    out.push(n, coding !== undefined && n === 'etag' ? codedEntityTag(v, coding) : v);
  }
  if (coding !== undefined) out.push('content-encoding', coding, 'content-length', String(length));
  out.push('vary', varyWithAcceptEncoding(varies.length === 0 ? undefined : varies));
  return out;
}

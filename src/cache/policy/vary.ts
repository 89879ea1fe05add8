// Vary parsing and normalisation of selecting header field values (RFC 9111 §4.1, RFC 9110 §12.5.5).
import { combineFieldLines, splitList } from './cache-control.js';

/**
 * The selecting header field names a response nominates: lowercased, trimmed, deduplicated, in order.
 * A member "*" anywhere (in any field line) yields '*', which "always fails to match".
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.1 and https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
 */
export function parseVary(value: string | string[] | undefined): string[] | '*' {
  const combined = combineFieldLines(value);
  if (combined === undefined) return [];
  const names: string[] = [];
  for (const member of splitList(combined)) {
    const name = member.toLowerCase();
    if (name === '*') return '*';
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** Whether a Vary value has a `*` member (parseVary(value) === '*'), without parsing one that has no `*` at all. */
export function isVaryStar(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string' && !value.includes('*')) return false;
  return parseVary(value) === '*';
}

/** Fields whose members are order-insensitive, case-insensitive tokens with optional weights (RFC 9110 §12.5). */
const WEIGHTED_TOKEN_LISTS = new Set(['accept-encoding', 'accept-language']);

/** A weight (RFC 9110 §12.4.2): qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ). */
const QVALUE_RE = /^q\s*=\s*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Accept-Encoding as this cache tells it apart: which of the codings it keeps apart (br, gzip) the request accepts
 * with a weight above 0, as `br, gzip`, `br` or `gzip`, else `identity`. Every other value (junk, other codings,
 * other weights) falls into one of these four, so a URL that varies on Accept-Encoding has at most five variants
 * (with absent), however many values clients send; Varnish keeps one (it asks for gzip and gunzips itself) and Fastly
 * one per best coding (https://www.fastly.com/documentation/reference/http/http-headers/Accept-Encoding/).
 * A set rather than the best coding alone: an origin without br still answers `br, gzip` with gzip.
 * The forwarded request carries this same value (http/headers.ts forwardHeaders), so the origin can only answer with
 * a coding the key selected. Rules (RFC 9110 §12.5.3): "*" stands for codings not listed; "x-gzip" is gzip (§8.4.1.3);
 * a member with an invalid weight is ignored; an empty value accepts no coding: identity.
 * https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
 */
export function normalizeAcceptEncoding(value: string): string {
  let br = -1;
  let gzip = -1;
  let any = -1;
  for (const member of value.toLowerCase().split(',')) {
    const semi = member.indexOf(';');
    const coding = (semi === -1 ? member : member.slice(0, semi)).trim();
    if (coding !== 'br' && coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue;
    let q = 1;
    if (semi !== -1) {
      const m = QVALUE_RE.exec(member.slice(semi + 1).trim());
      if (m === null) continue;
      q = Number(m[1]);
    }
    if (coding === 'br') br = Math.max(br, q);
    else if (coding === '*') any = Math.max(any, q);
    else gzip = Math.max(gzip, q);
  }
  const hasBr = (br === -1 ? any : br) > 0;
  const hasGzip = (gzip === -1 ? any : gzip) > 0;
  return hasBr ? (hasGzip ? 'br, gzip' : 'br') : hasGzip ? 'gzip' : 'identity';
}

/**
 * Normalises one weighted member: lowercase (codings and language tags are case-insensitive, RFC 9110 §8.4.1,
 * §8.5.1), no whitespace around ';' / '=', and the weight written canonically (q=1 is the default and dropped,
 * q=0.50 → q=0.5). Invalid weights are kept verbatim.
 * https://www.rfc-editor.org/rfc/rfc9110#section-12.4.2
 */
function normalizeWeightedMember(member: string): string {
  const [head = '', ...params] = member.split(';').map((p) => p.trim().toLowerCase());
  const kept: string[] = [];
  for (const param of params) {
    if (param === '') continue;
    const eq = param.indexOf('=');
    const name = (eq < 0 ? param : param.slice(0, eq)).trim();
    const value = eq < 0 ? '' : param.slice(eq + 1).trim();
    if (name === 'q' && /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(value)) {
      const weight = Number(value);
      if (weight !== 1) kept.push(`q=${weight}`);
      continue;
    }
    kept.push(eq < 0 ? name : `${name}=${value}`);
  }
  return [head, ...kept].join(';');
}

/**
 * Normalises a request's value of a selecting header field so that two requests match when their values can be
 * transformed into each other by the RFC's allowed transformations (RFC 9111 §4.1):
 * - field lines combined with ", " (RFC 9110 §5.3);
 * - whitespace around list commas (outside quoted strings) folded, leading/trailing whitespace removed;
 * - accept-encoding: to the codings the cache tells apart (normalizeAcceptEncoding);
 * - accept-language: members lowercased, weights canonical, sorted and deduplicated
 *   (order is not significant: preference is expressed by the weights).
 * Absent stays absent (undefined) and empty stays empty (''): "If (after any normalization ...) a header field is
 * absent from a request, it can only match another request if it is also absent there."
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.1
 */
export function normalizeVaryValue(name: string, value: string | string[] | undefined): string | undefined {
  // Fast path (every lookup of a one-value field such as Origin): nothing to split, sort or fold.
  if (typeof value === 'string' && value.indexOf(',') === -1 && !WEIGHTED_TOKEN_LISTS.has(name)) return value.trim();
  const combined = combineFieldLines(value); // an empty array (no field line) is absent
  if (combined === undefined) return undefined;
  if (name === 'accept-encoding' || name.toLowerCase() === 'accept-encoding') return normalizeAcceptEncoding(combined);
  const members = splitList(combined);
  if (WEIGHTED_TOKEN_LISTS.has(name.toLowerCase())) {
    const normalized = [...new Set(members.map(normalizeWeightedMember))].filter((m) => m !== '');
    return normalized.sort().join(', ');
  }
  return members.join(', ');
}

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

/** Fields whose members are order-insensitive, case-insensitive tokens with optional weights (RFC 9110 §12.5). */
const WEIGHTED_TOKEN_LISTS = new Set(['accept-encoding', 'accept-language']);

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
 * - accept-encoding / accept-language: members lowercased, weights canonical, sorted and deduplicated
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
  const members = splitList(combined);
  if (WEIGHTED_TOKEN_LISTS.has(name.toLowerCase())) {
    const normalized = [...new Set(members.map(normalizeWeightedMember))].filter((m) => m !== '');
    return normalized.sort().join(', ');
  }
  return members.join(', ');
}

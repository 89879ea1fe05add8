// Parsing of Cache-Control-style fields, delta-seconds and field lists (RFC 9111 §1.2.2, §5.2; RFC 9110 §5.6).
import { isTchar, isToken } from '../../http/fields.js';
import type { Directives, Headers } from './types.js';

/** The largest delta-seconds a cache needs to represent; larger values saturate to it. */
export const DELTA_SECONDS_MAX = 2_147_483_648;

/**
 * The value of a field with all its lines combined, as RFC 9110 §5.3 allows for list-based fields.
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.3
 */
export function combineFieldLines(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  // Anything but a string or an array of them (undefined, or what a map inherits from Object.prototype) is absent.
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return value.join(', ');
}

/** `headers[name]` with multiple lines combined (name must be lowercase). */
export function fieldValue(headers: Headers, name: string): string | undefined {
  return combineFieldLines(headers[name]);
}

/**
 * The first field line of a singleton field (Age, Date, Expires, ETag, ...).
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.1 ("use the first field line")
 */
export function firstFieldLine(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  if (typeof value === 'string') return value;
  return Array.isArray(value) ? value[0] : undefined;
}

function isOws(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

/** Reads a quoted-string starting at `start` (which holds '"'); returns the unescaped value and the end index. */
function readQuotedString(input: string, start: number): { value: string; end: number } | undefined {
  let out = '';
  for (let i = start + 1; i < input.length; i++) {
    const ch = input[i];
    if (ch === '\\') {
      i++;
      if (i >= input.length) return undefined;
      out += input[i];
    } else if (ch === '"') {
      return { value: out, end: i + 1 };
    } else {
      out += ch;
    }
  }
  return undefined; // unterminated
}

/** Index of the next top-level comma at or after `from` (commas inside quoted strings do not count). */
function skipToComma(input: string, from: number): number {
  let inQuotes = false;
  for (let i = from; i < input.length; i++) {
    const ch = input[i];
    if (inQuotes) {
      if (ch === '\\') i++;
      else if (ch === '"') inQuotes = false;
    } else if (ch === '"') {
      inQuotes = true;
    } else if (ch === ',') {
      return i;
    }
  }
  return input.length;
}

/** Directives whose qualified forms list field names; an unqualified occurrence is the most restrictive. */
const FIELD_LIST_DIRECTIVES = new Set(['no-cache', 'private']);

function record(out: Map<string, string | true>, name: string, value: string | true): void {
  const previous = out.get(name);
  if (previous === undefined) {
    out.set(name, value);
    return;
  }
  // "If directives conflict ..., the most restrictive directive should be honored":
  // unqualified no-cache / private wins over a qualified one, field lists are merged.
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1
  if (FIELD_LIST_DIRECTIVES.has(name)) {
    if (previous === true || value === true) out.set(name, true);
    else out.set(name, `${previous}, ${value}`);
  }
  // Any other repeated directive: "the first occurrence should be used".
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1
}

/**
 * Parses `Cache-Control = #cache-directive; cache-directive = token [ "=" ( token / quoted-string ) ]`.
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.2
 *
 * - names are compared case-insensitively (lowercased here);
 * - arguments may be tokens or quoted-strings ("recipients ought to accept both forms"), quoted ones are unescaped;
 * - commas inside quoted strings do not split directives; multiple field lines are combined;
 * - a directive whose argument is malformed (e.g. `max-age =5`, `max-age= 5`, unterminated quote) is kept
 *   with value `true`: present, but without a usable argument, so numeric ones count as invalid (stale) and
 *   no-cache / private become their most restrictive unqualified form;
 * - repeated directives: first occurrence wins, except no-cache / private (see `record`).
 */
export function parseCacheControl(value: string | string[] | undefined): Directives {
  const input = combineFieldLines(value);
  if (input === undefined) return NO_DIRECTIVES;
  // Origins repeat a few values (`public, max-age=3600`) on every response, and one response is read three times
  // (storable, freshness, fields to strip): each distinct short value is parsed once.
  if (input.length > PARSED_VALUE_MAX) return parseDirectives(input);
  let known = PARSED.get(input);
  if (known === undefined) {
    known = parseDirectives(input);
    if (PARSED.size >= PARSED_MAX) PARSED.clear();
    PARSED.set(input, known);
  }
  return known;
}

/** No directives (an absent field): one shared, read-only map. */
const NO_DIRECTIVES: Directives = new Map();
/** Parsed values remembered (origins choose them: bounded, started over when full), and the longest one remembered. */
const PARSED = new Map<string, Directives>();
const PARSED_MAX = 512;
const PARSED_VALUE_MAX = 256;

function parseDirectives(input: string): Directives {
  const out = new Map<string, string | true>();
  let i = 0;
  while (i < input.length) {
    while (i < input.length && (isOws(input[i]) || input[i] === ',')) i++; // empty list elements are allowed
    if (i >= input.length) break;
    const nameStart = i;
    while (i < input.length && isTchar(input[i])) i++;
    if (i === nameStart) {
      i = skipToComma(input, i) + 1; // not a token: ignore this element
      continue;
    }
    const name = input.slice(nameStart, i).toLowerCase();
    let argument: string | true = true;
    let malformed = false;
    if (input[i] === '=') {
      i++;
      if (input[i] === '"') {
        const quoted = readQuotedString(input, i);
        if (quoted === undefined) {
          malformed = true;
        } else {
          argument = quoted.value;
          i = quoted.end;
        }
      } else {
        const valueStart = i;
        while (i < input.length && isTchar(input[i])) i++;
        if (i === valueStart) malformed = true;
        else argument = input.slice(valueStart, i);
      }
    }
    if (!malformed) {
      while (i < input.length && isOws(input[i])) i++;
      if (i < input.length && input[i] !== ',') malformed = true;
    }
    record(out, name, malformed ? true : argument);
    i = skipToComma(input, i) + 1;
  }
  return out;
}

/**
 * `delta-seconds = 1*DIGIT`; values beyond 2^31 saturate to 2147483648.
 * Returns undefined for absent or invalid values (negative, decimal, quoted with apostrophes, alphanumeric, ...).
 * https://www.rfc-editor.org/rfc/rfc9111#section-1.2.2
 */
export function deltaSeconds(value: string | true | undefined): number | undefined {
  if (value === undefined || value === true) return undefined;
  if (!/^[0-9]+$/.test(value)) return undefined;
  const digits = value.replace(/^0+(?=[0-9])/, '');
  if (digits.length > 10) return DELTA_SECONDS_MAX;
  return Math.min(Number(digits), DELTA_SECONDS_MAX);
}

/**
 * The field names listed in a qualified no-cache / private argument (`#field-name`), lowercased.
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4 and #section-5.2.2.7
 */
export function fieldNameList(value: string | true | undefined): string[] {
  if (value === undefined || value === true) return [];
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (isToken(name) && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Splits a list-based field value on top-level commas (RFC 9110 §5.6.1), trimming OWS and dropping empty members.
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1
 */
export function splitList(value: string): string[] {
  const members: string[] = [];
  let i = 0;
  while (i <= value.length) {
    const end = skipToComma(value, i);
    const member = value.slice(i, end).trim();
    if (member !== '') members.push(member);
    i = end + 1;
  }
  return members;
}

// Targeted cache-control fields (RFC 9213): which response field governs this cache, and its Structured Field parsing.
import { isTchar } from '../../http/fields.js';
import { combineFieldLines, parseCacheControl } from './cache-control.js';
import type { Directives, DirectivesSource, Headers } from './types.js';

/**
 * Our target list, most applicable first (RFC 9213 §2.2), ending with the Cache-Control fallback.
 * https://www.rfc-editor.org/rfc/rfc9213#section-2.2
 */
export const TARGET_LIST = ['cloudflare-cdn-cache-control', 'cdn-cache-control', 'surrogate-control'] as const;

/**
 * Targeted fields consumed here and not forwarded to clients. CDN-Cache-Control is forwarded (RFC 9213 §3:
 * "CDN caches ... will typically forward this header"), as Cloudflare documents.
 * https://www.rfc-editor.org/rfc/rfc9213#section-3
 */
export const NOT_FORWARDED_TO_CLIENTS = ['cloudflare-cdn-cache-control', 'surrogate-control'];

/** Directives whose argument is delta-seconds (an sf-integer in a targeted field). */
const INTEGER_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);

/** Surrogate-Control directives that make the field govern caching (a lone `content="ESI/1.0"` does not). */
const SURROGATE_CACHING_DIRECTIVES = [
  'max-age', 's-maxage', 'no-store', 'no-cache', 'private', 'public', 'must-revalidate',
  'proxy-revalidate', 'stale-while-revalidate', 'stale-if-error', 'must-understand',
];

export interface SelectedDirectives {
  directives: Directives;
  source: DirectivesSource;
}

/**
 * Picks the field that governs caching for this cache: the first valid, non-empty field of the target list,
 * else Cache-Control. When a targeted field is used, Cache-Control and Expires are ignored by this cache.
 * https://www.rfc-editor.org/rfc/rfc9213#section-2.2
 */
export function selectResponseCacheControl(headers: Headers): SelectedDirectives {
  for (const source of TARGET_LIST) {
    const raw = combineFieldLines(headers[source]);
    if (raw === undefined || raw.trim() === '') continue; // empty: ignored (RFC 9213 §2.1)
    if (source === 'surrogate-control') {
      // Surrogate-Control (W3C Edge Architecture) is not a Structured Field; it uses Cache-Control syntax.
      const directives = parseCacheControl(raw);
      if (SURROGATE_CACHING_DIRECTIVES.some((d) => directives.has(d))) return { directives, source };
      continue;
    }
    const directives = parseTargetedField(raw);
    if (directives !== undefined) return { directives, source };
  }
  return cacheControlSelected(parseCacheControl(headers['cache-control']));
}

/**
 * Cache-Control's selection for parsed directives: parseCacheControl returns the same (read-only) directives for the
 * same value, and one response is read three times (storable, freshness, fields to strip): no new object per call.
 */
let lastDirectives: Directives | undefined;
let lastSelected: SelectedDirectives | undefined;
function cacheControlSelected(directives: Directives): SelectedDirectives {
  if (directives !== lastDirectives || lastSelected === undefined) {
    lastDirectives = directives;
    lastSelected = Object.freeze({ directives, source: 'cache-control' as const });
  }
  return lastSelected;
}

/**
 * Parses a targeted field as an sf-dictionary and maps its members to directives (RFC 9213 §2.1).
 * Returns undefined when the field is empty or fails to parse ("that field MUST be ignored").
 * Values of the wrong type for delta-seconds directives (String, Decimal, Token, ...) are "not consumed":
 * they become `true`, i.e. present without a usable value, which the freshness rules treat as invalid (stale).
 * https://www.rfc-editor.org/rfc/rfc9213#section-2.1
 */
export function parseTargetedField(value: string | string[] | undefined): Directives | undefined {
  const raw = combineFieldLines(value);
  if (raw === undefined) return undefined;
  const dict = parseSfDictionary(raw);
  if (dict === undefined || dict.size === 0) return undefined;
  const directives = new Map<string, string | true>();
  for (const [key, item] of dict) {
    if (item.type === 'boolean') {
      if (item.value) directives.set(key, true); // `?0` violates "always has a boolean true value": not consumed
    } else if (INTEGER_DIRECTIVES.has(key)) {
      directives.set(key, item.type === 'integer' ? String(item.value) : true);
    } else if (item.type === 'string' || item.type === 'token') {
      directives.set(key, item.value);
    } else if (item.type === 'integer' || item.type === 'decimal') {
      directives.set(key, item.text);
    } else {
      directives.set(key, true);
    }
  }
  return directives;
}

// ---- RFC 8941 Structured Field Values: just enough to parse a Dictionary -------------------------------------

export type SfBareItem =
  | { type: 'integer'; value: number; text: string }
  | { type: 'decimal'; value: number; text: string }
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'binary'; value: string }
  | { type: 'boolean'; value: boolean }
  | { type: 'inner-list' };

class SfParseError extends Error {
  readonly code = 'SF_PARSE_ERROR';
}

/**
 * Parses an sf-dictionary (RFC 8941 §4.2.2). Returns undefined on any parse error. Parameters are parsed and
 * dropped ("Parameters received on directives are to be ignored", RFC 9213 §2.1); a repeated key overwrites.
 * https://www.rfc-editor.org/rfc/rfc8941#section-4.2.2
 */
export function parseSfDictionary(input: string): Map<string, SfBareItem> | undefined {
  const parser = new SfParser(input);
  try {
    return parser.dictionary();
  } catch (err) {
    if (err instanceof SfParseError) return undefined;
    throw err;
  }
}

class SfParser {
  private pos = 0;
  constructor(private readonly input: string) {}

  dictionary(): Map<string, SfBareItem> {
    const out = new Map<string, SfBareItem>();
    this.skipSp();
    while (this.pos < this.input.length) {
      const key = this.key();
      let item: SfBareItem;
      if (this.peek() === '=') {
        this.pos++;
        item = this.peek() === '(' ? this.innerList() : this.bareItem();
      } else {
        item = { type: 'boolean', value: true };
      }
      this.parameters();
      out.set(key, item);
      this.skipOws();
      if (this.pos >= this.input.length) return out;
      if (this.peek() !== ',') this.fail();
      this.pos++;
      this.skipOws();
      if (this.pos >= this.input.length) this.fail(); // trailing comma
    }
    return out;
  }

  private peek(): string | undefined {
    return this.input[this.pos];
  }

  private fail(): never {
    throw new SfParseError(`invalid structured field at ${this.pos}`);
  }

  private skipSp(): void {
    while (this.peek() === ' ') this.pos++;
  }

  private skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private key(): string {
    const start = this.pos;
    if (!/[a-z*]/.test(this.peek() ?? '')) this.fail();
    this.pos++;
    while (/[a-z0-9_\-.*]/.test(this.peek() ?? '')) this.pos++;
    return this.input.slice(start, this.pos);
  }

  private parameters(): void {
    while (this.peek() === ';') {
      this.pos++;
      this.skipSp();
      this.key();
      if (this.peek() === '=') {
        this.pos++;
        this.bareItem();
      }
    }
  }

  private innerList(): SfBareItem {
    this.pos++; // '('
    for (;;) {
      this.skipSp();
      if (this.peek() === ')') {
        this.pos++;
        return { type: 'inner-list' };
      }
      this.bareItem();
      this.parameters();
      const next = this.peek();
      if (next !== ' ' && next !== ')') this.fail();
    }
  }

  private bareItem(): SfBareItem {
    const ch = this.peek();
    if (ch === undefined) this.fail();
    if (ch === '-' || /[0-9]/.test(ch)) return this.number();
    if (ch === '"') return this.string();
    if (ch === ':') return this.binary();
    if (ch === '?') return this.boolean();
    if (/[A-Za-z*]/.test(ch)) return this.token();
    return this.fail();
  }

  private number(): SfBareItem {
    const rest = this.input.slice(this.pos);
    const match = /^-?[0-9]+(\.[0-9]+)?/.exec(rest);
    if (match === null) return this.fail();
    const text = match[0];
    const [intPart = '', fracPart] = text.replace('-', '').split('.');
    if (fracPart === undefined) {
      if (intPart.length > 15) this.fail();
      this.pos += text.length;
      return { type: 'integer', value: Number(text), text };
    }
    if (intPart.length > 12 || fracPart.length > 3) this.fail();
    this.pos += text.length;
    return { type: 'decimal', value: Number(text), text };
  }

  private string(): SfBareItem {
    this.pos++; // opening quote
    let out = '';
    while (this.pos < this.input.length) {
      const ch = this.input[this.pos++] as string;
      if (ch === '\\') {
        const escaped = this.input[this.pos++];
        if (escaped !== '"' && escaped !== '\\') this.fail();
        out += escaped;
      } else if (ch === '"') {
        return { type: 'string', value: out };
      } else {
        const code = ch.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail();
        out += ch;
      }
    }
    return this.fail(); // unterminated
  }

  private token(): SfBareItem {
    const start = this.pos;
    this.pos++;
    // sf-token = ( ALPHA / "*" ) *( tchar / ":" / "/" ) (https://www.rfc-editor.org/rfc/rfc8941#section-3.3.4)
    for (let ch = this.peek(); ch !== undefined && (isTchar(ch) || ch === ':' || ch === '/'); ch = this.peek()) this.pos++;
    return { type: 'token', value: this.input.slice(start, this.pos) };
  }

  private binary(): SfBareItem {
    const end = this.input.indexOf(':', this.pos + 1);
    if (end === -1) this.fail();
    const body = this.input.slice(this.pos + 1, end);
    if (!/^[A-Za-z0-9+/=]*$/.test(body)) this.fail();
    this.pos = end + 1;
    return { type: 'binary', value: body };
  }

  private boolean(): SfBareItem {
    const value = this.input[this.pos + 1];
    if (value !== '0' && value !== '1') this.fail();
    this.pos += 2;
    return { type: 'boolean', value: value === '1' };
  }
}

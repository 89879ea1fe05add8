// The fast path's request-head parser: accepts only a strict, simple subset of HTTP/1.1 (RFC 9112 §2-§5) and
// declines everything else, so that whatever it accepts llhttp (node:http) parses the same way; the differential fuzz
// (test/fuzz/fast-parse-differential.ts) is the proof.
import { dropConnectionListed } from '../http/headers.js';

/** A request head as node:http would hand it to the handler: the fields the edge reads of an IncomingMessage. */
export interface FastRequest {
  method: 'GET' | 'HEAD';
  url: string;
  httpVersion: '1.1' | '1.0';
  /** Lowercased names → values (no name twice: a repeated name is declined), after Connection-listed fields are dropped. */
  headers: Record<string, string>;
  /** Field lines as received, [name, value, ...]. */
  rawHeaders: string[];
  /** The connection stays open after the answer (RFC 9112 §9.3: HTTP/1.1 unless close; HTTP/1.0 only with keep-alive). */
  keepAlive: boolean;
}

/** What parsing the start of a buffer gave: a request and where its head ended, or why the fast path declines. */
export type FastParse =
  | { kind: 'request'; req: FastRequest; end: number }
  /** No complete head yet (within `limit` bytes). */
  | { kind: 'partial' }
  /** Not for the fast path: node:http parses these bytes (and refuses them, when they are bad). */
  | { kind: 'decline' };

const PARTIAL: FastParse = Object.freeze({ kind: 'partial' });
const DECLINE: FastParse = Object.freeze({ kind: 'decline' });

const CR = 13;
const LF = 10;
const SP = 32;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[ch.charCodeAt(0)] = 1;
/**
 * Target characters accepted: RFC 3986 pchar and query characters (unreserved, sub-delims, ':', '@', '/', '?', '%').
 * Anything else ('#', '\', '"', '<', '>', '^', '`', '{', '|', '}', controls, non-ASCII) is declined.
 */
const TARGET = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%") TARGET[ch.charCodeAt(0)] = 1;

/** Request fields that change framing or the connection: a request carrying one is node:http's (RFC 9112 §6, §9.6). */
const DECLINED_FIELDS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'expect', 'upgrade', 'te', 'trailer', 'http2-settings', 'proxy-connection', 'keep-alive',
  // node:http gives Set-Cookie as an array, every other field as a string.
  'set-cookie']);

/**
 * Strings made from bytes of heads, kept by a hash of those bytes: a target, name or value a head repeats (the same
 * Host, Origin, URL, ...) is the same string each time, so parsing a head of repeated lines makes no string (and the
 * string keeps its hash for the Map lookups after). Direct-mapped and bounded: a colliding string replaces the older.
 */
const INTERN_SLOTS = 1024;
const INTERN_MAX = 128;
const interned: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);
/** The lowercase form of interned[i], when asked for. */
const lowered: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);

/** The field lines of the head being parsed (parsing is synchronous: one head at a time). */
const lines: string[] = [];

const slotOf = (hash: number, len: number): number => (hash ^ (hash >>> 13) ^ len) & (INTERN_SLOTS - 1);

/** buf[from, to) as a latin1 string; `hash`: the bytes' hash (h = h * 31 + byte, from 0). */
function textOf(buf: Buffer, from: number, to: number, hash: number): string {
  const len = to - from;
  if (len > INTERN_MAX) return buf.toString('latin1', from, to);
  const slot = slotOf(hash, len);
  const s = interned[slot];
  if (s !== undefined && s.length === len) {
    let i = 0;
    while (i < len && s.charCodeAt(i) === buf[from + i]) i++;
    if (i === len) return s;
  }
  const made = buf.toString('latin1', from, to);
  interned[slot] = made;
  lowered[slot] = undefined;
  return made;
}

/** `name` (from textOf with `hash`) lowercased, made once while it stays interned. */
function lowerOf(name: string, hash: number): string {
  const slot = slotOf(hash, name.length);
  if (interned[slot] !== name) return name.toLowerCase();
  return (lowered[slot] ??= name.toLowerCase());
}

/**
 * Parses the request head at the start of `buf` (up to `len` bytes), accepting only: `GET` or `HEAD`, SP, an
 * origin-form target of plain characters, SP, `HTTP/1.1` or `HTTP/1.0`, CRLF; field lines `name:` token, at most one
 * SP, a value of visible ASCII with single inner spaces (no leading or trailing whitespace, no HTAB, no obs-text),
 * CRLF; no name twice; none of DECLINED_FIELDS; Connection only `close` or `keep-alive`; then CRLF — all within
 * `maxHead` bytes. Anything else is declined (never refused): node:http decides.
 */
export function parseFastHead(buf: Buffer, start: number, len: number, maxHead: number): FastParse {
  const stop = start + len;
  let i = start;
  // Request line.
  let method: 'GET' | 'HEAD';
  if (len < 4) return buf[start] === 71 /* G */ || buf[start] === 72 /* H */ || len === 0 ? PARTIAL : DECLINE;
  if (buf[i] === 71 && buf[i + 1] === 69 && buf[i + 2] === 84 && buf[i + 3] === SP) { method = 'GET'; i += 4; }
  else if (buf[i] === 72 && buf[i + 1] === 69 && buf[i + 2] === 65 && buf[i + 3] === 68) {
    if (len < 5) return PARTIAL;
    if (buf[i + 4] !== SP) return DECLINE;
    method = 'HEAD'; i += 5;
  } else return DECLINE;
  const limit = Math.min(stop, start + maxHead);
  const targetStart = i;
  if (i < limit && buf[i] !== 47 /* / */) return DECLINE;
  let hash = 0;
  while (i < limit && TARGET[buf[i]!] === 1) { hash = (Math.imul(hash, 31) + buf[i]!) | 0; i++; }
  if (i >= limit) return stop >= start + maxHead ? DECLINE : PARTIAL;
  if (buf[i] !== SP || i === targetStart) return DECLINE;
  const url = textOf(buf, targetStart, i, hash);
  i++;
  // "HTTP/1.x" CRLF
  if (i + 10 > limit) return stop >= start + maxHead ? DECLINE : PARTIAL;
  if (buf[i] !== 72 || buf[i + 1] !== 84 || buf[i + 2] !== 84 || buf[i + 3] !== 80 || buf[i + 4] !== 47 || buf[i + 5] !== 49 || buf[i + 6] !== 46) return DECLINE;
  const minor = buf[i + 7];
  if ((minor !== 49 && minor !== 48) || buf[i + 8] !== CR || buf[i + 9] !== LF) return DECLINE;
  const httpVersion = minor === 49 ? '1.1' : '1.0';
  i += 10;

  // Field lines are gathered in `lines` and copied out at the end: an array of the exact length, where pushing onto
  // an empty one allocates room for 16.
  let count = 0;
  const headers: Record<string, string> = {};
  let connection: string | undefined;
  for (;;) {
    if (i + 2 > limit) return stop >= start + maxHead ? DECLINE : PARTIAL;
    if (buf[i] === CR) {
      if (buf[i + 1] !== LF) return DECLINE;
      i += 2;
      break;
    }
    const nameStart = i;
    let nameHash = 0;
    while (i < limit && TCHAR[buf[i]!] === 1) { nameHash = (Math.imul(nameHash, 31) + buf[i]!) | 0; i++; }
    if (i >= limit) return stop >= start + maxHead ? DECLINE : PARTIAL;
    if (buf[i] !== COLON || i === nameStart) return DECLINE;
    const name = textOf(buf, nameStart, i, nameHash);
    i++;
    if (i < limit && buf[i] === SP) i++;
    const valueStart = i;
    let valueHash = 0;
    // Visible ASCII, single spaces between visible characters.
    while (i < limit) {
      const c = buf[i]!;
      if ((c > SP && c < 127) || (c === SP && i > valueStart && i + 1 < limit && buf[i + 1]! > SP && buf[i + 1]! < 127)) {
        valueHash = (Math.imul(valueHash, 31) + c) | 0;
        i++;
        continue;
      }
      break;
    }
    if (i + 2 > limit) return stop >= start + maxHead ? DECLINE : PARTIAL;
    if (buf[i] !== CR || buf[i + 1] !== LF) return DECLINE;
    const value = textOf(buf, valueStart, i, valueHash);
    i += 2;
    const lower = lowerOf(name, nameHash);
    // A repeated name (node:http joins or drops repeats by its own rules) or one Object.prototype has: declined.
    if (DECLINED_FIELDS.has(lower) || lower in headers) return DECLINE;
    if (lower === 'connection') {
      connection = value.toLowerCase();
      if (connection !== 'close' && connection !== 'keep-alive') return DECLINE;
    }
    headers[lower] = value;
    lines[count++] = name;
    lines[count++] = value;
  }
  const rawHeaders = lines.slice(0, count);
  const keepAlive = httpVersion === '1.1' ? connection !== 'close' : connection === 'keep-alive';
  if (connection !== undefined) dropConnectionListed(headers);
  return { kind: 'request', req: { method, url, httpVersion, headers, rawHeaders, keepAlive }, end: i };
}

// Purge API request bodies: pure parse + validation of Cloudflare-shaped JSON into a typed PurgeRequest.
//
// Errors are PurgeErrors carrying a code and status from the admin API's catalogue (api-errors.ts).
//
// Decisions:
//  - Unknown extra fields are ignored, as Cloudflare does.
//  - A field whose value is null counts as absent; `"purge_everything": false` next to another kind is ignored.
//  - The URL scheme is ignored (http and https name the same cache entry), so both :80 and :443 are dropped.
//  - Paths and queries are kept byte-for-byte as written (no decoding, no dot-segment removal); characters that
//    cannot appear raw in a request-target (space, controls, non-ASCII) are refused rather than silently re-encoded.
//  - A file item with an empty `headers` object purges every variant, like a bare URL (purging more is the safe side).
//  - hosts/prefixes may carry an http(s):// scheme, which is dropped (people paste URLs); other schemes are refused.
import { API_ERRORS, type ApiErrorName } from './api-errors.js';

import { isToken } from '../http/fields.js';

export interface FileTarget {
  host: string;
  path: string;
  query: string;
  headers?: Record<string, string>;
}

export type PurgeRequest =
  | { kind: 'everything'; soft: boolean }
  | { kind: 'files'; files: FileTarget[]; soft: boolean }
  | { kind: 'tags'; tags: string[]; soft: boolean }
  | { kind: 'hosts'; hosts: string[]; soft: boolean }
  | { kind: 'prefixes'; prefixes: { host: string; pathPrefix: string }[]; soft: boolean };

/** A refused purge body: `code` and `status` are its entry in the admin API's error catalogue. */
export class PurgeError extends Error {
  override readonly name = 'PurgeError';
  readonly status: number;
  readonly code: number;
  constructor(readonly reason: ApiErrorName, message: string) {
    super(message);
    this.status = API_ERRORS[reason].status;
    this.code = API_ERRORS[reason].code;
  }
}

export interface ParsePurgeOptions {
  maxItems: number;
}

const KIND_FIELDS = ['purge_everything', 'files', 'tags', 'hosts', 'prefixes'] as const;
type KindField = (typeof KIND_FIELDS)[number];
const KIND_LIST = '"purge_everything", "files", "tags", "hosts" or "prefixes"';

/** Longest tag we accept; Cloudflare documents 1,024 characters as its limit. */
const MAX_TAG_LENGTH = 1024;
// RFC 9110 §5.5: CR, LF, NUL and other CTLs (except HTAB) are invalid in field values
// (https://www.rfc-editor.org/rfc/rfc9110#section-5.5)
const BAD_FIELD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
// Characters that never appear raw in an HTTP request-target (RFC 9112 §3.2): space, controls, non-ASCII.
const BAD_TARGET_CHAR_RE = /[^\x21-\x7e]/;
const ABSOLUTE_HTTP_RE = /^(https?):\/\/([^/?#\\]*)(.*)$/is;
const DEFAULT_PORTS = new Set(['80', '443']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(reason: ApiErrorName, message: string): PurgeError {
  return new PurgeError(reason, message);
}

/** Quotes a client-supplied value for an error message, bounded so a huge item cannot bloat the reply. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // JSON.stringify and Array#toString both recurse: a value too deep for either is described, not quoted.
    text = Array.isArray(value) ? 'a nested list' : typeof value === 'object' && value !== null ? 'a nested object' : typeof value;
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Deepest nesting of arrays and objects an admin API body may use (real purge and inspect bodies nest 3 deep). */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether `text` opens more than `max` arrays or objects inside each other: one linear pass, no recursion, brackets
 * inside strings skipped. Run before JSON.parse so no recursive walk (ours, JSON.stringify's) ever sees such a value.
 */
export function jsonNestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > max) return true; }
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * An admin API body as a JSON object (purge and inspect): UTF-8, not empty, at most MAX_JSON_DEPTH deep, an object.
 * `expected` says what to send, for the messages.
 */
export function parseJsonObjectBody(body: Buffer, expected: string): Record<string, unknown> | PurgeError {
  let parsed: unknown;
  try {
    const text = utf8.decode(body);
    if (text.trim() === '') return fail('malformedJson', `Malformed JSON in request body: the body is empty; send ${expected}`);
    if (jsonNestsDeeper(text, MAX_JSON_DEPTH)) {
      return fail('malformedJson', `Malformed JSON in request body: arrays and objects nested deeper than ${MAX_JSON_DEPTH} levels; send ${expected}`);
    }
    parsed = JSON.parse(text);
  } catch (err) {
    const why = err instanceof SyntaxError ? err.message : 'the body is not valid UTF-8';
    return fail('malformedJson', `Malformed JSON in request body: ${why}`);
  }
  if (!isPlainObject(parsed)) {
    return fail('malformedJson', `Malformed JSON in request body: expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : show(parsed)}`);
  }
  return parsed;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and validates a purge body. Returns the request, or a PurgeError describing the first problem. */
export function parsePurgeBody(body: Buffer, opts: ParsePurgeOptions): PurgeRequest | PurgeError {
  const parsed = parseJsonObjectBody(body, `a JSON object with one of ${KIND_LIST}`);
  if (parsed instanceof PurgeError) return parsed;

  let soft = false;
  if (parsed.soft !== undefined && parsed.soft !== null) {
    if (typeof parsed.soft !== 'boolean') return fail('invalidSoft', `"soft" must be true or false, got ${show(parsed.soft)}`);
    soft = parsed.soft;
  }

  const given = KIND_FIELDS.filter((f) => parsed[f] !== undefined && parsed[f] !== null);
  const kinds: KindField[] = given.length > 1 ? given.filter((f) => !(f === 'purge_everything' && parsed[f] === false)) : given;
  if (kinds.length === 0) {
    const nullList = KIND_FIELDS.find((f) => f !== 'purge_everything' && parsed[f] === null);
    if (nullList) return fail('notAList', `"${nullList}" must be a list, got null`);
    return fail('noSingleKind', `Request must contain one of ${KIND_LIST}`);
  }
  if (kinds.length > 1) {
    return fail('noSingleKind', `Request must contain exactly one of ${KIND_LIST}; got ${kinds.map((k) => `"${k}"`).join(' and ')}`);
  }
  const kind = kinds[0] as KindField;
  if (kind === 'purge_everything') {
    if (parsed.purge_everything !== true) {
      return fail('noSingleKind', `"purge_everything" must be true, got ${show(parsed.purge_everything)}`);
    }
    return { kind: 'everything', soft };
  }

  const list = parsed[kind];
  if (!Array.isArray(list)) return fail('notAList', `"${kind}" must be a list, got ${show(list)}`);
  if (list.length === 0) return fail('invalidItem', `"${kind}" is empty; name at least one item`);
  if (list.length > opts.maxItems) {
    return fail('tooManyItems', `"${kind}" has ${list.length} items; the limit is ${opts.maxItems} per request (split it into several requests)`);
  }

  switch (kind) {
    case 'files': {
      const files: FileTarget[] = [];
      for (let i = 0; i < list.length; i++) {
        const file = parseFileItem(list[i], i);
        if (file instanceof PurgeError) return file;
        files.push(file);
      }
      return { kind: 'files', files, soft };
    }
    case 'tags': {
      const tags: string[] = [];
      for (let i = 0; i < list.length; i++) {
        const tag = parseTag(list[i], i);
        if (tag instanceof PurgeError) return tag;
        tags.push(tag);
      }
      return { kind: 'tags', tags, soft };
    }
    case 'hosts': {
      const hosts: string[] = [];
      for (let i = 0; i < list.length; i++) {
        const host = parseHostItem(list[i], i);
        if (host instanceof PurgeError) return host;
        hosts.push(host);
      }
      return { kind: 'hosts', hosts, soft };
    }
    case 'prefixes': {
      const prefixes: { host: string; pathPrefix: string }[] = [];
      for (let i = 0; i < list.length; i++) {
        const prefix = parsePrefixItem(list[i], i);
        if (prefix instanceof PurgeError) return prefix;
        prefixes.push(prefix);
      }
      return { kind: 'prefixes', prefixes, soft };
    }
  }
}

/**
 * Canonical host[:port] from a raw authority: lowercased (IDN to punycode) by the WHATWG URL parser, and either
 * default port dropped whatever the scheme, since the cache key ignores the scheme. Returns null when invalid.
 */
export function canonicalAuthority(authority: string): string | null {
  if (authority === '' || /[\s@/?#\\]/.test(authority)) return null;
  let url: URL;
  try {
    url = new URL(`http://${authority}/`);
  } catch {
    return null;
  }
  if (url.hostname === '') return null;
  return url.port === '' || DEFAULT_PORTS.has(url.port) ? url.hostname : `${url.hostname}:${url.port}`;
}

function parseFileItem(item: unknown, i: number): FileTarget | PurgeError {
  const where = `files[${i}]`;
  let rawUrl: unknown = item;
  let rawHeaders: unknown;
  if (isPlainObject(item)) {
    rawUrl = item.url;
    rawHeaders = item.headers;
    if (typeof rawUrl !== 'string') {
      return fail('invalidItem', `${where}.url must be a URL string, got ${show(rawUrl)} (item ${show(item)})`);
    }
  } else if (typeof item !== 'string') {
    return fail('invalidItem', `${where} must be a URL string or {"url": ..., "headers": {...}}, got ${show(item)}`);
  }
  const target = parseFileUrl(rawUrl as string, where);
  if (target instanceof PurgeError) return target;
  if (rawHeaders === undefined || rawHeaders === null) return target;
  const headers = parseHeaders(rawHeaders, `${where}.headers`);
  if (headers instanceof PurgeError) return headers;
  return Object.keys(headers).length === 0 ? target : { ...target, headers };
}

/**
 * Splits an absolute http(s) URL into canonical host plus the raw path and query exactly as written (also inspect's
 * URL grammar). `where` names the field in error messages.
 */
export function parseFileUrl(raw: string, where: string): FileTarget | PurgeError {
  const m = ABSOLUTE_HTTP_RE.exec(raw);
  if (!m) {
    return fail('invalidItem', `${where} ${show(raw)} is not an absolute http(s) URL: it needs a scheme and a host, e.g. "https://cdn.example.com/app.js"`);
  }
  const authority = m[2] as string;
  const rest = m[3] as string;
  if (authority.includes('@')) return fail('invalidItem', `${where} ${show(raw)} must not contain user credentials`);
  const host = canonicalAuthority(authority);
  if (host === null) return fail('invalidItem', `${where} ${show(raw)} has an invalid host ${show(authority)}`);
  if (rest !== '' && !/^[/?#]/.test(rest)) {
    return fail('invalidItem', `${where} ${show(raw)} is not a valid URL: the path must start with "/"`);
  }
  const hashAt = rest.indexOf('#');
  const target = hashAt === -1 ? rest : rest.slice(0, hashAt); // a fragment is never sent to a server: dropped
  if (BAD_TARGET_CHAR_RE.test(target)) {
    return fail('invalidItem', `${where} ${show(raw)} contains a space, control or non-ASCII character in its path or query; percent-encode it as a browser would`);
  }
  const qAt = target.indexOf('?');
  const path = qAt === -1 ? target : target.slice(0, qAt);
  const query = qAt === -1 ? '' : target.slice(qAt + 1);
  return { host, path: path === '' ? '/' : path, query };
}

function parseHeaders(raw: unknown, where: string): Record<string, string> | PurgeError {
  if (!isPlainObject(raw)) return fail('invalidItem', `${where} must be an object of header names to string values, got ${show(raw)}`);
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    if (!isToken(name)) return fail('invalidItem', `${where}: ${show(name)} is not a valid header name`);
    if (typeof value !== 'string') return fail('invalidItem', `${where}[${show(name)}] must be a string, got ${show(value)}`);
    if (BAD_FIELD_VALUE_RE.test(value)) return fail('invalidItem', `${where}[${show(name)}] contains a control character (CR, LF, NUL, ...)`);
    const lower = name.toLowerCase();
    if (seen.has(lower)) return fail('invalidItem', `${where} names ${show(lower)} twice (header names are case-insensitive)`);
    seen.set(lower, value);
  }
  return Object.fromEntries(seen);
}

function parseTag(item: unknown, i: number): string | PurgeError {
  const where = `tags[${i}]`;
  if (typeof item !== 'string') return fail('invalidItem', `${where} must be a string, got ${show(item)}`);
  const tag = item.trim().toLowerCase();
  if (tag === '') return fail('invalidItem', `${where} ${show(item)} is empty`);
  if (tag.length > MAX_TAG_LENGTH) return fail('invalidItem', `${where} is ${tag.length} characters long; the limit is ${MAX_TAG_LENGTH}`);
  // Cache-Tag is a comma-separated list, so a tag with a comma (or a control character) could never match.
  if (tag.includes(',') || BAD_FIELD_VALUE_RE.test(tag)) {
    return fail('invalidItem', `${where} ${show(item)} contains a comma or control character; Cache-Tag values are comma-separated`);
  }
  return tag;
}

/** Drops an optional http(s):// scheme; returns null for any other scheme. */
function stripHttpScheme(raw: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (!m) return raw;
  return /^https?$/i.test(m[1] as string) ? raw.slice(m[0].length) : null;
}

function parseHostItem(item: unknown, i: number): string | PurgeError {
  const where = `hosts[${i}]`;
  if (typeof item !== 'string') return fail('invalidItem', `${where} must be a host name string, got ${show(item)}`);
  const bare = stripHttpScheme(item);
  const authority = bare?.endsWith('/') ? bare.slice(0, -1) : bare;
  const host = authority === null || authority === undefined ? null : canonicalAuthority(authority);
  if (host === null) return fail('invalidItem', `${where} ${show(item)} is not a host name (expected e.g. "cdn.example.com" or "cdn.example.com:8443")`);
  return host;
}

function parsePrefixItem(item: unknown, i: number): { host: string; pathPrefix: string } | PurgeError {
  const where = `prefixes[${i}]`;
  const example = 'expected host and path prefix, e.g. "cdn.example.com/assets/"';
  if (typeof item !== 'string') return fail('invalidItem', `${where} must be a string, got ${show(item)}`);
  const bare = stripHttpScheme(item);
  if (bare === null) return fail('invalidItem', `${where} ${show(item)} has a scheme other than http(s); ${example}`);
  const slash = bare.search(/[/\\?#]/);
  const authority = slash === -1 ? bare : bare.slice(0, slash);
  const pathPrefix = slash === -1 ? '/' : bare.slice(slash);
  const host = canonicalAuthority(authority);
  if (host === null) return fail('invalidItem', `${where} ${show(item)} has an invalid host; ${example}`);
  if (!pathPrefix.startsWith('/')) return fail('invalidItem', `${where} ${show(item)} is not valid; ${example}`);
  if (pathPrefix.includes('?') || pathPrefix.includes('#')) {
    return fail('invalidItem', `${where} ${show(item)} contains "?" or "#"; prefixes match paths only (purge query variants by URL)`);
  }
  if (BAD_TARGET_CHAR_RE.test(pathPrefix)) {
    return fail('invalidItem', `${where} ${show(item)} contains a space, control or non-ASCII character; percent-encode it as a browser would`);
  }
  return { host, pathPrefix };
}

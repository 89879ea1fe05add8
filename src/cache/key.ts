// Cache keys: the primary key (zone + Host + path + normalised query) and the variant selector (key headers + Vary).
import type { QueryMode } from '../config/schema.js';

export type HeaderValues = Record<string, string | string[] | undefined>;

/**
 * Compiles a zone's query mode into a function from the raw query (no '?') to the normalised one.
 * Only '&' separates parameters (';' is part of a value). The same string is keyed and forwarded.
 */
export function compileQueryNormalizer(mode: QueryMode): (raw: string) => string {
  if (mode === 'all') return (raw) => raw;
  if (mode === 'none') return () => '';
  const nameOf = (param: string): string => {
    const eq = param.indexOf('=');
    return eq === -1 ? param : param.slice(0, eq);
  };
  if (mode === 'sorted') {
    return (raw) => {
      if (raw === '' || raw.indexOf('&') === -1) return raw;
      const params = raw.split('&').filter((p) => p !== '');
      // Stable sort by name only: repeated names keep their order (a=2&a=1 stays as sent).
      return params
        .map((p, i) => ({ p, n: nameOf(p), i }))
        .sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : a.i - b.i))
        .map((x) => x.p)
        .join('&');
    };
  }
  const names = new Set('include' in mode ? mode.include : mode.exclude);
  const keep = 'include' in mode;
  return (raw) => {
    if (raw === '') return raw;
    return raw.split('&').filter((p) => p !== '' && names.has(nameOf(p)) === keep).join('&');
  };
}

/** Primary key: one object (all of its variants) per zone + Host + path + query. */
export function primaryKey(zoneId: string, host: string, path: string, query: string): string {
  return `${zoneId}\u0000${host}\u0000${path}?${query}`;
}

/** Cached preflight answers live beside the URL's object, under its key plus this suffix, so a GET never selects one. */
export const PREFLIGHT_KEY_SUFFIX = '\u0000OPTIONS';

export function preflightObjectKey(objectKey: string): string {
  return `${objectKey}${PREFLIGHT_KEY_SUFFIX}`;
}

/**
 * The host part of the primary key from a Host value (or absolute-form authority): lowercased, a default port
 * (":80"/":443") dropped, as a purge URL treats it. No validation: the request guard checked the syntax.
 */
export function keyedHost(host: string): string {
  const h = host.toLowerCase();
  if (h.endsWith(':80')) return h.slice(0, -3);
  if (h.endsWith(':443')) return h.slice(0, -4);
  return h;
}

/** @deprecated Use keyedHost. Kept only until edge/handler.ts is rewired; then remove it. */
export const normalizeHost = keyedHost;

const ABSENT = '\u0001';

/** One request header's value as a selector sees it: absent and empty differ; repeated lines are joined. */
export function headerValue(headers: HeaderValues, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The variant selector: the request's values of the given header names, in order, as one string.
 * The same function serves lookups, stores and purges-with-headers, so a purge names what a lookup finds.
 */
export function selectorOf(
  names: readonly string[],
  headers: HeaderValues,
  normalize: (name: string, value: string | string[] | undefined) => string | undefined,
): string {
  if (names.length === 0) return '';
  if (names.length === 1) return normalize(names[0]!, headers[names[0]!]) ?? ABSENT;
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += '\u0000';
    out += normalize(names[i]!, headers[names[i]!]) ?? ABSENT;
  }
  return out;
}

/** Request-like headers that select `selector` (absent values left out): to find the same request's variant elsewhere. */
export function headersOfSelector(keyNames: readonly string[], selector: string): HeaderValues {
  const out: HeaderValues = {};
  const parts = keyNames.length === 1 ? [selector] : selector.split('\u0000');
  keyNames.forEach((n, i) => { const p = parts[i]; if (p !== undefined && p !== ABSENT) out[n] = p; });
  return out;
}

/** A Host value without its port ("[::1]:8080" → "[::1]", "a.example:80" → "a.example"). */
export function hostName(host: string): string {
  if (host.startsWith('[')) { const end = host.indexOf(']'); return end === -1 ? host : host.slice(0, end + 1); }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** Turns a selector string back into a readable {name: value|null} map (for inspect). */
export function describeSelector(names: readonly string[], selector: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const parts = names.length === 1 ? [selector] : selector.split('\u0000');
  names.forEach((n, i) => { out[n] = parts[i] === ABSENT || parts[i] === undefined ? null : parts[i]!; });
  return out;
}

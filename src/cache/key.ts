// Cache keys: the primary key (zone + Host + path + normalised query) and the variant selector (key headers + Vary).
import type { QueryMode } from '../config/schema.js';
import { fieldOf } from '../http/headers.js';

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

/** What names one object (all of its variants): the shape every store input, stored variant and URL purge shares. */
export interface ObjectKey {
  readonly zoneId: string;
  /** Lowercased Host as requested (port kept when given). */
  readonly host: string;
  /** Raw path as received. */
  readonly path: string;
  /** Normalised query (no '?'). */
  readonly query: string;
  /** primaryKey(zoneId, host, path, query), or its preflight key. */
  readonly objectKey: string;
}

/** Primary key: one object (all of its variants) per zone + Host + path + query. */
export function primaryKey(zoneId: string, host: string, path: string, query: string): string {
  return `${zoneId}\u0000${host}\u0000${pathMember(path, query)}`;
}

/** The part of a primary key after zone and host: path and query, as host and prefix indexes list them. */
export function pathMember(path: string, query: string): string {
  return `${path}?${query}`;
}

/** The zone id a primary (or preflight) key starts with. */
export function zoneIdOf(objectKey: string): string {
  return objectKey.slice(0, Math.max(0, objectKey.indexOf('\u0000')));
}

/** A zone-scoped name (a host, a host name without port, a tag): the key of the indexes that list one zone's entries. */
export function zoneScoped(zoneId: string, name: string): string {
  return `${zoneId}\u0000${name}`;
}

/** Cached preflight answers live beside the URL's object, under its key plus this suffix, so a GET never selects one. */
export const PREFLIGHT_KEY_SUFFIX = '\u0000OPTIONS';

export function preflightObjectKey(objectKey: string): string {
  return `${objectKey}${PREFLIGHT_KEY_SUFFIX}`;
}

/** Stored pieces of a URL's variants (partial content, src/edge/partial-entry.ts) live under its key plus this. */
export const PARTIAL_KEY_SUFFIX = '\u0000PARTIAL';

export function partialObjectKey(objectKey: string): string {
  return `${objectKey}${PARTIAL_KEY_SUFFIX}`;
}

/** Slices of a URL's variants (`cache.slice`, src/edge/slice-miss.ts) live under its key plus this. */
export const SLICES_KEY_SUFFIX = '\u0000SLICES';

export function slicesObjectKey(objectKey: string): string {
  return `${objectKey}${SLICES_KEY_SUFFIX}`;
}

/** The selector name a slice's number is keyed under: not a field name (`:` is no token character), so no request sets it. */
export const SLICE_FIELD_NAME = ':edgecache-slice';

/**
 * The selection rule of cached preflight answers: they depend on the Origin, the method and the headers asked for
 * (Fetch standard, CORS-preflight cache: https://fetch.spec.whatwg.org/#cors-preflight-cache).
 */
export const PREFLIGHT_KEY_NAMES: readonly string[] = Object.freeze(['origin', 'access-control-request-method', 'access-control-request-headers']);

/** Normalises a request header value for selectors (the Vary rules, passed in: this module imports no policy). */
export type NormalizeValue = (name: string, value: string | string[] | undefined) => string | undefined;

/** What a request key needs from its zone: its id, its key headers, and how it normalises queries. */
export interface KeyZone {
  readonly id: string;
  /** The first names of every variant selector (lowercase). */
  readonly keyHeaders: readonly string[];
  readonly normalizeQuery: (raw: string) => string;
}

/**
 * The key of one request, made once when its target is resolved and used by every step after: the store lookup and
 * insert, the collapsing of identical misses, the shared tier, and invalidation. The selector is computed on the
 * first miss-path use and kept (a hit never needs it: the store selects by each stored Vary group itself).
 */
export class RequestKey<Z extends KeyZone = KeyZone> implements ObjectKey {
  readonly zoneId: string;
  readonly objectKey: string;
  #selector: string | undefined;
  #preflight: RequestKey<Z> | undefined;

  constructor(
    readonly zone: Z,
    readonly host: string,
    readonly path: string,
    readonly query: string,
    /** Path and query as forwarded to the origin (what is keyed is what is forwarded). */
    readonly target: string,
    /** A key for the preflight cache: its own object key and selection rule. */
    readonly isPreflight = false,
  ) {
    this.zoneId = zone.id;
    const key = primaryKey(zone.id, host, path, query);
    this.objectKey = isPreflight ? preflightObjectKey(key) : key;
  }

  /** The selector's first names: the zone's key headers, or the preflight selection rule. A response's Vary names follow. */
  get keyNames(): readonly string[] { return this.isPreflight ? PREFLIGHT_KEY_NAMES : this.zone.keyHeaders; }

  /** The same request's key in the preflight cache (made once). */
  preflight(): RequestKey<Z> {
    if (this.isPreflight) return this;
    return (this.#preflight ??= new RequestKey(this.zone, this.host, this.path, this.query, this.target, true));
  }

  /** This request's selector over `keyNames` (computed once: `headers` are always this request's). */
  selector(headers: HeaderValues, normalize: NormalizeValue): string {
    return (this.#selector ??= selectorOf(this.keyNames, headers, normalize));
  }

  /** One fetch per object and key-header selector, across nodes too (the shared tier's fetch lock). */
  fetchKey(headers: HeaderValues, normalize: NormalizeValue): string {
    return `${this.objectKey}\u0000${this.selector(headers, normalize)}`;
  }

  /** Identical requests collapse onto one flight: a miss, or the revalidation of one stored variant (by its id). */
  collapseKey(headers: HeaderValues, normalize: NormalizeValue, revalidatingId?: number): string {
    return `${this.fetchKey(headers, normalize)}\u0000${revalidatingId === undefined ? 'm' : `r${revalidatingId}`}`;
  }

  /** The key of a background revalidation of one stored variant (RFC 5861 §3): one at a time, whatever the selector. */
  backgroundKey(variantId: number): string {
    return `${this.objectKey}\u0000r${variantId}`;
  }

  /** The key of another URL on the same host (an invalidation target): its query normalised as this zone does. */
  sibling(path: string, rawQuery: string): RequestKey<Z> {
    const query = this.zone.normalizeQuery(rawQuery);
    return new RequestKey(this.zone, this.host, path, query, query === '' ? path : `${path}?${query}`);
  }
}

/**
 * The fields of an ObjectKey alone (a RequestKey's zone and memo stay out of what is stored). Store inputs on the miss
 * path list the fields themselves instead of spreading this: a spread followed by more fields makes V8 build a slow
 * (dictionary) object, and every store read of it pays.
 */
export function objectKeyOf(k: ObjectKey): ObjectKey {
  return { zoneId: k.zoneId, host: k.host, path: k.path, query: k.query, objectKey: k.objectKey };
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


const ABSENT = '\u0001';

/** One request header's value as a selector sees it: absent and empty differ; repeated lines are joined. */
export function headerValue(headers: HeaderValues, name: string): string | undefined {
  const v = fieldOf(headers, name);
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The variant selector: the request's values of the given header names, in order, as one string.
 * The same function serves lookups, stores and purges-with-headers, so a purge names what a lookup finds.
 * Names come from Vary and config: values are read as own values only (fieldOf), so `Vary: constructor` is an
 * absent field like any other, never Object.prototype's.
 */
export function selectorOf(
  names: readonly string[],
  headers: HeaderValues,
  normalize: (name: string, value: string | string[] | undefined) => string | undefined,
): string {
  if (names.length === 0) return '';
  if (names.length === 1) return normalize(names[0]!, fieldOf(headers, names[0]!)) ?? ABSENT;
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += '\u0000';
    out += normalize(names[i]!, fieldOf(headers, names[i]!)) ?? ABSENT;
  }
  return out;
}

/** Request-like headers that select `selector` (absent values left out): to find the same request's variant elsewhere. */
export function headersOfSelector(keyNames: readonly string[], selector: string): HeaderValues {
  const out: HeaderValues = Object.create(null) as HeaderValues; // names come from Vary: '__proto__' is a name like any other
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
  const out = Object.create(null) as Record<string, string | null>;
  const parts = names.length === 1 ? [selector] : selector.split('\u0000');
  names.forEach((n, i) => { out[n] = parts[i] === ABSENT || parts[i] === undefined ? null : parts[i]!; });
  return out;
}

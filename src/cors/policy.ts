// Edge-owned CORS policy: compiles a zone's `cors` block once into origin matchers and prebuilt, frozen header lists.
import { CorsConfigError, parseOriginPattern, type CorsConfig } from './schema.js';

// Fetch standard, CORS protocol (server side): https://fetch.spec.whatwg.org/#http-cors-protocol
// What the browser checks on a preflight answer:  https://fetch.spec.whatwg.org/#cors-preflight-fetch
// What the browser checks on every CORS response: https://fetch.spec.whatwg.org/#cors-check

export type HeaderPair = readonly [name: string, value: string];
export type HeaderList = readonly HeaderPair[];
export interface PreflightAnswer {
  readonly status: 204;
  readonly headers: HeaderList;
}

export interface CompiledCors {
  isAllowedOrigin(origin: string): boolean;
  /** Headers for an actual (non-preflight) response to a request with this Origin (undefined = no Origin header).
   *  Frozen and prebuilt: the same array for every request when the answer doesn't depend on the Origin. */
  actualHeaders(origin: string | undefined): HeaderList;
  /** Whether responses (with or without an Origin in the request) must carry `Vary: Origin`. */
  readonly varyOrigin: boolean;
  /** Answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method). Always 204; a refusal is a 204
   *  without any Access-Control-Allow-* header, which the browser treats as a failed preflight. */
  preflight(origin: string, requestMethod: string, requestHeaders: string | undefined): PreflightAnswer;
}

/** The origin server's own `Access-Control-*` response headers are removed by the handler when the edge owns CORS. */
export const ORIGIN_CORS_HEADER_PREFIX = 'access-control-';

const ACAO = 'access-control-allow-origin';
const ACAC = 'access-control-allow-credentials';
const ACAM = 'access-control-allow-methods';
const ACAH = 'access-control-allow-headers';
const ACEH = 'access-control-expose-headers';
const ACMA = 'access-control-max-age';
const VARY = 'vary';

// https://fetch.spec.whatwg.org/#cors-safelisted-method — the browser allows these whatever ACAM says.
const SAFELISTED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST']);
/** Bound on the per-origin header lists kept for origins that matched a wildcard pattern. */
const WILDCARD_MEMO_MAX = 1024;

const EMPTY: HeaderList = Object.freeze([]);

function freezeList(pairs: (readonly [string, string])[]): HeaderList {
  return Object.freeze(pairs.map((p) => Object.freeze([p[0], p[1]] as const)));
}

function hasValue(v: string | string[] | undefined): boolean {
  return typeof v === 'string' ? v.length > 0 : Array.isArray(v) && v.length > 0;
}

/** A CORS-preflight request: `OPTIONS` with `Origin` and `Access-Control-Request-Method`
 *  (https://fetch.spec.whatwg.org/#cors-preflight-request). `headers` as Node gives them: lowercase names. */
export function isPreflight(method: string, headers: Record<string, string | string[] | undefined>): boolean {
  return method === 'OPTIONS' && hasValue(headers['origin']) && hasValue(headers['access-control-request-method']);
}

interface WildcardMatcher {
  readonly prefix: string; // "https://"
  readonly suffix: string; // ".trusted.example" or ".trusted.example:8443"
}

function isLabelChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f; // a-z 0-9 - _
}

/** `https://*.trusted.example` matches `https://a.trusted.example` and `https://a.b.trusted.example`: one or more whole
 *  labels (lowercase, as browsers serialize hosts) before the suffix; scheme and port exactly as configured. */
function matchesWildcard(origin: string, w: WildcardMatcher): boolean {
  const start = w.prefix.length;
  const end = origin.length - w.suffix.length;
  if (end <= start || !origin.startsWith(w.prefix) || !origin.endsWith(w.suffix)) return false;
  let prevDot = true; // no leading dot, no empty label
  for (let i = start; i < end; i++) {
    const c = origin.charCodeAt(i);
    if (c === 0x2e) {
      if (prevDot) return false;
      prevDot = true;
    } else if (isLabelChar(c)) {
      prevDot = false;
    } else {
      return false;
    }
  }
  return !prevDot; // the last label is not empty
}

/** Each element of a `1#field-name` list (https://fetch.spec.whatwg.org/#http-new-header-syntax) must be allowed;
 *  names compare case-insensitively. Empty list elements are ignored (https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1). */
function areHeadersAllowed(value: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (value === undefined) return true;
  let from = 0;
  while (from <= value.length) {
    let to = value.indexOf(',', from);
    if (to === -1) to = value.length;
    const name = value.slice(from, to).trim();
    if (name !== '' && !allowed.has(name.toLowerCase())) return false;
    from = to + 1;
  }
  return true;
}

interface OriginAnswers {
  readonly actual: HeaderList;
  readonly preflight: PreflightAnswer;
}

export function compileCors(cfg: CorsConfig): CompiledCors {
  const anyOrigin = cfg.allowOrigins === '*';
  if (anyOrigin && cfg.allowCredentials) {
    throw new CorsConfigError('browsers refuse credentials with ACAO *; list the origins');
  }
  const exact = new Set<string>();
  const wildcards: WildcardMatcher[] = [];
  if (!anyOrigin) {
    for (const entry of cfg.allowOrigins) {
      const r = parseOriginPattern(entry);
      if (!r.ok) throw new CorsConfigError(r.message);
      if (r.pattern.kind === 'exact') exact.add(r.pattern.origin);
      else wildcards.push({ prefix: r.pattern.prefix, suffix: r.pattern.suffix });
    }
  }
  const methods: ReadonlySet<string> = new Set(cfg.allowMethods);
  const allowHeaders: ReadonlySet<string> = new Set(cfg.allowHeaders.map((h) => h.toLowerCase()));

  // Actual responses: https://fetch.spec.whatwg.org/#http-responses
  const actualTail: [string, string][] = [];
  if (cfg.allowCredentials) actualTail.push([ACAC, 'true']); // case-sensitive "true"
  if (cfg.exposeHeaders.length > 0) actualTail.push([ACEH, cfg.exposeHeaders.join(', ')]);

  // Preflight answers. The answer always depends on Access-Control-Request-Method and -Headers (an unlisted method
  // or header is refused), and on Origin unless any origin is allowed — Vary names exactly those, so a cache that
  // stores preflights keeps one answer per combination (https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5).
  const vary = anyOrigin
    ? 'Access-Control-Request-Method, Access-Control-Request-Headers'
    : 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  const preflightTail: [string, string][] = [];
  if (cfg.allowCredentials) preflightTail.push([ACAC, 'true']);
  // ACAM/ACAH are the configured lists (a static answer the browser checks itself), not echoes of the request.
  if (cfg.allowMethods.length > 0) preflightTail.push([ACAM, cfg.allowMethods.join(', ')]);
  if (allowHeaders.size > 0) preflightTail.push([ACAH, [...allowHeaders].join(', ')]);
  preflightTail.push([ACMA, String(cfg.maxAge)], [VARY, vary]);

  const denied: PreflightAnswer = Object.freeze({ status: 204, headers: freezeList([[VARY, vary]]) });

  const answersFor = (acao: string): OriginAnswers => Object.freeze({
    actual: freezeList([[ACAO, acao], ...actualTail]),
    preflight: Object.freeze({ status: 204, headers: freezeList([[ACAO, acao], ...preflightTail]) }),
  });

  const star = anyOrigin ? answersFor('*') : undefined;
  const exactAnswers = new Map<string, OriginAnswers>();
  for (const o of exact) exactAnswers.set(o, answersFor(o));
  const wildcardMemo = new Map<string, OriginAnswers>();

  const isAllowedOrigin = (origin: string): boolean => {
    if (anyOrigin) return true;
    // "null" (opaque origin) never matches a listed origin: https://fetch.spec.whatwg.org/#http-access-control-allow-origin
    if (exact.has(origin)) return true;
    for (const w of wildcards) if (matchesWildcard(origin, w)) return true;
    return false;
  };

  const answersForOrigin = (origin: string): OriginAnswers | undefined => {
    if (star) return star;
    const known = exactAnswers.get(origin) ?? wildcardMemo.get(origin);
    if (known) return known;
    if (wildcards.length === 0 || !isAllowedOrigin(origin)) return undefined;
    if (wildcardMemo.size >= WILDCARD_MEMO_MAX) {
      const oldest = wildcardMemo.keys().next().value;
      if (oldest !== undefined) wildcardMemo.delete(oldest);
    }
    const made = answersFor(origin);
    wildcardMemo.set(origin, made);
    return made;
  };

  return {
    isAllowedOrigin,
    varyOrigin: !anyOrigin,
    actualHeaders(origin) {
      if (star) return star.actual; // ACAO * is the same for every request, with or without Origin
      if (origin === undefined) return EMPTY;
      return answersForOrigin(origin)?.actual ?? EMPTY;
    },
    preflight(origin, requestMethod, requestHeaders) {
      const answers = answersForOrigin(origin);
      if (answers === undefined) return denied;
      // Methods compare byte-exact, as the browser's own check does; safelisted methods need no listing.
      if (!SAFELISTED_METHODS.has(requestMethod) && !methods.has(requestMethod)) return denied;
      if (!areHeadersAllowed(requestHeaders, allowHeaders)) return denied;
      return answers.preflight;
    },
  };
}

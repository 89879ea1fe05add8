// Zone `cors` config block (zod 4): origin patterns, methods, headers, credentials, max-age; parsing of origin patterns.
import { z } from 'zod';
import { isToken } from '../http/fields.js';

// Fetch standard, CORS protocol: https://fetch.spec.whatwg.org/#http-cors-protocol
// ABNF of the CORS headers: https://fetch.spec.whatwg.org/#http-new-header-syntax

/** Default `Access-Control-Max-Age` (seconds). Without the header browsers cache a preflight for only 5 s
 *  (https://fetch.spec.whatwg.org/#cors-preflight-fetch, step "If max-age is failure or null, set it to 5");
 *  600 s saves nine round trips in ten on an active page and stays under Chromium's 7200 s cap, so a changed
 *  policy reaches browsers within ten minutes. */
export const DEFAULT_CORS_MAX_AGE = 600;
/** Largest accepted max-age: Firefox's cap (86400 s); Chromium clamps to 7200 s. */
export const MAX_CORS_MAX_AGE = 86_400;

export class CorsConfigError extends Error {
  readonly code = 'CORS_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CorsConfigError';
  }
}

/** One parsed `allowOrigins` entry. `exact.origin` and `wildcard.display` are canonical (lowercase, punycode,
 *  default port dropped) — the serialization browsers send in `Origin`. */
export type OriginPattern =
  | { kind: 'exact'; origin: string }
  | { kind: 'wildcard'; display: string; prefix: string; suffix: string };

export type OriginPatternResult = { ok: true; pattern: OriginPattern } | { ok: false; message: string };

const SCHEME_AND_REST = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;
// URL's "special" schemes: host is a domain (lowercased, punycoded) and the default port is dropped.
const SPECIAL_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'ftp']);
const OPAQUE_HOST_PORT = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const EXAMPLE = 'e.g. https://app.example.com or https://*.example.com';

/** Parse one `allowOrigins` entry: `scheme://host[:port]`, or `scheme://*.domain[:port]` where `*.` (only as the
 *  first label) stands for one or more whole labels. Never throws. */
export function parseOriginPattern(input: string): OriginPatternResult {
  const fail = (why: string): OriginPatternResult => ({ ok: false, message: `invalid origin ${JSON.stringify(input)}: ${why}` });
  if (input === '*') return fail('"*" must be the whole allowOrigins value (allowOrigins: "*"), not a list item');
  if (input === 'null') return fail('"null" (opaque origins: sandboxed iframes, file:) can only be allowed with allowOrigins: "*"');
  if (/\s/.test(input)) return fail('contains whitespace');
  const m = SCHEME_AND_REST.exec(input);
  if (!m) return fail(`expected scheme://host[:port], ${EXAMPLE}`);
  const scheme = (m[1] as string).toLowerCase();
  let rest = m[2] as string;
  if (/[/?#]/.test(rest)) {
    return fail('an origin has no path, query or fragment (not even a trailing "/"); browsers send e.g. https://app.example.com');
  }
  if (rest.includes('@')) return fail('an origin has no user info');
  const isWildcard = rest.startsWith('*.');
  if (isWildcard) rest = rest.slice(2);
  if (rest.includes('*')) {
    return fail(`a wildcard is allowed only as the whole first label "*." (it matches one or more labels), ${EXAMPLE}`);
  }

  let host: string;
  let port: string;
  if (SPECIAL_SCHEMES.has(scheme)) {
    let url: URL;
    try {
      url = new URL(`${scheme}://${rest}`);
    } catch {
      return fail('invalid host or port');
    }
    host = url.hostname;
    port = url.port; // '' when absent or the scheme's default (https://x:443 is https://x, as browsers send it)
  } else {
    const hp = OPAQUE_HOST_PORT.exec(rest);
    if (!hp || (hp[2] !== undefined && Number(hp[2]) > 65_535)) return fail('invalid host or port');
    host = (hp[1] as string).toLowerCase();
    port = hp[2] === undefined ? '' : String(Number(hp[2]));
  }
  if (host === '') return fail('missing host');
  const isIp = host.startsWith('[') || IPV4.test(host);
  if (!isIp && host.split('.').some((label) => label === '')) return fail('the host has an empty label');
  const portPart = port === '' ? '' : `:${port}`;
  if (!isWildcard) return { ok: true, pattern: { kind: 'exact', origin: `${scheme}://${host}${portPart}` } };

  if (isIp) return fail('a wildcard needs a domain name after "*.", not an IP address');
  if (!host.includes('.') && host !== 'localhost') {
    return fail(`"*.${host}" would match every site under a top-level domain; name a domain, ${EXAMPLE}`);
  }
  return {
    ok: true,
    pattern: { kind: 'wildcard', display: `${scheme}://*.${host}${portPart}`, prefix: `${scheme}://`, suffix: `.${host}${portPart}` },
  };
}

function displayOf(p: OriginPattern): string {
  return p.kind === 'exact' ? p.origin : p.display;
}

// Browsers never allow these: https://fetch.spec.whatwg.org/#forbidden-method
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

const originList = z.union([z.string(), z.array(z.string())], {
  error: 'allowOrigins must be "*" or a list of origins like "https://app.example.com"',
}).transform((value, ctx): '*' | string[] => {
  if (value === '*' || (Array.isArray(value) && value.length === 1 && value[0] === '*')) return '*';
  if (typeof value === 'string') {
    ctx.addIssue({ code: 'custom', message: `allowOrigins must be "*" or a list; for one origin write [${JSON.stringify(value)}]` });
    return z.NEVER;
  }
  if (value.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'allowOrigins must list at least one origin, or be "*"' });
    return z.NEVER;
  }
  const out: string[] = [];
  value.forEach((entry, i) => {
    const r = parseOriginPattern(entry);
    if (r.ok) out.push(displayOf(r.pattern));
    else ctx.addIssue({ code: 'custom', message: r.message, path: [i] });
  });
  return [...new Set(out)];
});

const methodList = z.array(z.string()).transform((list, ctx) => {
  const out: string[] = [];
  list.forEach((m, i) => {
    // Uppercased: browsers uppercase DELETE/GET/HEAD/OPTIONS/POST/PUT (https://fetch.spec.whatwg.org/#concept-method-normalize)
    // and apps write PATCH; the match at request time is byte-exact, as the browser's own check is.
    const up = m.toUpperCase();
    if (m === '*') ctx.addIssue({ code: 'custom', message: 'list the methods; "*" is not supported', path: [i] });
    else if (!isToken(m)) ctx.addIssue({ code: 'custom', message: `invalid method ${JSON.stringify(m)}`, path: [i] });
    else if (FORBIDDEN_METHODS.has(up)) ctx.addIssue({ code: 'custom', message: `browsers never send ${up} cross-origin`, path: [i] });
    else out.push(up);
  });
  return [...new Set(out)];
});

const headerList = (field: string, allowStar: boolean) => z.array(z.string()).transform((list, ctx) => {
  const out: string[] = [];
  list.forEach((h, i) => {
    if (h === '*' && !allowStar) ctx.addIssue({ code: 'custom', message: `${field}: list the header names; "*" is not supported`, path: [i] });
    else if (!isToken(h)) ctx.addIssue({ code: 'custom', message: `${field}: invalid header name ${JSON.stringify(h)}`, path: [i] });
    else out.push(h.toLowerCase());
  });
  return [...new Set(out)];
});

/** The zone's `cors` block. When present, edgecache answers CORS itself: it drops the origin's `Access-Control-*`
 *  headers, adds its own, and answers preflights at the edge. */
export const corsConfigSchema = z.object({
  /** "*" (any origin, including "null"; no credentials) or origin patterns, see parseOriginPattern. */
  allowOrigins: originList,
  allowMethods: methodList.default(['GET', 'HEAD']),
  /** Non-safelisted request headers a preflight may ask for (lowercased). `authorization` must be listed to be used. */
  allowHeaders: headerList('allowHeaders', false).default([]),
  /** Response headers scripts may read beyond the CORS-safelisted ones; "*" (all) only without credentials. */
  exposeHeaders: headerList('exposeHeaders', true).default([]),
  allowCredentials: z.boolean().default(false),
  maxAge: z.number().int('maxAge is whole seconds').min(0).max(MAX_CORS_MAX_AGE, `maxAge is at most ${MAX_CORS_MAX_AGE} s (browsers clamp lower)`).default(DEFAULT_CORS_MAX_AGE),
}).strict().superRefine((cfg, ctx) => {
  if (!cfg.allowCredentials) return;
  if (cfg.allowOrigins === '*') {
    ctx.addIssue({ code: 'custom', path: ['allowCredentials'], message: 'browsers refuse credentials with ACAO *; list the origins' });
  }
  if (cfg.exposeHeaders.includes('*')) {
    ctx.addIssue({ code: 'custom', path: ['exposeHeaders'], message: 'with allowCredentials, "*" is the literal header name "*" to browsers; list the headers' });
  }
});

export type CorsConfig = z.output<typeof corsConfigSchema>;
export type CorsConfigInput = z.input<typeof corsConfigSchema>;

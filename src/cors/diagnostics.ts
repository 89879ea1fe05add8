// CORS diagnostics: spots origin responses whose CORS headers poison shared caches; counts each, warns rate-limited.
// Background: a reflected Access-Control-Allow-Origin without `Vary: Origin` lets any cache that keys without Origin
// (browsers' HTTP caches, other CDNs) hand one Origin's ACAO to another (https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches,
// https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5); `ACAO: *` with credentials is refused by browsers
// (https://fetch.spec.whatwg.org/#cors-protocol-and-credentials).

export type CorsProblem = 'reflected-without-vary' | 'wildcard-with-credentials';

export interface CorsDiagnosticsOptions {
  warn(obj: object, msg: string): void;
  count(kind: CorsProblem): void;
  /** At most one warning per (pattern, kind) per interval. Default 60 s. */
  intervalMs?: number;
  /** Patterns tracked for rate limiting; the oldest is forgotten beyond this. Default 10,000. */
  maxPatterns?: number;
  /** Clock, injectable for tests. Default Date.now. */
  now?: () => number;
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export interface CorsDiagnostics {
  /** `resHeaders`: the origin's response headers with lowercase names (as Node and undici give them). */
  inspect(pattern: string, requestOrigin: string | undefined, resHeaders: ResponseHeaders): void;
}

export const DEFAULT_DIAGNOSTICS_INTERVAL_MS = 60_000;
export const DEFAULT_DIAGNOSTICS_MAX_PATTERNS = 10_000;
const MAX_PATTERN_CHARS = 256;

const MESSAGES: Record<CorsProblem, string> = {
  'reflected-without-vary':
    'origin reflected the request Origin in Access-Control-Allow-Origin without Vary: Origin; caches that do not key on '
    + 'Origin (browser caches, other CDNs) will serve this ACAO to other Origins and break them; send Vary: Origin on '
    + 'every response of this URL (with or without an Origin in the request)',
  'wildcard-with-credentials':
    'origin sent Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true; browsers refuse credentialed '
    + 'requests with ACAO *; reflect an allowed Origin (with Vary: Origin) or drop the credentials header',
};

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? (v.length > 0 ? v.join(', ') : undefined) : v;
}

/** Whether a Vary field value lists Origin (or is `*`, which already stops reuse). */
function doesVaryCoverOrigin(vary: string | undefined): boolean {
  if (vary === undefined) return false;
  // The usual answer (`Vary: Origin`), checked on every origin answer with an ACAO (twice: origin watch, diagnose).
  if (vary === 'Origin' || vary === 'origin') return true;
  for (const part of vary.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === 'origin' || name === '*') return true;
  }
  return false;
}

/** The problems this response shows, if any. Exported for the handler's tests and tools. */
export function detectCorsProblems(requestOrigin: string | undefined, resHeaders: ResponseHeaders): CorsProblem[] {
  const acao = joined(resHeaders['access-control-allow-origin'])?.trim();
  if (acao === undefined || acao === '') return [];
  const found: CorsProblem[] = [];
  if (acao === '*') {
    if (joined(resHeaders['access-control-allow-credentials'])?.trim().toLowerCase() === 'true') found.push('wildcard-with-credentials');
  } else if (requestOrigin !== undefined && acao === requestOrigin && !doesVaryCoverOrigin(joined(resHeaders['vary']))) {
    found.push('reflected-without-vary');
  }
  return found;
}

interface PatternState {
  lastWarnAt: Record<CorsProblem, number>;
  suppressed: Record<CorsProblem, number>;
}

export function createCorsDiagnostics(opts: CorsDiagnosticsOptions): CorsDiagnostics {
  const intervalMs = opts.intervalMs ?? DEFAULT_DIAGNOSTICS_INTERVAL_MS;
  const maxPatterns = Math.max(1, opts.maxPatterns ?? DEFAULT_DIAGNOSTICS_MAX_PATTERNS);
  const now = opts.now ?? Date.now;
  const states = new Map<string, PatternState>(); // insertion order = age; refreshed on each warning

  const report = (pattern: string, kind: CorsProblem, requestOrigin: string | undefined, resHeaders: ResponseHeaders) => {
    opts.count(kind);
    const key = pattern.length > MAX_PATTERN_CHARS ? pattern.slice(0, MAX_PATTERN_CHARS) : pattern;
    let state = states.get(key);
    if (state === undefined) {
      if (states.size >= maxPatterns) {
        const oldest = states.keys().next().value;
        if (oldest !== undefined) states.delete(oldest);
      }
      state = {
        lastWarnAt: { 'reflected-without-vary': -Infinity, 'wildcard-with-credentials': -Infinity },
        suppressed: { 'reflected-without-vary': 0, 'wildcard-with-credentials': 0 },
      };
      states.set(key, state);
    }
    const t = now();
    if (t - state.lastWarnAt[kind] < intervalMs) {
      state.suppressed[kind]++;
      return;
    }
    const suppressed = state.suppressed[kind];
    state.lastWarnAt[kind] = t;
    state.suppressed[kind] = 0;
    states.delete(key); // move to the young end
    states.set(key, state);
    opts.warn({
      kind,
      pattern: key,
      origin: requestOrigin,
      acao: joined(resHeaders['access-control-allow-origin']),
      vary: joined(resHeaders['vary']),
      suppressedSinceLastWarning: suppressed,
    }, MESSAGES[kind]);
  };

  return {
    inspect(pattern, requestOrigin, resHeaders) {
      for (const kind of detectCorsProblems(requestOrigin, resHeaders)) report(pattern, kind, requestOrigin, resHeaders);
    },
  };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TOKEN = /[^.\-_~]+/g;
const DIGITS = /^\d+$/;
const HEX_ID = /^[0-9a-f]{8,}$/i;
const HAS_DIGIT = /\d/;

function isIdToken(token: string): boolean {
  return DIGITS.test(token) || (HEX_ID.test(token) && HAS_DIGIT.test(token));
}

/** A coarse pattern for grouping warnings: query and fragment dropped; UUIDs, all-digit tokens and hex ids
 *  (8+ hex chars with a digit) become `:id`, whole segments or dot/dash-separated parts of them
 *  (`/users/42/avatar.3f9a1c2b.png` → `/users/:id/avatar.:id.png`). A leading host (what comes before the first
 *  `/`, as in `cdn.example.com:8443/users/42`) is kept verbatim, lowercased: its digits are not ids. */
export function urlPattern(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q !== -1) end = q;
  const h = path.indexOf('#');
  if (h !== -1 && h < end) end = h;
  const bare = path.slice(0, Math.min(end, 2048));
  const slash = bare.indexOf('/');
  const host = slash === -1 ? bare : bare.slice(0, slash);
  const rest = slash === -1 ? '' : bare.slice(slash);
  const out = rest
    .split('/')
    .map((seg) => seg.replace(UUID, ':id').replace(TOKEN, (tok) => (isIdToken(tok) ? ':id' : tok)))
    .join('/');
  const pattern = `${host.toLowerCase()}${out.startsWith('/') ? out : `/${out}`}`;
  return pattern.length > MAX_PATTERN_CHARS ? pattern.slice(0, MAX_PATTERN_CHARS) : pattern;
}

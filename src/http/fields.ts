// HTTP field grammar every layer shares: token syntax, the hop-by-hop fields, Connection options, request content.
// Pure (no I/O, no Node APIs), so cache/policy, config, cli and the edge can all import it.

/**
 * tchar, as a regular-expression character class (RFC 9110 §5.6.2):
 * tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2
 */
const TCHAR_CLASS = "!#$%&'*+\\-.^_`|~0-9A-Za-z";

/** token = 1*tchar: field names (RFC 9110 §5.1), methods (§9.1), range units (§14.1), directive names. */
export const TOKEN_RE = new RegExp(`^[${TCHAR_CLASS}]+$`);

/** IS_TCHAR[c] is 1 when the ASCII code c is a tchar: a table lookup for the scanners that go character by character. */
const IS_TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") IS_TCHAR[ch.charCodeAt(0)] = 1;

/** Is `ch` (one character) a tchar? https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2 */
export function isTchar(ch: string | undefined): boolean {
  if (ch === undefined || ch.length !== 1) return false;
  const c = ch.charCodeAt(0);
  return c < 128 && IS_TCHAR[c] === 1;
}

/** Is `s` a token (one or more tchar)? https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2 */
export function isToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/**
 * The fields an intermediary never forwards and a cache never stores, whether or not Connection lists them, lowercased.
 * The union of:
 * - Connection itself and the fields RFC 9110 §7.6.1 names as "known to require removal before forwarding":
 *   Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade
 *   (https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1);
 * - the fields that apply to the next hop only, which a cache MUST NOT store (RFC 9111 §3.1) and which are meaningless
 *   past the edge: Proxy-Authenticate (RFC 9110 §11.7.1, "applies only to the next outbound client"),
 *   Proxy-Authentication-Info (§11.7.3, same) and Proxy-Authorization (§11.7.2, "applies only to the next inbound
 *   proxy") (https://www.rfc-editor.org/rfc/rfc9111#section-3.1);
 * - Trailer (RFC 9110 §6.6.2): the edge re-frames every message and does not forward or store trailer sections, so
 *   announcing trailer fields that never arrive would be false (RFC 2616 §13.5.1 also listed it as hop-by-hop).
 * Before this list was one, the forwarding list lacked Proxy-Authentication-Info and the storage list lacked Trailer.
 */
export const HOP_BY_HOP_FIELDS: ReadonlySet<string> = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authentication-info', 'proxy-authorization',
  'trailer',
]);

/**
 * The connection options a Connection field lists, lowercased (connection-option = token; list syntax per RFC 9110
 * §5.6.1), or undefined when there is none. Fields so named are hop-by-hop too (RFC 9110 §7.6.1).
 * https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1
 */
export function connectionTokens(value: string | readonly string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const s = typeof value === 'string' ? value : value.join(',');
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) out.add(n);
  }
  return out.size ? out : undefined;
}

/**
 * connectionTokens for a caller that sets the hop-by-hop fields aside anyway: a value that is exactly one of them
 * (`Connection: keep-alive`, on nearly every origin answer) names nothing more, and no token set is built for it.
 */
export function connectionTokensBeyondHopByHop(value: string | readonly string[] | undefined): Set<string> | undefined {
  return typeof value === 'string' && HOP_BY_HOP_FIELDS.has(value) ? undefined : connectionTokens(value);
}

/** Request framing fields, as Node's IncomingHttpHeaders and our plain header records both hold them. */
export interface FramingFields {
  'content-length'?: string | string[] | undefined;
  'transfer-encoding'?: string | string[] | undefined;
}

/**
 * Does a request carry content? Transfer-Encoding present, or Content-Length present and not zero.
 * RFC 9112 §6.1/§6.3: a request's message body is signalled by Transfer-Encoding or Content-Length, and without
 * either the body length is zero; "Content-Length: 0" frames a body of zero octets, i.e. no content (RFC 9110 §8.6
 * calls it "indicating empty content"), so such a GET is still answerable from cache. A value that is not all zero
 * digits counts as content: the request guard rejects malformed lengths before this runs, and where it did not,
 * assuming content is the safe reading (the request is passed, never served from cache).
 * https://www.rfc-editor.org/rfc/rfc9112#section-6.3 and https://www.rfc-editor.org/rfc/rfc9110#section-8.6
 */
export function hasContent(headers: FramingFields): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  if (length === undefined) return false;
  return !(typeof length === 'string' && isZeroLength(length));
}

function isZeroLength(value: string): boolean {
  if (value === '0') return true; // the common case, without a regular expression
  return /^[ \t]*0+[ \t]*$/.test(value);
}

/**
 * A configured host name pattern (admin.hosts): an exact DNS name (RFC 1123 §2.1 labels, `_` tolerated), or `*.suffix`
 * for every name under it. No scheme, port, path or bare `*`. https://www.rfc-editor.org/rfc/rfc1123#section-2.1
 */
export const HOST_PATTERN_RE = /^(?:\*\.)?[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/i;

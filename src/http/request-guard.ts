// Request-head validation before anything is keyed or forwarded: version, size limits, target form, field syntax,
// Host and message framing (RFC 9112 §2.3, §3.2, §5, §6; RFC 9110 §5.5). Pure: no I/O.
import type { Limits } from './limits.js';
import { isToken } from './fields.js';

export type RejectionCode =
  | 'UNSUPPORTED_VERSION'
  | 'HEAD_TOO_LARGE'
  | 'URL_TOO_LONG'
  | 'BAD_TARGET'
  | 'BAD_FIELD'
  | 'MISSING_HOST'
  | 'REPEATED_HOST'
  | 'BAD_HOST'
  | 'CONTENT_LENGTH_WITH_TRANSFER_ENCODING'
  | 'BAD_CONTENT_LENGTH'
  | 'TRANSFER_ENCODING_IN_HTTP10'
  | 'TRANSFER_ENCODING_NOT_CHUNKED'
  | 'UNKNOWN_TRANSFER_CODING'
  | 'BODY_TOO_LARGE';

/** Why a request is refused before the handler sees it; `status` is the answer, always followed by a close. */
export class RequestRejection extends Error {
  constructor(readonly code: RejectionCode, readonly status: number, message: string) {
    super(message);
    this.name = 'RequestRejection';
  }
}

/** What the guard reads of a parsed request (an IncomingMessage satisfies it). */
export interface RequestHead {
  method?: string;
  url?: string;
  httpVersion: string;
  /** Field lines as received, [name, value, ...], repeated names kept. */
  rawHeaders: readonly string[];
}

export type GuardLimits = Pick<Limits, 'maxHeaderBytes' | 'maxUrlBytes' | 'maxBodyBytes'>;

// RFC 9110 §5.5: field values carry no CTL but HTAB (so no CR, LF or NUL); obs-text (0x80-0xFF) is tolerated.
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
// RFC 9112 §3.2 / RFC 3986 §3.2.2-3: uri-host [ ":" port ]. reg-name is restricted to unreserved characters (no DNS
// name uses sub-delims or percent-encoding); IP-literals are bracketed; the port, when present, is 1-5 digits.
const HOST = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._~-]+)(?::([0-9]{1,5}))?$/;
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;
// Registered transfer codings (RFC 9112 §7, IANA): recognised, but only chunked is implemented by the edge.
const KNOWN_CODINGS: ReadonlySet<string> = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

/** True for a valid Host / absolute-form authority: no userinfo, a plain host name or IP, an optional port. */
export function isValidHost(value: string): boolean {
  const m = HOST.exec(value);
  return m !== null && (m[1] === undefined || Number(m[1]) <= 65535);
}

/** Bytes of the head as a client would minimally send it: request line, `name: value` lines, CRLFs, final CRLF. */
export function headBytes(head: RequestHead): number {
  let n = requestLineBytes(head.method ?? '', head.url ?? '');
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) n += fieldLineBytes(raw[i]!, raw[i + 1] ?? '');
  return n;
}

/** `METHOD SP target SP HTTP/1.1 CRLF`, plus the CRLF that ends the head. */
const requestLineBytes = (method: string, url: string): number => method.length + 1 + url.length + 1 + 'HTTP/1.1'.length + 2 + 2;
/** `name: value CRLF`. */
const fieldLineBytes = (name: string, value: string): number => name.length + 2 + value.length + 2;

/** Target characters: visible ASCII only, no fragment (RFC 9112 §3.2: a request-target never carries one). */
function hasBadTargetChar(url: string): boolean {
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23 /* # */) return true;
  }
  return false;
}

/** RFC 9112 §3.2: origin-form, absolute-form (http/https, authority without userinfo) or `*` for OPTIONS. */
function checkTarget(method: string, url: string): RequestRejection | undefined {
  if (url.length === 0 || hasBadTargetChar(url)) {
    return new RequestRejection('BAD_TARGET', 400, 'the request target has a control character, space, fragment or non-ASCII byte');
  }
  if (url.charCodeAt(0) === 47 /* / */) return undefined;
  if (url === '*') return method === 'OPTIONS' ? undefined : new RequestRejection('BAD_TARGET', 400, 'the asterisk-form target is only for OPTIONS');
  const m = ABSOLUTE_FORM.exec(url);
  if (!m) return new RequestRejection('BAD_TARGET', 400, 'the request target must be a path or an absolute http(s) URL');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return new RequestRejection('BAD_TARGET', 400, `scheme ${scheme} is not served here`);
  // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
  if (!isValidHost(m[2]!)) return new RequestRejection('BAD_TARGET', 400, 'the absolute-form target has no valid authority (host[:port], no userinfo)');
  return undefined;
}

function parseCodings(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const semi = part.indexOf(';');
      const c = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
      if (c !== '') out.push(c);
    }
  }
  return out;
}

/**
 * Transfer-Encoding rules for a request (RFC 9112 §6.1, §6.3): the final coding must be chunked (else the length is
 * unknowable: 400); a coding the edge does not know is 501; known codings before chunked are not implemented
 * either (the edge would have to decode them before forwarding): 501.
 */
export function checkTransferCodings(values: readonly string[]): RequestRejection | undefined {
  const codings = parseCodings(values);
  const unknown = codings.find((c) => !KNOWN_CODINGS.has(c));
  if (unknown !== undefined) {
    return new RequestRejection('UNKNOWN_TRANSFER_CODING', 501, `transfer coding ${JSON.stringify(unknown.slice(0, 40))} is not implemented`);
  }
  if (codings.length === 0 || codings[codings.length - 1] !== 'chunked') {
    return new RequestRejection('TRANSFER_ENCODING_NOT_CHUNKED', 400, 'Transfer-Encoding must end with chunked');
  }
  if (codings.length > 1) {
    return new RequestRejection('UNKNOWN_TRANSFER_CODING', 501, `transfer coding ${codings[0]} is not implemented (only chunked)`);
  }
  return undefined;
}

/** What the caller already knows of a head. */
export interface GuardOptions {
  /**
   * Field names are tokens and values carry no CTL but HTAB: node's strict parser (llhttp without
   * insecureHTTPParser) refuses anything else before a request exists, so the listener need not test each field again.
   */
  fieldSyntaxChecked?: boolean;
}

/** The last Host value found valid: most requests on a server carry one of very few, so the regex rarely runs. */
let lastValidHost = '';

/**
 * Checks one request head. Returns the refusal, or undefined when the request may be handled. Checks run in this
 * order: version (400/505), whole head (431), target length (414), target form (400), field syntax (400), Host (400),
 * framing (400/501), declared content length (413).
 */
export function checkRequestHead(head: RequestHead, limits: GuardLimits, opts: GuardOptions = {}): RequestRejection | undefined {
  const version = head.httpVersion;
  if (version !== '1.1' && version !== '1.0') {
    return version.startsWith('0.') || version === ''
      ? new RequestRejection('UNSUPPORTED_VERSION', 400, `HTTP/${version.slice(0, 8)} requests are not served`)
      : new RequestRejection('UNSUPPORTED_VERSION', 505, `HTTP/${version.slice(0, 8)} is not supported over this connection`);
  }
  const url = head.url ?? '';
  const method = head.method ?? '';
  const checkSyntax = opts.fieldSyntaxChecked !== true;

  // One pass over the field lines: the head's size (as headBytes counts it), field syntax, and the framing fields.
  let bytes = requestLineBytes(method, url);
  let badField = false;
  let host: string | undefined;
  let hosts = 0;
  let contentLength: string | undefined;
  let lengths = 0;
  let transferEncodings: string[] | undefined;
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1] ?? '';
    bytes += fieldLineBytes(name, value);
    if (checkSyntax && !badField && (!isToken(name) || BAD_VALUE_CHAR.test(value))) badField = true;
    switch (name.length) {
      // 'Host' as clients spell it is matched before lowercasing, which would allocate a string per request.
      case 4: if (name === 'Host' || name === 'host' || name.toLowerCase() === 'host') { hosts++; host = value; } break;
      case 14: if (name.toLowerCase() === 'content-length') { lengths++; contentLength = value; } break;
      case 17: if (name.toLowerCase() === 'transfer-encoding') (transferEncodings ??= []).push(value); break;
    }
  }
  if (bytes > limits.maxHeaderBytes) {
    return new RequestRejection('HEAD_TOO_LARGE', 431, `the request head is over ${limits.maxHeaderBytes} bytes`);
  }
  if (url.length > limits.maxUrlBytes) return new RequestRejection('URL_TOO_LONG', 414, `the request target is over ${limits.maxUrlBytes} bytes`);
  const bad = checkTarget(method, url);
  if (bad) return bad;
  if (badField) return new RequestRejection('BAD_FIELD', 400, 'a field has an invalid name or a control character in its value');

  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with several Host lines or an
  // invalid one. An HTTP/1.0 request may omit Host only with an absolute-form target.
  if (hosts > 1) return new RequestRejection('REPEATED_HOST', 400, 'more than one Host field');
  if (host === undefined) {
    if (version === '1.1' || url.charCodeAt(0) === 47) return new RequestRejection('MISSING_HOST', 400, 'no Host field');
  } else if (host !== lastValidHost) {
    if (!isValidHost(host)) return new RequestRejection('BAD_HOST', 400, 'the Host field is not a valid host[:port]');
    lastValidHost = host;
  }

  if (transferEncodings !== undefined) {
    // RFC 9112 §6.1: both framings at once is a smuggling attempt: 400 and close.
    if (lengths > 0) return new RequestRejection('CONTENT_LENGTH_WITH_TRANSFER_ENCODING', 400, 'both Content-Length and Transfer-Encoding');
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (version === '1.0') return new RequestRejection('TRANSFER_ENCODING_IN_HTTP10', 400, 'Transfer-Encoding in an HTTP/1.0 request');
    return checkTransferCodings(transferEncodings);
  }
  if (lengths > 0) {
    // RFC 9112 §6.3: several (even equal) or non-numeric Content-Length lines are unrecoverable framing errors.
    if (lengths > 1 || !/^[0-9]{1,16}$/.test(contentLength!)) return new RequestRejection('BAD_CONTENT_LENGTH', 400, 'invalid or repeated Content-Length');
    if (Number(contentLength) > limits.maxBodyBytes) {
      return new RequestRejection('BODY_TOO_LARGE', 413, `the request content is over ${limits.maxBodyBytes} bytes`);
    }
  }
  return undefined;
}

/** What the guard reads of an HTTP/2 request: pseudo-fields already taken apart (RFC 9113 §8.3.1). */
export interface H2RequestHead {
  method: string | undefined;
  /** `:path` (undefined for CONNECT). */
  path: string | undefined;
  /** `:authority`, or Host when the client sent no :authority. */
  authority: string | undefined;
  /** A Host field the client sent beside :authority. */
  host: string | undefined;
  contentLength: string | string[] | undefined;
}

/**
 * An HTTP/2 request head: nghttp2 has already refused malformed fields, connection-specific fields, header lists over
 * SETTINGS_MAX_HEADER_LIST_SIZE and missing pseudo-fields (RFC 9113 §8.2, §8.3); what is left is the edge's own
 * policy, as for HTTP/1.1: CONNECT is not served (405), target length (414) and form (400), the authority (400;
 * RFC 9113 §8.3.1: Host and :authority must agree), declared content length (413).
 */
export function checkH2RequestHead(head: H2RequestHead, limits: GuardLimits): RequestRejection | undefined {
  const method = head.method ?? '';
  if (method === 'CONNECT') return new RequestRejection('BAD_TARGET', 405, 'CONNECT is not supported');
  const url = head.path ?? '';
  if (url.length > limits.maxUrlBytes) return new RequestRejection('URL_TOO_LONG', 414, `the request target is over ${limits.maxUrlBytes} bytes`);
  // RFC 9113 §8.3.1: :path is origin-form, or `*` for OPTIONS.
  if (!(url === '*' && method === 'OPTIONS') && url.charCodeAt(0) !== 47) return new RequestRejection('BAD_TARGET', 400, 'the :path must be a path (or * for OPTIONS)');
  if (hasBadTargetChar(url)) return new RequestRejection('BAD_TARGET', 400, 'the request target has a control character, space, fragment or non-ASCII byte');
  const authority = head.authority;
  if (authority === undefined) return new RequestRejection('MISSING_HOST', 400, 'no :authority or Host');
  if (authority !== lastValidHost) {
    if (!isValidHost(authority)) return new RequestRejection('BAD_HOST', 400, 'the :authority is not a valid host[:port]');
    lastValidHost = authority;
  }
  if (head.host !== undefined && head.host.toLowerCase() !== authority.toLowerCase()) {
    return new RequestRejection('BAD_HOST', 400, 'Host and :authority disagree');
  }
  const cl = head.contentLength;
  if (cl !== undefined) {
    if (Array.isArray(cl) || !/^[0-9]{1,16}$/.test(cl)) return new RequestRejection('BAD_CONTENT_LENGTH', 400, 'invalid or repeated Content-Length');
    if (Number(cl) > limits.maxBodyBytes) return new RequestRejection('BODY_TOO_LARGE', 413, `the request content is over ${limits.maxBodyBytes} bytes`);
  }
  return undefined;
}

// Header plumbing for a proxy: hop-by-hop removal (RFC 9110 §7.6.1), forwarding headers, Via.
import type { IncomingHttpHeaders } from 'node:http';
import { connectionTokens, connectionTokensBeyondHopByHop, HOP_BY_HOP_FIELDS } from './fields.js';

/**
 * A field's value in a header map, read as an own value only: `name` may come from outside (a Vary member, a config
 * key header, a Connection token, a purge's headers), and Node's and undici's header maps inherit Object.prototype,
 * so `headers['constructor']` is a function and `headers['__proto__']` an object. Field values are strings or arrays
 * of strings; anything else is inherited and reads as absent. Cheap enough for the hit path (one typeof for a string).
 */
export function fieldOf(headers: Readonly<Record<string, string | readonly string[] | undefined>>, name: string): string | string[] | undefined {
  const v = headers[name];
  return typeof v === 'string' || Array.isArray(v) ? (v as string | string[]) : undefined;
}

/** Fields a Connection token can never remove at the edge: routing and message framing are the edge's own. */
const NOT_CONNECTION_REMOVABLE: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

/**
 * Removes, in place, the request fields the client listed in Connection (RFC 9110 §7.6.1: they are meant for the
 * edge only). Done once on the parsed request, before it is keyed, so the key and the forwarded request never
 * disagree: otherwise `Connection: origin` would key a variant on an Origin the origin never saw.
 */
export function dropConnectionListed(headers: IncomingHttpHeaders): void {
  const listed = connectionTokens(headers.connection);
  if (!listed) return;
  for (const name of listed) if (!NOT_CONNECTION_REMOVABLE.has(name)) delete headers[name];
}

/** Response fields from the origin, as [name, value] pairs, without hop-by-hop fields and `drop`. */
export function responseFields(
  headers: Record<string, string | string[] | undefined>,
  drop: ReadonlySet<string>,
  dropPrefix?: string,
): [string, string][] {
  const extra = connectionTokensBeyondHopByHop(headers.connection);
  const out: [string, string][] = [];
  for (const name in headers) {
    if (HOP_BY_HOP_FIELDS.has(name) || drop.has(name) || extra?.has(name) || (dropPrefix !== undefined && name.startsWith(dropPrefix))) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([name, x]);
    else out.push([name, v]);
  }
  return out;
}

/**
 * Client fields the edge answers or replaces itself, never forwarded as sent: Expect (the edge sends 100 Continue
 * itself, RFC 9110 §10.1.1; undici refuses to send it), and the fields forwardHeaders() sets.
 */
export const EDGE_OWNED_REQUEST_FIELDS: ReadonlySet<string> = new Set(['expect', 'host', 'x-forwarded-for', 'via']);

/**
 * Forwarding fields the edge sets, replacing client values unless the zone keys them: the scheme
 * (X-Forwarded-Proto, and Forwarded's proto=) is the listener's, http or https, or from a trusted proxy what it reported.
 */
const EDGE_SET_FORWARDING = ['x-forwarded-proto', 'x-forwarded-host', 'forwarded'] as const;

/** A Forwarded element value: a token as it is, anything else (IPv6 nodes, ports) quoted (RFC 7239 §4, §6). */
function forwardedPart(v: string): string {
  return /^[A-Za-z0-9.!#$%&'*+^_`|~-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** The last Forwarded value made, and what it was made of: a client's requests repeat them (one regex test saved each). */
let lastForwarded = { peer: undefined as string | undefined, host: '', proto: '', value: '' };

/** `Forwarded: for=…;host=…;proto=…` (RFC 7239 §5) for this hop: the client's address, the Host it asked, its scheme. */
function forwardedValue(opts: Pick<ForwardOptions, 'peer' | 'host' | 'proto'>): string {
  const last = lastForwarded;
  if (last.value !== '' && last.peer === opts.peer && last.host === opts.host && last.proto === opts.proto) return last.value;
  const peer = opts.peer === undefined ? 'unknown' : opts.peer.includes(':') ? `"[${opts.peer}]"` : opts.peer;
  const value = `for=${peer};host=${forwardedPart(opts.host)};proto=${opts.proto}`;
  lastForwarded = { peer: opts.peer, host: opts.host, proto: opts.proto, value };
  return value;
}

export interface ForwardOptions {
  /** Client fields never forwarded (unkeyed forwarding headers). */
  strip: ReadonlySet<string>;
  /**
   * The zone's key headers: a keyed X-Forwarded-Host / X-Forwarded-Proto is forwarded as the client sent it (the
   * key already tells its values apart); an unkeyed one is replaced by the edge's value.
   */
  keyed?: readonly string[];
  /**
   * The key's value normaliser (normalizeVaryValue): keyed fields are forwarded as the value the key holds, so two
   * requests with one key forward the same bytes (e.g. `Accept-Language: EN` and `en` share a key: both forward `en`).
   */
  normalize?: (name: string, value: string | string[] | undefined) => string | undefined;
  /** Client fields removed when the edge fetches for its cache (conditionals, ranges: the edge answers those). */
  dropForCacheFetch?: ReadonlySet<string>;
  /**
   * Forward fields whose names contain '_' (default: drop them unless keyed). CGI-style origins (WSGI, Rack, PHP)
   * turn both '-' and '_' into '_', so `X_Forwarded_Host` would reach them as X-Forwarded-Host past `strip`.
   */
  forwardUnderscores?: boolean;
  host: string;
  /** The client's scheme: the listener's, or what a trusted proxy reported (X-Forwarded-Proto, Forwarded's proto=). */
  proto: 'http' | 'https';
  peer: string | undefined;
  trustPeer: boolean;
  /**
   * A trusted proxy's own Forwarded elements (RFC 7239 §4): ours is appended to them, with `hopProto` (the scheme of
   * the listener it reached us on) as its proto=, so the first element still describes the client's request.
   */
  priorForwarded?: string;
  hopProto?: 'http' | 'https';
}

/** Request fields for the origin: the client's, minus hop-by-hop and stripped fields, plus forwarding fields. */
export function forwardHeaders(headers: IncomingHttpHeaders, opts: ForwardOptions): Record<string, string | string[]> {
  const extra = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (HOP_BY_HOP_FIELDS.has(name) || opts.strip.has(name) || extra?.has(name) || opts.dropForCacheFetch?.has(name)) continue;
    if (EDGE_OWNED_REQUEST_FIELDS.has(name)) continue;
    if (!opts.forwardUnderscores && name.includes('_') && !opts.keyed?.includes(name)) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  out.host = opts.host;
  const prior = opts.trustPeer ? headers['x-forwarded-for'] : undefined;
  const priorStr = Array.isArray(prior) ? prior.join(', ') : prior;
  if (opts.peer) out['x-forwarded-for'] = priorStr ? `${priorStr}, ${opts.peer}` : opts.peer;
  if (opts.keyed && opts.normalize) {
    for (const name of opts.keyed) {
      const sent = fieldOf(out, name);
      if (sent === undefined) continue;
      const v = opts.normalize(name, sent);
      if (v === undefined) delete out[name]; else out[name] = v;
    }
  }
  // A cache fetch (dropForCacheFetch given) forwards Accept-Encoding as a key holds it when the origin varies on it
  // (normalizeVaryValue folds it to the codings the cache tells apart): the origin can only pick a coding the key
  // selected, and every request that shares the key forwards the same value.
  if (opts.dropForCacheFetch && opts.normalize && !opts.keyed?.includes('accept-encoding')) {
    const ae = fieldOf(out, 'accept-encoding');
    if (ae !== undefined) out['accept-encoding'] = opts.normalize('accept-encoding', ae) ?? '';
  }
  const forwarded = opts.priorForwarded === undefined
    ? forwardedValue(opts)
    : `${opts.priorForwarded}, ${forwardedValue({ ...opts, proto: opts.hopProto ?? opts.proto })}`;
  const own = { 'x-forwarded-proto': opts.proto, 'x-forwarded-host': opts.host, forwarded };
  for (const name of EDGE_SET_FORWARDING) {
    if (!(opts.keyed?.includes(name) && fieldOf(headers, name) !== undefined)) out[name] = own[name];
  }
  const via = headers.via;
  const viaStr = Array.isArray(via) ? via.join(', ') : via;
  out.via = viaStr ? `${viaStr}, 1.1 edgecache` : '1.1 edgecache';
  return out;
}

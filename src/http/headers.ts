// Header plumbing for a proxy: hop-by-hop removal (RFC 9110 §7.6.1), forwarding headers, Via.
import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1, RFC 9112 §9.6). */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
]);

/** Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const s = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) out.add(n);
  }
  return out.size ? out : undefined;
}

/** Response fields from the origin, as [name, value] pairs, without hop-by-hop fields and `drop`. */
export function responseFields(
  headers: Record<string, string | string[] | undefined>,
  drop: ReadonlySet<string>,
  dropPrefix?: string,
): [string, string][] {
  const extra = connectionTokens(headers.connection);
  const out: [string, string][] = [];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || drop.has(name) || extra?.has(name) || (dropPrefix !== undefined && name.startsWith(dropPrefix))) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([name, x]);
    else out.push([name, v]);
  }
  return out;
}

export interface ForwardOptions {
  /** Client fields never forwarded (unkeyed forwarding headers, issue 9). */
  strip: ReadonlySet<string>;
  /** Client fields removed when the edge fetches for its cache (conditionals, ranges: the edge answers those). */
  dropForCacheFetch?: ReadonlySet<string>;
  host: string;
  proto: 'http' | 'https';
  peer: string | undefined;
  trustPeer: boolean;
}

/** Request fields for the origin: the client's, minus hop-by-hop and stripped fields, plus forwarding fields. */
export function forwardHeaders(headers: IncomingHttpHeaders, opts: ForwardOptions): Record<string, string | string[]> {
  const extra = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || opts.strip.has(name) || extra?.has(name) || opts.dropForCacheFetch?.has(name)) continue;
    if (name === 'host' || name === 'x-forwarded-for' || name === 'via') continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  out.host = opts.host;
  const prior = opts.trustPeer ? headers['x-forwarded-for'] : undefined;
  const priorStr = Array.isArray(prior) ? prior.join(', ') : prior;
  if (opts.peer) out['x-forwarded-for'] = priorStr ? `${priorStr}, ${opts.peer}` : opts.peer;
  out['x-forwarded-proto'] = opts.proto;
  out['x-forwarded-host'] = opts.host;
  const via = headers.via;
  const viaStr = Array.isArray(via) ? via.join(', ') : via;
  out.via = viaStr ? `${viaStr}, 1.1 edgecache` : '1.1 edgecache';
  return out;
}

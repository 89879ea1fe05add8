// Trusted proxy addresses: single IPs and CIDR ranges (IPv4 and IPv6), parsed once, matched with node:net's BlockList.
import { BlockList, isIP } from 'node:net';


/** Parses one entry; returns a message saying what is wrong, or undefined when it is a valid IP or CIDR range. */
export function checkPeerEntry(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return 'expected an IP address or a CIDR range (10.0.0.1, 10.0.0.0/8, fd00::/8); host names are not resolved';
  if (slash === -1) return undefined;
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `expected a prefix length from 0 to ${max} after "/"`;
  return undefined;
}

/** A set of peers, matched by address (an IPv4-mapped IPv6 peer such as ::ffff:10.0.0.1 matches its IPv4 form). */
export interface PeerMatcher {
  has(address: string): boolean;
  readonly size: number;
}

/** Compiles validated entries (see checkPeerEntry) into a matcher; an empty list trusts nobody. */
export function compilePeers(entries: readonly string[]): PeerMatcher {
  if (entries.length === 0) return { has: () => false, size: 0 };
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), type);
  }
  return {
    size: entries.length,
    has(address) {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/** The request's scheme as a trusted proxy reported it, with the Forwarded elements it sent (RFC 7239). */
export interface PeerScheme {
  /** http or https, from the peer's X-Forwarded-Proto, else the first Forwarded element's proto= (the client-facing hop). */
  proto: 'http' | 'https' | undefined;
  /** The peer's Forwarded value when every element parses (appended to, never trusted in part); undefined otherwise. */
  forwarded: string | undefined;
}

const SCHEME_RE = /^https?$/;
/** One Forwarded element: pairs `name=token` or `name="quoted"` separated by ';' (RFC 7239 §4). */
const ELEMENT_RE = /^\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+=(?:[A-Za-z0-9!#$%&'*+.^_`|~-]+|"(?:[^"\\]|\\.)*")(?:\s*;\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+=(?:[A-Za-z0-9!#$%&'*+.^_`|~-]+|"(?:[^"\\]|\\.)*"))*\s*$/;

/** Splits a Forwarded value into elements at commas outside quoted strings; undefined when one does not parse. */
function forwardedElements(value: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) { out.push(value.slice(start, i)); start = i + 1; }
  }
  if (quoted) return undefined;
  out.push(value.slice(start));
  return out.every((e) => ELEMENT_RE.test(e)) ? out.map((e) => e.trim()) : undefined;
}

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * What a trusted proxy said about the client's scheme: X-Forwarded-Proto (its first member: nginx's
 * `proxy_set_header X-Forwarded-Proto $scheme` sends one), else `proto=` of the first Forwarded element
 * (RFC 7239 §5.4: each proxy appends, so the first element describes the client's own request). Anything but http or
 * https is ignored. Only ever called for a peer in trustedProxies: from anyone else these fields are stripped.
 */
export function peerScheme(xForwardedProto: string | string[] | undefined, forwarded: string | string[] | undefined): PeerScheme {
  let proto: PeerScheme['proto'];
  const xfp = joined(xForwardedProto)?.split(',', 1)[0]!.trim().toLowerCase();
  if (xfp !== undefined && SCHEME_RE.test(xfp)) proto = xfp as 'http' | 'https';
  const fwd = joined(forwarded);
  const elements = fwd === undefined || fwd.length > 4096 ? undefined : forwardedElements(fwd);
  if (proto === undefined && elements) {
    const m = /(?:^|;)\s*proto=(?:"([^"]*)"|([^;\s]*))/i.exec(elements[0]!);
    const p = (m?.[1] ?? m?.[2])?.toLowerCase();
    if (p !== undefined && SCHEME_RE.test(p)) proto = p as 'http' | 'https';
  }
  return { proto, forwarded: elements?.join(', ') };
}

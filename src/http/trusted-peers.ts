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

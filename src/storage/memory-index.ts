// MemoryStore's index key helpers: zone host/tag keys, Host names and ports, Vary group matching, body content hashes.
import { createHash } from 'node:crypto';
import { headersOfSelector as selectorHeaders, hostName, type HeaderValues } from '../cache/key.js';
import type { VariantInput } from './store.js';

export function hostKey(zoneId: string, host: string): string { return `${zoneId}\u0000${host}`; }
export function tagKey(zoneId: string, tag: string): string { return `${zoneId}\u0000${tag}`; }

export { hostName };

export function hasPort(host: string): boolean { return hostName(host) !== host; }

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Content hash, so byte-identical bodies of different variants are held once. */
export function hashBody(body: Buffer): string {
  return `${body.length}:${createHash('sha256').update(body).digest('base64')}`;
}

/** Rebuilds request-like headers from a selector, to find the same request's variant in another Vary group. */
export function headersOfSelector(input: VariantInput): HeaderValues {
  return selectorHeaders(input.keyNames, input.selector);
}

// Admin API bearer-token checks: constant-time token comparison and per-zone authorisation. Never logs tokens.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface AdminToken {
  token: string;
  /** Zone ids this token may act on; "*" means every zone. */
  zones: string[];
}

export type TokenCheck = 'ok' | 'unauthenticated' | 'forbidden';
export type TokenChecker = (authHeader: string | undefined, zoneId: string) => TokenCheck;

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme name is case-insensitive (RFC 9110 §11.1).
// https://www.rfc-editor.org/rfc/rfc6750#section-2.1 — we accept any visible ASCII in the token, so a configured
// token using characters outside b64token still works.
const BEARER_RE = /^Bearer +([\x21-\x7e]+) *$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Extracts the token from `Authorization: Bearer <token>`; undefined when the header is missing or another scheme. */
export function readBearerToken(authHeader: string | undefined): string | undefined {
  if (authHeader === undefined) return undefined;
  return BEARER_RE.exec(authHeader)?.[1];
}

/**
 * Builds a checker over the configured tokens. The presented token and every configured token are compared as
 * SHA-256 digests with crypto.timingSafeEqual, so neither a token's content nor its length shows in the timing,
 * and every configured token is compared (no early exit) so the position of a match does not show either.
 * A known token without the zone is 'forbidden' (403); anything else that is not 'ok' is 'unauthenticated' (401).
 */
export function createTokenChecker(tokens: readonly AdminToken[]): TokenChecker {
  const entries = tokens
    .filter((t) => t.token.length > 0)
    .map((t) => ({ digest: digest(t.token), allZones: t.zones.includes('*'), zones: new Set(t.zones) }));
  return (authHeader, zoneId) => {
    const presented = readBearerToken(authHeader);
    if (presented === undefined) return 'unauthenticated';
    const presentedDigest = digest(presented);
    let known = false;
    let allowed = false;
    for (const entry of entries) {
      const same = timingSafeEqual(entry.digest, presentedDigest);
      known ||= same;
      allowed ||= same && (entry.allZones || entry.zones.has(zoneId));
    }
    if (allowed) return 'ok';
    return known ? 'forbidden' : 'unauthenticated';
  };
}

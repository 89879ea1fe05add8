// The checks every zone-scoped admin request shares, before its body is read: method, credentials, token's zones, zone.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBearerToken, type TokenChecker } from './auth.js';
import { refuse } from './reply.js';

export interface AdmitOptions {
  checkToken: TokenChecker;
  hasZone(id: string): boolean;
}

/** Query parameters people use to smuggle credentials; a request carrying any of them is refused. */
const QUERY_TOKEN_PARAMS = new Set(['token', 'access_token', 'api_token', 'apitoken', 'auth_token', 'authtoken', 'auth', 'authorization', 'bearer', 'key', 'api_key', 'apikey', 'secret']);

function hasQueryToken(rawUrl: string | undefined): boolean {
  const q = rawUrl?.indexOf('?') ?? -1;
  if (q === -1 || rawUrl === undefined) return false;
  for (const name of new URLSearchParams(rawUrl.slice(q + 1)).keys()) {
    if (QUERY_TOKEN_PARAMS.has(name.toLowerCase())) return true;
  }
  return false;
}

/**
 * In order: method (405), token in the query string (401), bearer token (401), token's zones (403), zone exists
 * (404). Answers the refusal itself and returns false, or returns true. `what` names the API in messages
 * (e.g. 'the purge API').
 */
export function admitAdminRequest(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: AdmitOptions, what = 'the purge API', method: 'POST' | 'GET' = 'POST'): boolean {
  if (req.method !== method) {
    refuse(req, res, 'methodNotAllowed', `Method ${req.method ?? '?'} not available for ${what}; use ${method}`, { allow: method });
    return false;
  }
  const bearer = { 'www-authenticate': 'Bearer realm="edgecache-admin"' };
  if (hasQueryToken(req.url)) {
    refuse(req, res, 'unauthenticated', 'Unable to authenticate request: tokens in the query string are never accepted (they end up in logs); send "Authorization: Bearer <token>" instead', bearer);
    return false;
  }
  const auth = opts.checkToken(req.headers.authorization, zoneId);
  if (auth === 'unauthenticated') {
    const why = readBearerToken(req.headers.authorization) === undefined ? 'send "Authorization: Bearer <token>"' : 'the bearer token is not valid';
    refuse(req, res, 'unauthenticated', `Unable to authenticate request: ${why}`, bearer);
    return false;
  }
  if (auth === 'forbidden') {
    refuse(req, res, 'forbidden', `Authentication error: this token may not use zone ${JSON.stringify(zoneId)}`);
    return false;
  }
  if (!opts.hasZone(zoneId)) {
    refuse(req, res, 'zoneNotFound', `Could not route to zone ${JSON.stringify(zoneId)}: no such zone is configured`);
    return false;
  }
  return true;
}

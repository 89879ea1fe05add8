// HTTP surface of the purge API (POST /client/v4/zones/{zone}/purge_cache): checks, body limits, Cloudflare envelopes.
//
// Checks run in this order, and a refused request purges nothing:
//   405 method (Allow: POST) → 401 token in the query string / missing or unknown bearer token → 403 token not valid
//   for this zone → 404 unknown zone → 413 body over maxBodyBytes → 400 body (codes in src/purge/request.ts) → apply.
// The first five are admitAdminRequest(), exported so other zone-scoped admin routes (inspect) can share them.
//
// Error codes used here (errors[].code). Cloudflare's own where one is known, ours otherwise:
//   7001   405  method not allowed                     (Cloudflare: 'Method GET not available for that URI.')
//   10001  401  no/unknown bearer token, or a token in the query string  (Cloudflare: 'Unable to authenticate request')
//   10000  403  token valid, but not for this zone     (Cloudflare: 'Authentication error')
//   7003   404  unknown zone                           (Cloudflare: 'Could not route to …, perhaps your object identifier is invalid?')
//   1017   413  body larger than maxBodyBytes          (ours)
//   1018   503  cluster bus unavailable (apply rejected with code EBUSUNAVAILABLE)  (ours)
//   1019   500  any other failure while applying      (ours)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasContent } from '../http/fields.js';
import { parsePurgeBody, PurgeError, type PurgeRequest } from '../purge/request.js';
import { readBearerToken, type TokenChecker } from './auth.js';

export interface PurgeRouteOptions {
  checkToken: TokenChecker;
  hasZone(id: string): boolean;
  /** Most items (URLs, tags, hosts, prefixes) in one request (config purge.maxItems). */
  maxItems: number;
  /** Largest accepted body in bytes (1 MiB). */
  maxBodyBytes: number;
  /** Applies the purge; reject with an Error whose code is 'EBUSUNAVAILABLE' when the cluster bus is down. */
  apply(zoneId: string, req: PurgeRequest): Promise<void>;
  newId(): string;
  /** Told about unexpected apply failures (for the log); never given request headers or tokens. */
  onError?(err: unknown): void;
}

export const ROUTE_ERROR_CODES = {
  methodNotAllowed: 7001,
  unauthenticated: 10001,
  forbidden: 10000,
  zoneNotFound: 7003,
  bodyTooLarge: 1017,
  busUnavailable: 1018,
  internal: 1019,
} as const;

/** Query parameters people use to smuggle credentials; a request carrying any of them is refused. */
const QUERY_TOKEN_PARAMS = new Set(['token', 'access_token', 'api_token', 'apitoken', 'auth_token', 'authtoken', 'auth', 'authorization', 'bearer', 'key', 'api_key', 'apikey', 'secret']);

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

function send(res: ServerResponse, status: number, payload: unknown, extraHeaders?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify(payload));
  res.writeHead(status, { ...JSON_HEADERS, ...extraHeaders, 'content-length': String(body.length) });
  res.end(body);
}

/** Writes a Cloudflare-shaped failure: {"success":false,"errors":[{code,message}],"messages":[],"result":null}. */
export function sendCfError(res: ServerResponse, status: number, code: number, message: string, extraHeaders?: Record<string, string>): void {
  send(res, status, { success: false, errors: [{ code, message }], messages: [], result: null }, extraHeaders);
}

/** Writes a Cloudflare-shaped success: {"success":true,"errors":[],"messages":[],"result":…}. */
export function sendCfSuccess(res: ServerResponse, result: unknown): void {
  send(res, 200, { success: true, errors: [], messages: [], result });
}

/**
 * Refuses a request without reading its body. If a body is on its way we answer with `Connection: close`, so the
 * server does not keep reading it to reuse the connection.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, code: number, message: string, extraHeaders?: Record<string, string>): void {
  const close: Record<string, string> = hasContent(req.headers) ? { connection: 'close' } : {};
  sendCfError(res, status, code, message, { ...extraHeaders, ...close });
}

function hasQueryToken(rawUrl: string | undefined): boolean {
  const q = rawUrl?.indexOf('?') ?? -1;
  if (q === -1 || rawUrl === undefined) return false;
  for (const name of new URLSearchParams(rawUrl.slice(q + 1)).keys()) {
    if (QUERY_TOKEN_PARAMS.has(name.toLowerCase())) return true;
  }
  return false;
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'aborted' };

/** Reads at most `max` bytes; stops reading (and stops buffering) as soon as the body is known to be larger. */
function readBody(req: IncomingMessage, max: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ ok: false, reason: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        req.pause();
        finish({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ ok: true, body: Buffer.concat(chunks, size) });
    const onAbort = (): void => finish({ ok: false, reason: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

function isBusUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EBUSUNAVAILABLE';
}

/** Handles one purge request for `zoneId` (already taken from the path by the admin server). */
export function handlePurge(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: PurgeRouteOptions): void {
  void runPurge(req, res, zoneId, opts).catch((err: unknown) => {
    opts.onError?.(err);
    sendCfError(res, 500, ROUTE_ERROR_CODES.internal, 'internal error while handling the purge request');
  });
}

export interface AdmitOptions {
  checkToken: TokenChecker;
  hasZone(id: string): boolean;
}

/**
 * The checks every zone-scoped admin POST shares, in order: method (405), token in the query string (401), bearer
 * token (401), token's zones (403), zone exists (404). Answers the refusal itself and returns false, or returns true.
 * `what` names the API in messages (e.g. 'the purge API').
 */
export function admitAdminRequest(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: AdmitOptions, what = 'the purge API'): boolean {
  if (req.method !== 'POST') {
    refuse(req, res, 405, ROUTE_ERROR_CODES.methodNotAllowed, `Method ${req.method ?? '?'} not available for ${what}; use POST`, { allow: 'POST' });
    return false;
  }
  const bearer = { 'www-authenticate': 'Bearer realm="edgecache-admin"' };
  if (hasQueryToken(req.url)) {
    refuse(req, res, 401, ROUTE_ERROR_CODES.unauthenticated, 'Unable to authenticate request: tokens in the query string are never accepted (they end up in logs); send "Authorization: Bearer <token>" instead', bearer);
    return false;
  }
  const auth = opts.checkToken(req.headers.authorization, zoneId);
  if (auth === 'unauthenticated') {
    const why = readBearerToken(req.headers.authorization) === undefined ? 'send "Authorization: Bearer <token>"' : 'the bearer token is not valid';
    refuse(req, res, 401, ROUTE_ERROR_CODES.unauthenticated, `Unable to authenticate request: ${why}`, bearer);
    return false;
  }
  if (auth === 'forbidden') {
    refuse(req, res, 403, ROUTE_ERROR_CODES.forbidden, `Authentication error: this token may not use zone ${JSON.stringify(zoneId)}`);
    return false;
  }
  if (!opts.hasZone(zoneId)) {
    refuse(req, res, 404, ROUTE_ERROR_CODES.zoneNotFound, `Could not route to zone ${JSON.stringify(zoneId)}: no such zone is configured`);
    return false;
  }
  return true;
}

async function runPurge(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: PurgeRouteOptions): Promise<void> {
  if (!admitAdminRequest(req, res, zoneId, opts)) return;

  const read = await readBody(req, opts.maxBodyBytes);
  if (!read.ok) {
    if (read.reason === 'too-large') {
      sendCfError(res, 413, ROUTE_ERROR_CODES.bodyTooLarge, `Request body is larger than ${opts.maxBodyBytes} bytes; split the purge into several requests`, { connection: 'close' });
    }
    return; // aborted: the client is gone, nothing to answer and nothing purged
  }

  const parsed = parsePurgeBody(read.body, { maxItems: opts.maxItems });
  if (parsed instanceof PurgeError) {
    sendCfError(res, parsed.status, parsed.code, parsed.message);
    return;
  }

  try {
    await opts.apply(zoneId, parsed);
  } catch (err) {
    if (isBusUnavailable(err)) {
      sendCfError(res, 503, ROUTE_ERROR_CODES.busUnavailable, 'Cluster unavailable: the purge could not be sent to the other nodes over the cluster bus; retry when the cluster is back');
      return;
    }
    opts.onError?.(err);
    sendCfError(res, 500, ROUTE_ERROR_CODES.internal, 'Purge failed with an internal error; see the server log');
    return;
  }
  sendCfSuccess(res, { id: opts.newId() });
}

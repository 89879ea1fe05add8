// The admin API's one envelope writer: Cloudflare-shaped JSON answers, {success, errors:[{code,message}], messages, result}.
import { hasContent } from '../http/fields.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_ERRORS, type ApiErrorName } from '../purge/api-errors.js';

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

/** A failure's envelope as status, fields and body, for a writer that ends the answer itself (src/admin/body.ts). */
export function apiErrorAnswer(error: ApiErrorName, message: string, extraHeaders?: Record<string, string>): { status: number; headers: Record<string, string>; body: Buffer } {
  const { status, code } = API_ERRORS[error];
  const body = Buffer.from(JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null }));
  return { status, headers: { ...JSON_HEADERS, ...extraHeaders, 'content-length': String(body.length) }, body };
}

/** Writes a failure: {"success":false,"errors":[{code,message}],"messages":[],"result":null}, status and code from the catalogue. */
export function sendApiError(res: ServerResponse, error: ApiErrorName, message: string, extraHeaders?: Record<string, string>): void {
  const { status, code } = API_ERRORS[error];
  send(res, status, { success: false, errors: [{ code, message }], messages: [], result: null }, extraHeaders);
}

/** A note in a successful answer's `messages`. */
export interface ApiMessage {
  code: number;
  message: string;
}

/** Writes a success: {"success":true,"errors":[],"messages":[…],"result":…}. */
export function sendApiSuccess(res: ServerResponse, result: unknown, messages: readonly ApiMessage[] = []): void {
  send(res, 200, { success: true, errors: [], messages, result });
}

/**
 * Refuses a request without reading its body. If a body is on its way we answer with `Connection: close`, so the
 * server does not keep reading it to reuse the connection.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, error: ApiErrorName, message: string, extraHeaders?: Record<string, string>): void {
  const close: Record<string, string> = hasContent(req.headers) ? { connection: 'close' } : {};
  sendApiError(res, error, message, { ...extraHeaders, ...close });
}

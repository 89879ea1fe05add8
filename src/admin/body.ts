// The admin API's one request-body reader: reads up to a route's size limit, answers 413 past it, stops reading early.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendApiError } from './reply.js';

/** Largest purge body (a purge of purge.maxItems long URLs fits well within it). */
export const MAX_PURGE_BODY_BYTES = 1024 * 1024;
/** Largest inspect body: one URL and a few headers. */
export const MAX_INSPECT_BODY_BYTES = 64 * 1024;

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

/**
 * The request body, or undefined when there is none to act on: over `max` bytes (answered 413 with
 * `Connection: close`, saying `hint`), or the client went away (nothing to answer).
 */
export async function readAdminBody(req: IncomingMessage, res: ServerResponse, max: number, hint: string): Promise<Buffer | undefined> {
  const read = await readBody(req, max);
  if (read.ok) return read.body;
  if (read.reason === 'too-large') {
    sendApiError(res, 'bodyTooLarge', `Request body is larger than ${max} bytes; ${hint}`, { connection: 'close' });
  }
  return undefined;
}

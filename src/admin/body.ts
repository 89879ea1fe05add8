// The admin API's one request-body reader: reads up to a route's size limit, answers 413 past it with a bounded
// lingering close (the rest of the body is read and dropped for a while, so the client reads the 413 before the close).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiErrorAnswer } from './reply.js';

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
 * How long a refused body is still read (and dropped) after the 413 is written. Closing a socket with unread data
 * makes the kernel send RST, and a client still sending when it arrives loses the 413 it had not read yet (RFC 9112
 * §9.6: a server SHOULD read the rest before closing, "lingering close"); past these bounds the connection is closed.
 */
export interface LingerBounds { maxBytes: number; maxMs: number }
export const DEFAULT_LINGER: Readonly<LingerBounds> = Object.freeze({ maxBytes: 8 * 1024 * 1024, maxMs: 2_000 });

/** Reads and drops what is left of `req` until it ends or a bound is passed, then calls `done` (once). */
function linger(req: IncomingMessage, bounds: LingerBounds, done: () => void): void {
  let seen = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', finish);
    req.off('close', finish);
    done();
  };
  const onData = (chunk: Buffer): void => { seen += chunk.length; if (seen > bounds.maxBytes) finish(); };
  const timer = setTimeout(finish, bounds.maxMs);
  if (req.complete) { finish(); return; }
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}

/**
 * The request body, or undefined when there is none to act on: over `max` bytes (answered 413 with
 * `Connection: close`, saying `hint`, closed after a bounded lingering read), or the client went away (nothing to answer).
 */
export async function readAdminBody(req: IncomingMessage, res: ServerResponse, max: number, hint: string, bounds: LingerBounds = DEFAULT_LINGER): Promise<Buffer | undefined> {
  const read = await readBody(req, max);
  if (read.ok) return read.body;
  if (read.reason === 'too-large' && !res.headersSent && !res.destroyed) {
    // Head and body go out now (Content-Length frames them); the end, and with it node's close of the connection
    // (Connection: close), waits for the lingering read. Past its bounds the socket is closed even if unread data remains.
    const a = apiErrorAnswer('bodyTooLarge', `Request body is larger than ${max} bytes; ${hint}`, { connection: 'close' });
    res.writeHead(a.status, a.headers);
    res.write(a.body);
    linger(req, bounds, () => {
      if (req.complete) res.end();
      else res.end(() => req.socket.destroy());
    });
  }
  return undefined;
}

// Writing answers to clients: a stored response (with conditionals and ranges), errors, and edge status headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { evaluateConditionals, notModifiedHeaders } from '../cache/policy/conditional.js';
import { answerRange, type RangePiece } from '../cache/policy/range.js';
import type { BodyFile } from '../storage/store.js';

/** What can be served as a complete response: a stored variant, or a response just fetched in full. */
export interface Servable {
  status: number;
  flatHeaders: string[];
  fieldMap: Record<string, string | string[]>;
  /** The body in memory; when undefined, `bodyFile` has it (a disk tier). */
  body: Buffer | undefined;
  bodyLength: number;
  bodyFile?: BodyFile | undefined;
}

/** Bodies on disk up to this size are read whole (and may be promoted to the memory tier); larger ones are streamed. */
export const READ_WHOLE_MAX = 256 * 1024;

export function hasConditionals(h: IncomingMessage['headers']): boolean {
  return h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined ||
    h['if-match'] !== undefined || h['if-unmodified-since'] !== undefined;
}

/**
 * Serves a complete response with edge fields appended (`extra` is a flat [name, value, ...] list).
 * Client conditionals (RFC 9110 §13.2.2) and Range (RFC 9110 §14) are answered here, never forwarded.
 */
/** Writes a stored answer (a 304/412, a range, or the whole body) and returns how many body bytes it sent. */
export function serveComplete(req: IncomingMessage, res: ServerResponse, s: Servable, extra: string[]): number {
  const h = req.headers;
  const method = req.method!;
  if (hasConditionals(h) && answerConditionals(req, res, s.status, s.fieldMap, extra)) return 0;
  if (h.range !== undefined && (method === 'GET' || method === 'HEAD')) {
    const r = answerRange(method, h, { status: s.status, headers: s.fieldMap, body: s.body, length: s.bodyLength });
    if (r.kind !== 'full') {
      const flat: string[] = [];
      const replaced = new Set(r.headers.map(([n]) => n));
      for (let i = 0; i < s.flatHeaders.length; i += 2) {
        if (!replaced.has(s.flatHeaders[i]!) && s.flatHeaders[i] !== 'content-length') flat.push(s.flatHeaders[i]!, s.flatHeaders[i + 1]!);
      }
      for (const [n, v] of r.headers) flat.push(n, v);
      res.writeHead(r.status, flat.concat(extra));
      if (method === 'HEAD' || r.kind !== 'partial') { res.end(); return 0; }
      if (r.body !== undefined) { res.end(r.body); return r.body.length; }
      // A range of a body on disk: only the ranges are read, through bounded read streams (RFC 9110 §14).
      streamPieces(res, s.bodyFile!, r.pieces);
      return Number(r.headers.find(([n]) => n === 'content-length')?.[1] ?? 0);
    }
  }
  const body = s.body;
  if (body === undefined) return serveFromFile(req, res, s, extra);
  res.writeHead(s.status, joinFields(s.flatHeaders, extra));
  if (method === 'HEAD') { res.end(); return 0; }
  res.end(body);
  return body.length;
}

/**
 * The whole stored response from a body on disk: a small one is read whole (asynchronously) and sent in one write, a
 * large one streamed through a read stream at the client's pace (a slow client holds one stream buffer, never the body).
 */
function serveFromFile(req: IncomingMessage, res: ServerResponse, s: Servable, extra: string[]): number {
  const file = s.bodyFile!;
  const fields = joinFields(s.flatHeaders, extra);
  if (req.method === 'HEAD') { res.writeHead(s.status, fields); res.end(); return 0; }
  if (s.bodyLength === 0) { res.writeHead(s.status, fields); res.end(); return 0; }
  if (s.bodyLength <= READ_WHOLE_MAX) {
    file.read().then((buf) => {
      if (res.destroyed) return;
      res.writeHead(s.status, fields);
      res.end(buf);
    }, () => { sendText(res, 503, 'edgecache: the cached body could not be read; retry'); });
    return s.bodyLength;
  }
  res.writeHead(s.status, fields);
  streamPieces(res, file, [{ start: 0, end: s.bodyLength - 1 }]);
  return s.bodyLength;
}

/** Writes literal pieces and byte ranges of a body on disk, in order, with backpressure; a read error cuts the answer. */
function streamPieces(res: ServerResponse, file: BodyFile, pieces: readonly RangePiece[]): void {
  async function* read(): AsyncGenerator<Buffer> {
    for (const p of pieces) {
      if (Buffer.isBuffer(p)) yield p;
      else for await (const chunk of file.stream(p.start, p.end)) yield chunk as Buffer;
    }
  }
  pipeline(Readable.from(read(), { objectMode: false }), res, () => {});
}

/**
 * Answers client conditionals (RFC 9110 §13.2.2, https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2) from a
 * response's status and fields alone: 304 or 412, true when it answered; false when the full response is due.
 */
export function answerConditionals(req: IncomingMessage, res: ServerResponse, status: number, fieldMap: Servable['fieldMap'], extra: string[]): boolean {
  const cond = evaluateConditionals(req.method!, req.headers, { status, headers: fieldMap });
  if (cond === 'not-modified') {
    const flat: string[] = [];
    const nm = notModifiedHeaders(fieldMap);
    for (const k in nm) {
      const v = nm[k];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) flat.push(k, x); else flat.push(k, v);
    }
    res.writeHead(304, flat.concat(extra));
    res.end();
    return true;
  }
  if (cond === 'precondition-failed') {
    res.writeHead(412, ['content-length', '0', ...extra]);
    res.end();
    return true;
  }
  return false;
}

/** A short plain-text answer from the edge itself (errors, 421). */
export function sendText(res: ServerResponse, status: number, text: string, extra: string[] = []): void {
  if (res.headersSent) { res.destroy(); return; }
  const body = `${text}\n`;
  res.writeHead(status, ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store', ...extra]);
  res.end(body);
}

/** `a` then `b` in a new array of exactly their length (the hit path: a plain loop costs less than concat here). */
function joinFields(a: readonly string[], b: readonly string[]): string[] {
  const out = new Array<string>(a.length + b.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]!;
  for (let i = 0; i < b.length; i++) out[a.length + i] = b[i]!;
  return out;
}

/** Flattens [name, value] pairs and appends edge fields. */
export function flatFields(fields: [string, string][], extra: string[]): string[] {
  const out = new Array<string>(fields.length * 2 + extra.length);
  let i = 0;
  for (let j = 0; j < fields.length; j++) { const f = fields[j]!; out[i++] = f[0]; out[i++] = f[1]; }
  for (let j = 0; j < extra.length; j++) out[i++] = extra[j]!;
  return out;
}

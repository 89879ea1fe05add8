// Writing answers to clients: a stored response (with conditionals and ranges), errors, and edge status headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { evaluateConditionals, notModifiedHeaders } from '../cache/policy/conditional.js';
import { answerRange } from '../cache/policy/range.js';

/** What can be served as a complete response: a stored variant, or a response just fetched in full. */
export interface Servable {
  status: number;
  flatHeaders: string[];
  fieldMap: Record<string, string | string[]>;
  body: Buffer;
}

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
    const r = answerRange(method, h, { status: s.status, headers: s.fieldMap, body: s.body });
    if (r.kind !== 'full') {
      const flat: string[] = [];
      const replaced = new Set(r.headers.map(([n]) => n));
      for (let i = 0; i < s.flatHeaders.length; i += 2) {
        if (!replaced.has(s.flatHeaders[i]!) && s.flatHeaders[i] !== 'content-length') flat.push(s.flatHeaders[i]!, s.flatHeaders[i + 1]!);
      }
      for (const [n, v] of r.headers) flat.push(n, v);
      res.writeHead(r.status, flat.concat(extra));
      const sent = method === 'HEAD' || r.kind !== 'partial' ? undefined : r.body;
      res.end(sent);
      return sent === undefined ? 0 : sent.length;
    }
  }
  res.writeHead(s.status, joinFields(s.flatHeaders, extra));
  if (method === 'HEAD') { res.end(); return 0; }
  res.end(s.body);
  return s.body.length;
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
  const out: string[] = [];
  for (const [n, v] of fields) out.push(n, v);
  for (const x of extra) out.push(x);
  return out;
}

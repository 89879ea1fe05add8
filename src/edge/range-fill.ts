// A Range request answered from a whole-object fill as its bytes arrive (RFC 9110 §14): a player's first `bytes=0-`
// gets its 206 head at once and each byte as the origin sends it, while the one origin fetch fills the cache.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerRange, type RangePiece } from '../cache/policy/range.js';
import type { Sink } from './shared-body.js';
import type { SharedBody } from './shared-body.js';
import type { FileBody } from './file-body.js';
import { fieldRecord } from './partial-entry.js';

/** `full`: no range applies, stream the whole body; `wait`: answer from the whole body once filled; `answered`: done here. */
export type FillRange = 'full' | 'wait' | 'answered';

/**
 * Answers `req`'s Range from a fill of `status`/`fields` (the origin's head). Needs the declared Content-Length (the
 * complete length goes in Content-Range before the body has arrived); a body of unknown length waits for the fill.
 * If-Range is judged against the head's validators (RFC 9110 §13.1.5); unsatisfiable ranges get 416 at once.
 */
export function rangeFromFill(
  req: IncomingMessage, res: ServerResponse, body: SharedBody | FileBody, status: number, fields: [string, string][],
  edge: () => string[], failed: (err: Error) => void, now: number,
): FillRange {
  const cl = fields.find(([n]) => n === 'content-length')?.[1];
  if (cl === undefined || !/^\d{1,15}$/.test(cl)) return 'wait';
  const length = Number(cl);
  const r = answerRange('GET', req.headers, { status, headers: fieldRecord(fields), length }, { now });
  if (r.kind === 'full') return 'full';
  const flat: string[] = [];
  const replaced = new Set(r.headers.map(([n]) => n));
  for (const [n, v] of fields) if (!replaced.has(n) && n !== 'content-length') flat.push(n, v);
  for (const [n, v] of r.headers) flat.push(n, v);
  const head = (): void => { res.writeHead(r.status, flat.concat(edge())); };
  if (r.kind === 'unsatisfiable') { head(); res.end(); return 'answered'; }
  if (!ascending(r.pieces)) return 'wait';
  streamPieces(res, body, r.pieces, head, failed);
  return 'answered';
}

/** Ranges in body order (multipart parts in request order may not be: those wait for the whole body). */
function ascending(pieces: readonly RangePiece[]): boolean {
  let last = -1;
  for (const p of pieces) {
    if (Buffer.isBuffer(p)) continue;
    if (p.start <= last) return false;
    last = p.end;
  }
  return true;
}

/** Subscribes to the fill and writes the pieces' bytes as they pass; ends the answer at the last one (the fill goes on). */
function streamPieces(res: ServerResponse, body: SharedBody | FileBody, pieces: readonly RangePiece[], head: () => void, failed: (err: Error) => void): void {
  let started = false;
  let finished = false;
  let i = 0;
  let pos = 0;
  const start = (): void => { if (!started) { started = true; head(); } };
  const finish = (): void => {
    finished = true;
    start();
    res.end();
    // Left on the next turn: the fill is iterating its readers now.
    setImmediate(() => body.unsubscribe(sink));
  };
  const sink: Sink = {
    write: (b) => {
      if (finished || res.destroyed) return true;
      const from = pos;
      pos += b.length;
      let ok = true;
      while (i < pieces.length) {
        const p = pieces[i]!;
        if (Buffer.isBuffer(p)) { start(); ok = res.write(p); i++; continue; }
        if (p.start >= pos) break;
        const a = Math.max(p.start, from), z = Math.min(p.end, pos - 1);
        if (z >= a) { start(); ok = res.write(b.subarray(a - from, z - from + 1)); }
        if (p.end < pos) i++; else break;
      }
      if (i === pieces.length) { finish(); return true; }
      return ok;
    },
    onDrain: (fn) => res.once('drain', fn),
    // The fill ended before the last range: the promised length can no longer be met (RFC 9112 §6.3), so the
    // connection is closed mid-body.
    end: () => { if (!finished) res.destroy(); },
    fail: (err) => { if (started || finished) res.destroy(); else failed(err); },
  };
  res.on('close', () => body.unsubscribe(sink));
  body.subscribe(sink);
}

// Bench origin: a small node:http server with cacheable assets, unique miss URLs, slow URLs, generated large bodies, and request counters.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Asset sizes served under /asset/<name>. */
export const ASSETS: Record<string, number> = { '1k': 1024, '100k': 100 * 1024, '1m': 1024 * 1024 };
/** Body size of /unique/* and /slow/* responses. */
export const SMALL_BODY = 1024;

const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();

function makeBody(size: number, seed: string): Buffer {
  const buf = Buffer.alloc(size, 0x2f /* '/' */);
  buf.write(`// ${seed}\n`, 0, 'latin1');
  return buf;
}

/** Response headers every cacheable bench response carries; ACAO reflects the request's Origin. */
export function cacheableHeaders(req: IncomingMessage, length: number, etag: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/javascript',
    'content-length': String(length),
    'cache-control': 'public, max-age=3600',
    vary: 'Origin',
    etag,
    'last-modified': LAST_MODIFIED,
  };
  const origin = req.headers.origin;
  if (typeof origin === 'string') headers['access-control-allow-origin'] = origin;
  return headers;
}

export interface OriginCounters {
  total: number;
  byPrefix: Map<string, number>;
  byPath: Map<string, number>;
}

/** The origin's request handler, counting every request except /__count. */
export function makeOriginHandler(counters: OriginCounters): (req: IncomingMessage, res: ServerResponse) => void {
  const assets = new Map(Object.entries(ASSETS).map(([name, size]) => [name, makeBody(size, `asset ${name}`)]));
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/__count') {
      const want = new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('path');
      const body = JSON.stringify({
        total: counters.total,
        byPrefix: Object.fromEntries(counters.byPrefix),
        path: want === null ? undefined : (counters.byPath.get(want) ?? 0),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    counters.total += 1;
    const prefix = path.slice(0, path.indexOf('/', 1) === -1 ? path.length : path.indexOf('/', 1));
    counters.byPrefix.set(prefix, (counters.byPrefix.get(prefix) ?? 0) + 1);
    // Per-URL counts only for the few fixed or slow URLs; /unique/* would grow without bound.
    if (prefix !== '/unique') counters.byPath.set(url, (counters.byPath.get(url) ?? 0) + 1);

    if (prefix === '/asset') {
      const name = path.slice('/asset/'.length);
      const body = assets.get(name);
      if (body === undefined) return notFound(res);
      res.writeHead(200, cacheableHeaders(req, body.length, `"${name}-v1"`));
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (prefix === '/unique') {
      const body = makeBody(SMALL_BODY, url);
      res.writeHead(200, cacheableHeaders(req, body.length, `"u${counters.total}"`));
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (prefix === '/large') {
      // /large/<bytes>: a generated body of any size (up to 64 GiB), written as fast as the client takes it.
      const size = Number(path.slice('/large/'.length));
      if (!Number.isSafeInteger(size) || size < 0 || size > LARGE_MAX) return notFound(res);
      res.writeHead(200, cacheableHeaders(req, size, `"large-${size}"`));
      if (req.method === 'HEAD') { res.end(); return; }
      pumpLarge(res, size);
      return;
    }
    if (prefix === '/slow') {
      const delay = Number(new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('delay') ?? '200');
      const body = makeBody(SMALL_BODY, url);
      setTimeout(() => {
        res.writeHead(200, cacheableHeaders(req, body.length, `"s${counters.total}"`));
        res.end(req.method === 'HEAD' ? undefined : body);
      }, Number.isFinite(delay) ? delay : 200);
      return;
    }
    notFound(res);
  };
}

const LARGE_MAX = 64 * 1024 * 1024 * 1024;
/** The repeating 1 MiB of every /large/ body (bytes from a simple sequence, not all one value). */
const LARGE_CHUNK = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 131 + (i >> 10)) & 0xff));

/** Writes `size` bytes of LARGE_CHUNK with backpressure; stops when the client leaves. */
function pumpLarge(res: ServerResponse, size: number): void {
  let sent = 0;
  let gone = false;
  res.on('close', () => { gone = true; });
  const pump = (): void => {
    while (!gone && sent < size) {
      const n = Math.min(LARGE_CHUNK.length, size - sent);
      sent += n;
      if (!res.write(n === LARGE_CHUNK.length ? LARGE_CHUNK : LARGE_CHUNK.subarray(0, n))) { res.once('drain', pump); return; }
    }
    if (!gone) res.end();
  };
  pump();
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end('not found\n');
}

function parsePort(argv: string[]): number {
  const i = argv.indexOf('--port');
  const port = i === -1 ? 0 : Number(argv[i + 1]);
  return Number.isInteger(port) && port >= 0 ? port : 0;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1]);
if (isMain) {
  const counters: OriginCounters = { total: 0, byPrefix: new Map(), byPath: new Map() };
  const server = createServer(makeOriginHandler(counters));
  server.keepAliveTimeout = 120_000; // longer than the proxies' idle upstream connections live
  server.headersTimeout = 121_000;
  server.listen(parsePort(process.argv), '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`origin listening on ${typeof addr === 'object' && addr ? addr.port : '?'}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

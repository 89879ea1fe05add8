// Bench ceiling over TLS: a bare node:https (`--proto h1`) or node:http2 secure server (`--proto h2`, with HTTP/1.1
// allowed) answering a preallocated 1 KiB buffer with cache-like headers; the certificate comes from --cert/--key.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';

const SMALL = Buffer.alloc(1024, 0x2f);
const arg = (name: string): string => { const i = process.argv.indexOf(name); return i === -1 ? '' : process.argv[i + 1] ?? ''; };

const HEADERS: Record<string, string> = {
  'content-type': 'application/javascript', 'content-length': String(SMALL.length), 'cache-control': 'public, max-age=3600',
  vary: 'Origin', etag: '"1k-v1"', age: '0',
};
const handle = (_req: IncomingMessage, res: ServerResponse): void => { res.writeHead(200, HEADERS); res.end(SMALL); };
const tls = { cert: readFileSync(arg('--cert')), key: readFileSync(arg('--key')), minVersion: 'TLSv1.2' as const };
const server = arg('--proto') === 'h2'
  ? createSecureServer({ ...tls, allowHTTP1: true }, handle as never)
  : createHttpsServer({ ...tls, keepAliveTimeout: 120_000 }, handle);
server.listen(Number(arg('--port')), '127.0.0.1');
const stop = (): void => { server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

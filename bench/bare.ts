// Bench ceiling: a bare node:http server answering preallocated 1 KiB / 100 KiB buffers with cache-like headers.
import { createServer } from 'node:http';

const SMALL = Buffer.alloc(1024, 0x2f);
const LARGE = Buffer.alloc(100 * 1024, 0x2f);
const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();

function parsePort(argv: string[]): number {
  const i = argv.indexOf('--port');
  const port = i === -1 ? 0 : Number(argv[i + 1]);
  return Number.isInteger(port) && port >= 0 ? port : 0;
}

const server = createServer((req, res) => {
  const body = (req.url ?? '').startsWith('/asset/100k') ? LARGE : SMALL;
  const headers: Record<string, string> = {
    'content-type': 'application/javascript',
    'content-length': String(body.length),
    'cache-control': 'public, max-age=3600',
    vary: 'Origin',
    etag: body === LARGE ? '"100k-v1"' : '"1k-v1"',
    'last-modified': LAST_MODIFIED,
    age: '0',
  };
  const origin = req.headers.origin;
  if (typeof origin === 'string') headers['access-control-allow-origin'] = origin;
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(parsePort(process.argv), '127.0.0.1');
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Bench ceiling: a bare node:http server answering preallocated 1 KiB / 100 KiB buffers with cache-like headers
// (`--workers N`: N such processes in node:cluster sharing the port, the ceiling for multi-worker servers).
import cluster from 'node:cluster';
import { createServer } from 'node:http';

const SMALL = Buffer.alloc(1024, 0x2f);
const LARGE = Buffer.alloc(100 * 1024, 0x2f);
const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();

function intArg(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const n = i === -1 ? fallback : Number(argv[i + 1]);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

function serve(port: number): void {
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
  server.listen(port, '127.0.0.1');
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const workers = Math.max(1, intArg(process.argv, '--workers', 1));
if (workers > 1 && cluster.isPrimary) {
  // Workers run this same script (same argv) and take the else branch: node:cluster shares the port among them.
  for (let i = 0; i < workers; i++) cluster.fork();
  const stopAll = (): void => {
    cluster.on('exit', () => { if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0); });
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
} else {
  serve(intArg(process.argv, '--port', 0));
}

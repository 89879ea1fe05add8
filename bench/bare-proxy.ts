// Bench ceiling for misses: a bare node:http server that forwards every request to the origin with an undici Pool set
// up as edgecache's (src/origin/client.ts) and relays the answer, storing nothing (`--workers N`: node:cluster).
import cluster from 'node:cluster';
import { createServer, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

/** Hop-by-hop fields (RFC 9110 §7.6.1) are not relayed. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

/**
 * The body to the client as it comes, with backpressure, as a hand-written proxy does it: stream.pipeline would add an
 * AbortController, end-of-stream watchers and a callback chain per response, a cost no careful proxy needs to pay.
 */
function relay(body: Dispatcher.ResponseData['body'], res: ServerResponse): void {
  const resume = (): void => { body.resume(); };
  body.on('data', (chunk: Buffer) => { if (!res.write(chunk)) { body.pause(); res.once('drain', resume); } });
  body.on('end', () => res.end());
  body.on('error', () => res.destroy());
  res.on('close', () => { if (!body.readableEnded) body.destroy(); });
}

function serve(port: number, origin: string): void {
  const pool = new Pool(origin, { connections: 128, pipelining: 1, keepAliveTimeout: 4_000, connectTimeout: 5_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const server = createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [n, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(n)) headers[n] = v;
    pool.request({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
      .then((o) => {
        const out: string[] = [];
        for (const [n, v] of Object.entries(o.headers)) {
          if (v === undefined || HOP.has(n)) continue;
          if (Array.isArray(v)) for (const x of v) out.push(n, x); else out.push(n, v);
        }
        res.writeHead(o.statusCode, out);
        relay(o.body, res);
      })
      .catch(() => { if (!res.headersSent) { res.writeHead(502); res.end(); } else res.destroy(); });
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.listen(port, '127.0.0.1');
  const stop = (): void => {
    server.close(() => { void pool.close().finally(() => process.exit(0)); });
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const workers = Math.max(1, Number(arg(process.argv, '--workers') ?? 1) || 1);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const stopAll = (): void => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
} else {
  serve(Number(arg(process.argv, '--port') ?? 0), arg(process.argv, '--origin') ?? 'http://127.0.0.1:1');
}

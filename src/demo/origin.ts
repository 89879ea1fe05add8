// Built-in demo origin for `npm start` without an origin: a few JSON/JS assets that reflect Origin with Vary: Origin.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

interface Asset { type: string; body: Buffer; tags: string; etag: string }

const started = new Date();

function asset(type: string, text: string, tags: string): Asset {
  const body = Buffer.from(text);
  return { type, body, tags, etag: `"${createHash('sha1').update(body).digest('hex').slice(0, 16)}"` };
}

const ASSETS: Record<string, Asset> = {
  '/app.js': asset('text/javascript; charset=utf-8', 'export const hello = () => "hello from the edgecache demo origin";\n', 'demo,js'),
  '/data.json': asset('application/json', `${JSON.stringify({ service: 'edgecache demo', items: [1, 2, 3] })}\n`, 'demo,json'),
  '/fonts/demo.woff2': asset('font/woff2', 'not really a font, but cached like one\n', 'demo,fonts'),
};

export async function startDemoOrigin(port = 0): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/') {
      const body = `edgecache demo origin: try ${Object.keys(ASSETS).join(', ')}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
      res.end(body);
      return;
    }
    const a = ASSETS[path];
    if (!a) {
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=10' });
      res.end('not found\n');
      return;
    }
    const origin = req.headers.origin;
    const headers: Record<string, string> = {
      'content-type': a.type,
      'cache-control': 'public, max-age=300',
      etag: a.etag,
      'last-modified': started.toUTCString(),
      'cache-tag': a.tags,
      vary: 'Origin',
    };
    // Reflects the request's Origin, as many origins do; Vary: Origin keeps each Origin's answer apart.
    if (origin) headers['access-control-allow-origin'] = origin;
    if (req.headers['if-none-match'] === a.etag) { res.writeHead(304, headers); res.end(); return; }
    res.writeHead(200, { ...headers, 'content-length': String(a.body.length) });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: p } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${p}`,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

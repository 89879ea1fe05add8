// A zone's `redirectHttp`: plain-HTTP requests answered 308 with the same URL over https (RFC 9110 §15.4.9), at the
// port of the edge's first TLS listener.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { hostName } from '../cache/key.js';
import type { EdgeKey } from './context.js';

/** True when the request came in without TLS (over HTTP/2, req.socket reads through to the session's socket). */
export function isPlainHttp(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted !== true;
}

/** `https://host[:port]/path?query` for a request: the port is left out when it is 443. */
export function httpsLocation(key: EdgeKey, requestTarget: string, httpsPort: number): string {
  const name = hostName(key.host);
  const path = requestTarget.charCodeAt(0) === 47 ? requestTarget : key.target;
  return `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${path}`;
}

export function redirectToHttps(req: IncomingMessage, res: ServerResponse, key: EdgeKey, httpsPort: number): void {
  res.writeHead(308, ['location', httpsLocation(key, req.url ?? '/', httpsPort), 'content-length', '0', 'cache-control', 'no-store']);
  res.end();
}

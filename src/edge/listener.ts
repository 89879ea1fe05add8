// The public HTTP listener: node:http with request limits, malformed-request answers (RFC 9112), and a crash guard.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';

/** Answers malformed requests (RFC 9112) without involving the handler, closes the connection, keeps serving. */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) { socket.destroy(); return; }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? '408 Request Timeout'
    : err.code === 'HPE_INVALID_TRANSFER_ENCODING' && /unknown|not implemented/i.test(err.message) ? '501 Not Implemented'
    : '400 Bad Request';
  const body = `edgecache: ${status.slice(4).toLowerCase()}\n`;
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
}

export function createEdgeListener(handler: (req: IncomingMessage, res: ServerResponse) => void, logger: Logger): Server {
  const server = createServer({
    maxHeaderSize: 16 * 1024,
    headersTimeout: 10_000,
    requestTimeout: 300_000,
    keepAliveTimeout: 5_000,
    requireHostHeader: true,
  }, (req, res) => {
    try { handler(req, res); } catch (err) {
      logger.error({ err: String(err), url: req.url }, 'request handler failed');
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('edgecache: internal error\n'); } else res.destroy();
    }
  });
  server.on('clientError', onClientError);
  return server;
}

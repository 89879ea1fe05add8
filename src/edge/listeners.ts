// The public listeners (config `listen`): per address plain HTTP/1.1, plain with HTTP/2 prior knowledge (h2c, RFC 9113
// §3.3), or TLS offering h2 and http/1.1 by ALPN (RFC 9113 §3.2, RFC 7301); each hands its connections to the shared
// HTTP/1.1 server (src/edge/listener.ts) or HTTP/2 server (src/edge/h2-listener.ts).
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import type { Http2Server } from 'node:http2';
import type { ListenerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Limits } from '../http/limits.js';
import { ListenerCertificates, TLS_MIN_VERSION, type CertificateFiles, type ReloadResult } from '../tls/certificates.js';
import { createOcspStapler, type OcspStapler } from '../tls/ocsp-stapler.js';
import { H2_PREFACE } from './h2-listener.js';
import type { FastConnections } from './fast-listener.js';

export interface PublicListener {
  readonly config: ListenerConfig;
  readonly scheme: 'http' | 'https';
  /** The listener's certificates (TLS listeners). */
  readonly certificates: ListenerCertificates | undefined;
  /** OCSP stapling of a TLS listener (unless `tls.ocspStapling: false`). */
  readonly stapler?: OcspStapler | undefined;
  /** Where it listens (once listening). */
  address(): AddressInfo | undefined;
  listen(): Promise<AddressInfo>;
  /** Re-reads the certificate files (TLS listeners; `files`: a reloaded config's); open connections and sessions are kept. */
  reloadCertificates(files?: readonly CertificateFiles[]): ReloadResult | undefined;
  /** Stops accepting connections; resolves once the ones it accepted are closed (their servers close them). */
  close(): Promise<void>;
}

export interface ListenerTargets {
  http: HttpServer;
  /** The HTTP/2 server (absent when no listener offers HTTP/2). */
  h2: Http2Server | undefined;
  logger: Logger;
  limits: Limits;
  /** The fast path for hits (config `fastPath`): plain HTTP/1.1 connections start there (src/edge/fast-listener.ts). */
  fast?: FastConnections;
}

/** Listens on HOST:PORT and resolves with the bound address (rejects on a listen error such as EADDRINUSE). */
export function listenOn(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => { if (!server.listening) resolve(); else server.close(() => resolve()); });
}

/**
 * A plain listener that tells HTTP/2 prior knowledge from HTTP/1.1 by the first bytes (the connection preface): the
 * bytes read are put back before the connection is handed on.
 */
function sniffH2c(socket: Socket, t: ListenerTargets): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), t.limits.headersTimeoutMs);
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isPreface = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isPreface && n < H2_PREFACE.length) return; // too few bytes to tell yet
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    if (isPreface && t.h2) {
      // node:http2 reads what is already buffered on the socket when the session starts.
      socket.pause();
      socket.unshift(seen);
      t.h2.emit('connection', socket);
    } else {
      // node:http reads the socket's handle itself: the bytes already read are handed to its 'data' listener.
      t.http.emit('connection', socket);
      socket.emit('data', seen);
    }
  };
  const onError = (): void => { clearTimeout(timer); socket.destroy(); };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.once('close', () => clearTimeout(timer));
}

/** The HTTP/1.1 server listening itself: the plain listener as it always was (nothing added per connection). */
export function directListener(config: ListenerConfig, t: ListenerTargets): PublicListener {
  return {
    config, scheme: 'http', certificates: undefined,
    address: () => (t.http.listening ? t.http.address() as AddressInfo : undefined),
    listen: () => listenOn(t.http, config.host, config.port),
    reloadCertificates: () => undefined,
    close: () => Promise.resolve(), // the composition root closes the HTTP/1.1 server itself
  };
}

export function createPublicListener(config: ListenerConfig, t: ListenerTargets): PublicListener {
  if (!config.tls) {
    const fast = config.h2c ? undefined : t.fast;
    // allowHalfOpen as node:http's own server: a client that half-closes still gets the answers it asked for.
    const server = createNetServer({ noDelay: true, allowHalfOpen: fast !== undefined }, (socket) => {
      if (config.h2c) sniffH2c(socket, t); else if (fast) fast.accept(socket); else t.http.emit('connection', socket);
    });
    return {
      config, scheme: 'http', certificates: undefined,
      address: () => (server.listening ? server.address() as AddressInfo : undefined),
      listen: () => listenOn(server, config.host, config.port),
      reloadCertificates: () => undefined,
      close: () => { const closed = closeServer(server); fast?.close(); return closed; },
    };
  }
  const certificates = new ListenerCertificates(config.tls.certificates);
  const first = certificates.current.default;
  const offerH2 = config.http2 && t.h2 !== undefined;
  const server = createTlsServer({
    cert: first.cert, key: first.key, minVersion: TLS_MIN_VERSION,
    ALPNProtocols: offerH2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    SNICallback: certificates.sniCallback,
    handshakeTimeout: t.limits.headersTimeoutMs,
    noDelay: true,
  });
  // HTTP/1.1 over TLS starts on the fast path too (hits answered before node:http), HTTP/2 goes to the h2 server.
  server.on('secureConnection', (socket: TLSSocket) => {
    if (offerH2 && socket.alpnProtocol === 'h2') t.h2!.emit('connection', socket);
    else if (t.fast) t.fast.accept(socket);
    else t.http.emit('connection', socket);
  });
  // OCSP responses are fetched once the listener listens and answered from memory in handshakes (src/tls/ocsp-stapler.ts).
  const stapler: OcspStapler | undefined = config.tls.ocspStapling ? createOcspStapler({ logger: t.logger }) : undefined;
  stapler?.attach(server);
  const staple = (): void => stapler?.track(certificates.current.certificates.map((c) => c.cert));
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    t.logger.debug({ code: err.code, err: err.message }, 'TLS handshake failed');
    socket.destroy();
  });
  return {
    config, scheme: 'https', certificates, stapler,
    address: () => (server.listening ? server.address() as AddressInfo : undefined),
    listen: async () => { const a = await listenOn(server, config.host, config.port); staple(); return a; },
    reloadCertificates(files) {
      const r = certificates.reload(files);
      if (r.defaultChanged) {
        // The session ticket keys survive the new context, so tickets issued before the reload still resume.
        const keys = server.getTicketKeys();
        const d = certificates.current.default;
        server.setSecureContext({ cert: d.cert, key: d.key, minVersion: TLS_MIN_VERSION });
        server.setTicketKeys(keys);
      }
      staple();
      return r;
    },
    close: () => { stapler?.close(); return closeServer(server); },
  };
}

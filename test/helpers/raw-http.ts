// Test helpers for hostile input: raw-socket exchanges (plain, and over TLS) with a response parser, a byte-recording
// tap in front of an origin, and a scriptable raw (node:net) origin that can send anything.
import net, { type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TestContext } from 'node:test';

export interface ParsedResponse {
  status: number;
  /** Lowercased names; every line kept. */
  headers: Record<string, string[]>;
  body: Buffer;
  /** The body reached its Content-Length / last chunk (or, without framing, the connection closed). */
  complete: boolean;
}

export interface RawResult {
  bytes: Buffer;
  text: string;
  /** The server ended the connection (FIN or reset) before we gave up waiting. */
  closed: boolean;
  /** The connection was reset rather than ended. */
  reset: boolean;
  responses: ParsedResponse[];
}

export interface ExchangeOptions {
  /** Give up (and destroy the socket) after this long; `closed` is then false. Default 3000. */
  waitMs?: number;
  /** Pause between pieces when `data` is an array. */
  gapMs?: number;
  /** Half-close our side after writing. */
  end?: boolean;
  /** Half-close our side once nothing has arrived for this long after the last write (node then ends the exchange). */
  endWhenIdleMs?: number;
  /** Stop early once this holds for what has arrived (e.g. two responses). */
  until?: (r: RawResult) => boolean;
  /** Index → true for answers to HEAD (no body is sent whatever the fields say). */
  headAt?: (i: number) => boolean;
}

/** Sends raw bytes on a fresh connection and collects whatever comes back until the server closes or time runs out. */
export function exchange(port: number, data: string | Buffer | (string | Buffer)[], opts: ExchangeOptions = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1');
    let done = false;
    let reset = false;
    const result = (closed: boolean): RawResult => {
      const bytes = Buffer.concat(chunks);
      return { bytes, text: bytes.toString('latin1'), closed, reset, responses: parseResponses(bytes, closed, opts.headAt) };
    };
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(result(closed));
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 3000);
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      if (opts.endWhenIdleMs === undefined || done) return;
      clearTimeout(idle);
      idle = setTimeout(() => { if (!sock.destroyed) sock.end(); }, opts.endWhenIdleMs);
    };
    sock.on('close', () => clearTimeout(idle));
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (idle) armIdle();
      if (opts.until?.(result(false))) finish(false);
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => { reset = true; finish(true); });
    const pieces = Array.isArray(data) ? data : [data];
    void (async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (done) return;
        if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        if (!sock.destroyed) sock.write(pieces[i]!);
      }
      if (opts.end && !sock.destroyed) sock.end();
      armIdle();
    })();
  });
}

/** Parses consecutive HTTP/1.1 responses (interim 1xx ones included) from raw bytes. */
export function parseResponses(buf: Buffer, closed: boolean, headAt?: (i: number) => boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end === -1) break;
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
    const headers: Record<string, string[]> = {};
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      const name = line.slice(0, c).toLowerCase();
      (headers[name] ??= []).push(line.slice(c + 1).trim());
    }
    let pos = end + 4;
    if (status >= 100 && status < 200) { out.push({ status, headers, body: Buffer.alloc(0), complete: true }); off = pos; continue; }
    const index = out.filter((r) => r.status >= 200).length;
    if (headAt?.(index) || status === 204 || status === 304) { out.push({ status, headers, body: Buffer.alloc(0), complete: true }); off = pos; continue; }
    if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const eol = buf.indexOf('\r\n', pos);
        if (eol === -1) break;
        const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        if (size === 0) { const t = buf.indexOf('\r\n\r\n', eol); if (t !== -1) { pos = t + 4; complete = true; } else pos = buf.length; break; }
        if (eol + 2 + size + 2 > buf.length) { parts.push(buf.subarray(eol + 2, Math.min(buf.length, eol + 2 + size))); pos = buf.length; break; }
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        pos = eol + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), complete });
      off = complete ? pos : buf.length;
      continue;
    }
    const cl = headers['content-length'];
    if (cl) {
      const n = Number(cl[0]);
      const body = buf.subarray(pos, Math.min(buf.length, pos + n));
      out.push({ status, headers, body, complete: body.length === n });
      off = pos + body.length;
      continue;
    }
    out.push({ status, headers, body: buf.subarray(pos), complete: closed });
    off = buf.length;
  }
  return out;
}

export interface Tap {
  port: number;
  url: string;
  /** Every byte the edge sent towards the origin, all connections, in arrival order per connection. */
  received(): string;
  connections: number;
}

/** A TCP tap in front of `targetPort`: forwards both ways and records what the edge sends (the origin's raw input). */
export async function startTap(t: TestContext, targetPort: number): Promise<Tap> {
  const perConn: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    const log: Buffer[] = [];
    perConn.push(log);
    const up = net.connect(targetPort, '127.0.0.1');
    sockets.add(client); sockets.add(up);
    client.on('data', (d: Buffer) => { log.push(d); up.write(d); });
    up.on('data', (d: Buffer) => client.write(d));
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    const kill = (): void => { client.destroy(); up.destroy(); };
    client.on('error', kill); up.on('error', kill);
    client.on('close', () => { up.destroy(); sockets.delete(client); });
    up.on('close', () => { client.destroy(); sockets.delete(up); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return {
    port, url: `http://127.0.0.1:${port}`,
    received: () => perConn.map((c) => Buffer.concat(c).toString('latin1')).join(''),
    get connections() { return perConn.length; },
  };
}

export interface RawOrigin {
  port: number;
  url: string;
  /** Request heads received, in order (the edge sends no content on these paths). */
  heads: string[];
}

/**
 * A node:net origin that answers each request head with whatever `respond` writes on the socket: invalid fields,
 * short bodies, stalls, drops. `n` counts requests from 1.
 */
export async function startRawOrigin(t: TestContext, respond: (sock: Socket, head: string, n: number) => void): Promise<RawOrigin> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        heads.push(head);
        respond(sock, head, heads.length);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port, url: `http://127.0.0.1:${port}`, heads };
}

/** Polls `cond` every 10 ms until it holds (true) or `ms` pass (false). */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export interface TlsExchangeOptions {
  /** Written in order, `gapMs` apart. */
  pieces: (string | Buffer)[];
  gapMs?: number;
  /** Reads nothing for this long after the first piece. */
  stallMs?: number;
  /** Answers to wait for. */
  count: number;
  /** SNI name (default a.test). */
  servername?: string;
  /** Give up after this long (default 10 s). */
  waitMs?: number;
}

/** Writes the pieces over TLS (HTTP/1.1 by ALPN) and resolves with the answers once `count` are complete, or at `waitMs`. */
export function tlsExchange(port: number, ca: string, o: TlsExchangeOptions): Promise<ParsedResponse[]> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tlsConnect({ host: '127.0.0.1', port, servername: o.servername ?? 'a.test', ca, ALPNProtocols: ['http/1.1'] });
    const parsed = (): ParsedResponse[] => parseResponses(Buffer.concat(chunks), false);
    const done = (): void => { clearTimeout(timer); clearInterval(check); s.destroy(); resolve(parsed()); };
    const timer = setTimeout(done, o.waitMs ?? 10_000);
    // Parsed every 5 ms, not at every read (that would parse all answers again each time).
    const check = setInterval(() => { if (parsed().filter((r) => r.complete).length >= o.count) done(); }, 5);
    s.on('data', (b: Buffer) => { chunks.push(b); });
    s.on('error', done);
    s.once('secureConnect', () => {
      void (async () => {
        for (let i = 0; i < o.pieces.length && !s.destroyed; i++) {
          s.write(o.pieces[i]!);
          if (i === 0 && o.stallMs !== undefined) { s.pause(); setTimeout(() => s.resume(), o.stallMs); }
          if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
        }
      })();
    });
  });
}

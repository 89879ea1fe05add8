// The fast path's connections: a plain HTTP/1.1 connection starts here; strictly simple heads that are cache hits are
// answered in one write (src/edge/fast-parse.ts, fast-hit.ts); at the first request the fast path declines, the
// connection is handed to node:http (the bytes read so far with it) and node:http owns it from then on.
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { connectionsCheckingIntervalFor, type Limits } from '../http/limits.js';
import { parseFastHead } from './fast-parse.js';
import { answersWritten, type FastDeferred, type FastHit } from './fast-hit.js';
import { markBytesLogged } from '../observability/access-log.js';
import { isSharedRead, readShared, type SharedReads } from './socket-read.js';

/**
 * Emitted on the HTTP/1.1 server for every connection the fast path accepts (the traffic figures count its bytes,
 * src/observability/traffic.ts); a connection handed to node:http later also gets node's own 'connection' event.
 */
export const FAST_CONNECTION_EVENT = 'edgecache:fast-connection';

/**
 * node:http (Node 20) closes an idle keep-alive connection this long after keepAliveTimeout (measured: a 200 ms
 * keepAliveTimeout closes at about 1.2 s); the fast path keeps the same time.
 */
const KEEP_ALIVE_SLACK_MS = 1_000;

export interface FastConnections {
  /** Serves a newly accepted connection. */
  accept(socket: Socket): void;
  /** Graceful close: idle fast-path connections are closed now, busy ones once their answers are written. */
  close(): void;
  /** Requests answered on the fast path, and connections handed to node:http, since the start. */
  stats(): { answered: number; handedOver: number };
}

/**
 * Where `buf` may be cut so that node:http parses its pipelined requests one at a time: after each empty line, and
 * after the Content-Length bytes that follow a head declaring one. Any cut is safe (llhttp parses a stream however it
 * is cut); these only decide when the handler runs.
 */
export function pieceEnds(buf: Buffer): number[] {
  const ends: number[] = [];
  let from = 0;
  while (from < buf.length) {
    const e = buf.indexOf('\r\n\r\n', from, 'latin1');
    if (e === -1) break;
    let end = e + 4;
    const m = /\r\ncontent-length:[ \t]*([0-9]{1,9})[ \t]*\r\n/i.exec(buf.toString('latin1', from, e + 2));
    if (m) end = Math.min(buf.length, end + Number(m[1]));
    ends.push(end);
    from = end;
  }
  if (ends.length === 0 || ends[ends.length - 1]! < buf.length) ends.push(buf.length);
  return ends;
}

/**
 * Gives node:http the bytes the fast path read (`ends`: pieceEnds of them). Reading the socket itself, node:http runs
 * the handler of one pipelined request (and what it queues) before it parses the next; bytes handed in one piece would
 * be parsed at once, and an unsafe request's origin fetch could start after the safe ones behind it (RFC 9112 §9.3.2).
 * So several requests are handed in pieces, one per turn of the event loop. What arrives meanwhile must not reach
 * node:http before them: with `reads` (node:http kept from reading the handle itself, SharedReads.keepReadsInJs) it
 * queues behind them, cut the same way, and goes straight to node:http once the queue is empty. Without, the socket's
 * reading is stopped meanwhile, which node:http's own resume (after its answers drain) can undo: the fallback only.
 */
function feed(socket: Socket, rest: Buffer, ends: number[], reads: SharedReads | undefined): void {
  if (ends.length === 1) { socket.emit('data', rest); return; }
  const pieces: Buffer[] = [];
  const cut = (buf: Buffer, at: number[]): void => {
    let from = 0;
    for (const end of at) { pieces.push(buf.subarray(from, end)); from = end; }
  };
  cut(rest, ends);
  if (reads !== undefined) reads.release((copy) => cut(copy, pieceEnds(copy)));
  else socket.pause(); // node:http stops reading the socket's handle (its 'pause' hook)
  let i = 0;
  const next = (): void => {
    if (socket.destroyed) return;
    // node:http paused the connection itself (answers not read by the client): wait until it resumes.
    if ((socket as Socket & { _paused?: boolean })._paused === true) { setTimeout(next, 10); return; }
    socket.emit('data', pieces[i++]);
    if (i < pieces.length) setImmediate(next);
    else if (reads !== undefined) reads.release(); // nothing queued: reads go to node:http as they come
    else socket.resume();
  };
  next();
}

/**
 * One answer's bytes on the socket: `data` (the head, with the body behind it when small) and a large body after it
 * (corked: one writev(2)). `done`: called once the answer is handed to the kernel (with the error when the connection
 * failed first).
 */
function write(socket: Socket, data: Buffer, body: Buffer | undefined, done: ((err?: Error | null) => void) | undefined): void {
  if (body === undefined) { socket.write(data, done); return; }
  socket.cork();
  socket.write(data);
  socket.write(body, done);
  socket.uncork();
}

/** A fast-path connection as the shared timeout sweep sees it (no timer per connection or per request). */
interface Conn {
  /** The sweep's count when the connection last read or wrote. */
  active: number;
  /** Sweeps without activity after which `expire` runs: the head timeout until the first answer, then the idle one. */
  sweeps: number;
  /** An answer waits for a read (a disk-tier body): a graceful close lets it finish, then ends the connection. */
  busy: boolean;
  expire(): void;
}

export function createFastConnections(http: HttpServer, fast: FastHit, limits: Limits): FastConnections {
  const open = new Map<Socket, Conn>();
  let closing = false;
  let answeredTotal = 0;
  let handedOver = 0;
  // Timeouts are enforced by one sweep over the open connections (as node:http checks its head and request timeouts):
  // a connection expires `sweeps` whole sweep intervals after its last read or write, so never early and at most two
  // intervals (of at most 500 ms) late. A socket timer would cost a Timeout per request and a timer-list move per read
  // and per write.
  const tick = connectionsCheckingIntervalFor(limits);
  const headSweeps = Math.ceil(limits.headersTimeoutMs / tick) + 1;
  const idleSweeps = Math.ceil((limits.keepAliveTimeoutMs + KEEP_ALIVE_SLACK_MS) / tick) + 1;
  let epoch = 0;
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    epoch++;
    for (const c of open.values()) if (epoch - c.active >= c.sweeps) c.expire();
    if (open.size === 0) { clearInterval(sweeper); sweeper = undefined; }
  };

  function accept(socket: Socket): void {
    http.emit(FAST_CONNECTION_EVENT, socket);
    /**
     * A TLS socket's write completes only once its ciphertext is flushed, but the TLS layer (node's TLSWrap::DoWrite,
     * src/crypto/crypto_tls.cc) encrypts the plaintext, or copies what it cannot encrypt yet, before write() returns.
     * So when nothing was being written before the answers, every byte of them has left the JS buffers once run()'s
     * writes return, however long the flush takes: the slab is free again (else every TLS answer took a new 64 KiB
     * slab, and that external memory set off a full GC every 40 ms: ×0.5 of a bare https server).
     */
    const tls = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    let pending: Buffer | undefined; // bytes read and not yet answered (a pipelined tail)
    let answered = 0;
    let waitingDrain = false;
    let done = false;
    /** The client half-closed while `busy`: the connection ends once that answer is out. */
    let ended = false;

    const detach = (): void => {
      done = true;
      open.delete(socket);
      reads?.release();
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('drain', onDrain);
    };

    /** node:http takes the connection over, with the bytes not answered yet (fed as src/edge/listeners.ts does for h2c). */
    const handOver = (rest: Buffer | undefined): void => {
      detach();
      // Pipelined requests are fed to node:http over later turns (feed): a view of the shared buffer would be overwritten.
      if (rest !== undefined && isSharedRead(rest)) rest = Buffer.from(rest);
      handedOver++;
      markBytesLogged(socket); // node:http's first answer logs its own bytes only
      if (waitingDrain) { waitingDrain = false; socket.resume(); }
      const ends = rest !== undefined && rest.length > 0 ? pieceEnds(rest) : undefined;
      // Fed in pieces: node:http reads through the socket's 'data' events, so what arrives meanwhile can wait its turn.
      if (ends !== undefined && ends.length > 1) reads?.keepReadsInJs();
      http.emit('connection', socket);
      if (ends !== undefined) feed(socket, rest!, ends, reads);
    };

    const onTimeout = (): void => {
      if (answered === 0) {
        // No request head within headersTimeoutMs: node:http's own timeout answer (408 and close, src/edge/listener.ts).
        detach();
        const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
        http.emit('clientError', err, socket);
      } else {
        detach();
        socket.destroy();
      }
    };
    const conn: Conn = { active: epoch, sweeps: headSweeps, busy: false, expire: onTimeout };

    const onError = (): void => { detach(); socket.destroy(); };
    // The client half-closed: nothing more can arrive, so the connection ends once the answers are written.
    const onEnd = (): void => {
      if (conn.busy) { ended = true; return; }
      if (pending !== undefined) { handOver(pending); return; }
      detach();
      socket.end();
    };

    const onDrain = (): void => {
      conn.active = epoch;
      if (!waitingDrain) return;
      waitingDrain = false;
      socket.resume();
      if (!conn.busy) run();
    };

    /**
     * Answers the complete heads in `pending`, in order, until one is declined, the close, or backpressure. Answers to
     * pipelined requests read together are corked: they leave in one write.
     */
    const run = (): void => {
      const wrote = answeredTotal;
      const idle = socket.writableLength === 0;
      try { answerAll(); } finally {
        // The answers' bytes may be reused once the socket holds none of them (fast-hit.ts cuts them from one slab):
        // written to the kernel in full, or, over TLS, handed to the TLS layer (below).
        if (answeredTotal !== wrote) answersWritten(socket.writableCorked === 0 && (socket.writableLength === 0 || (tls && idle)));
      }
    };

    const answerAll = (): void => {
      let corked = false;
      while (pending !== undefined) {
        const buf = pending;
        const r = parseFastHead(buf, 0, buf.length, limits.maxHeaderBytes);
        // 'partial': a head split over reads; node:http's parser waits for the rest (and applies headersTimeoutMs).
        if (r.kind !== 'request' || closing) { if (corked) socket.uncork(); handOver(buf); return; }
        const answer = fast(r.req, socket);
        if (answer === undefined) { if (corked) socket.uncork(); handOver(buf); return; }
        if ('wait' in answer) { if (corked) socket.uncork(); later(answer, r.end, r.req.keepAlive); return; }
        consume(r.end);
        if (pending !== undefined && !corked) { socket.cork(); corked = true; }
        const written = answer.written === undefined ? undefined : (err?: Error | null): void => answer.written!(!err);
        write(socket, answer.data, answer.body, written);
        if (!goOn(r.req.keepAlive)) { if (corked) socket.uncork(); return; } // (after an end, uncork has nothing left)
      }
      if (corked) socket.uncork();
      if (ended) { onEnd(); return; } // half-closed while an answer waited for a read: all answered now
      conn.sweeps = idleSweeps;
    };

    /**
     * An answer that waits for a read (a disk-tier body): what arrives meanwhile is only kept, and answered once this
     * one is written (as `run` writes one; a graceful close meanwhile ends the connection after it); declined, the
     * connection goes to node:http from this request on (nothing of it was written).
     */
    const later = (answer: FastDeferred, end: number, keepAlive: boolean): void => {
      conn.busy = true;
      answer.wait((a) => {
        conn.busy = false;
        // The connection failed or was closed meanwhile: nothing to write (the buffer goes back, the record says 499).
        if (done) { a?.written?.(false); return; }
        conn.active = epoch;
        if (a === undefined) { handOver(pending); return; }
        consume(end);
        write(socket, a.data, a.body, (err?: Error | null): void => a.written?.(!err));
        if (goOn(keepAlive)) run();
      });
    };

    /** The request whose head ends at `end` of `pending` is answered: it leaves `pending` and is counted. */
    const consume = (end: number): void => {
      const buf = pending!;
      pending = end === buf.length ? undefined : buf.subarray(end);
      answered++;
      answeredTotal++;
    };

    /**
     * After an answer is written: whether the connection takes its next request now. Not after a close (asked for, or a
     * graceful close of the listener), nor while its client does not read its answers.
     */
    const goOn = (keepAlive: boolean): boolean => {
      if (!keepAlive || closing) {
        // RFC 9112 §9.6: nothing after a close is handled; node:http ends the connection once the answer is out.
        detach();
        socket.end(); // flushes what is corked
        socket.once('finish', () => socket.destroy());
        return false;
      }
      if (socket.writableNeedDrain && pending !== undefined) {
        // A client that does not read its answers: stop reading its requests until it does.
        waitingDrain = true;
        socket.pause();
        return false;
      }
      return true;
    };

    const onData = (chunk: Buffer): boolean => {
      conn.active = epoch;
      pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      if (!waitingDrain && !conn.busy) run();
      // What is left of a read into the shared buffer is copied: the next read (of any connection) overwrites it.
      if (pending !== undefined && !done && isSharedRead(pending)) pending = Buffer.from(pending);
      return true;
    };

    open.set(socket, conn);
    sweeper ??= setInterval(sweep, tick).unref();
    const reads: SharedReads | undefined = readShared(socket, onData);
    if (reads === undefined) socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.once('close', () => { if (!done) detach(); });
  }

  return {
    accept,
    close() {
      closing = true;
      for (const [s, c] of open) {
        if (c.busy) continue; // ended once its answer is out
        if (s.writableLength === 0) s.destroy();
        else { s.end(); s.once('finish', () => s.destroy()); }
      }
      open.clear();
      clearInterval(sweeper);
      sweeper = undefined;
    },
    stats: () => ({ answered: answeredTotal, handedOver }),
  };
}

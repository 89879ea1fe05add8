// Bench ceiling below node:http: a node:net server that finds each request head's end itself and writes one
// preassembled head plus the 1 KiB / 100 KiB body (Date spliced once a second), one write per batch of pipelined
// requests. No validation, no routing, no cache: the cost of Node's socket I/O alone, what a fast path can approach.
import { createServer, type Socket } from 'node:net';

const SMALL = Buffer.alloc(1024, 0x2f);
const LARGE = Buffer.alloc(100 * 1024, 0x2f);
const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

function intArg(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const n = i === -1 ? fallback : Number(argv[i + 1]);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** The whole answer (head and body) for `body`, remade when the second (Date) changes. */
function answers(): { small: Buffer; large: Buffer } {
  let until = 0;
  let small: Buffer = SMALL;
  let large: Buffer = LARGE;
  const make = (body: Buffer, etag: string, date: string): Buffer => {
    const head =
      'HTTP/1.1 200 OK\r\ncontent-type: application/javascript\r\n' +
      `content-length: ${body.length}\r\ncache-control: public, max-age=3600\r\nvary: Origin\r\netag: ${etag}\r\n` +
      `last-modified: ${LAST_MODIFIED}\r\nage: 0\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=120\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), body]);
  };
  return {
    get small() { refresh(); return small; },
    get large() { refresh(); return large; },
  };
  function refresh(): void {
    const now = Date.now();
    if (now < until) return;
    const date = new Date(now).toUTCString();
    small = make(SMALL, '"1k-v1"', date);
    large = make(LARGE, '"100k-v1"', date);
    until = now - (now % 1000) + 1000;
  }
}

function serve(port: number): void {
  const a = answers();
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let from = 0;
      const out: Buffer[] = [];
      for (;;) {
        const end = buf.indexOf(CRLFCRLF, from);
        if (end === -1) break;
        // "GET /asset/100k" → the large body; anything else → the small one.
        out.push(buf[from + 11] === 49 && buf[from + 12] === 48 && buf[from + 13] === 48 ? a.large : a.small);
        from = end + 4;
      }
      pending = from === buf.length ? undefined : buf.subarray(from);
      if (out.length === 1) socket.write(out[0]!);
      else if (out.length > 1) {
        socket.cork();
        for (const b of out) socket.write(b);
        socket.uncork();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
  });
  server.listen(port, '127.0.0.1');
  const stop = (): void => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

serve(intArg(process.argv, '--port', 0));

// A tiny HTTP/2 frame writer and reader for hostile-client tests (RFC 9113 §4, §6; HPACK RFC 7541 §5, §6 without
// Huffman): frames are built by hand so a test can send what no well-behaved client library would.
import { connect, type Socket } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

export function settings(pairs: [number, number][] = [], ack = false): Buffer {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2); });
  return frame(T.SETTINGS, ack ? F.ACK : 0, 0, p);
}

export const ping = (ack = false): Buffer => frame(T.PING, ack ? F.ACK : 0, 0, Buffer.alloc(8, 7));
export const rst = (stream: number, code: number): Buffer => { const p = Buffer.alloc(4); p.writeUInt32BE(code); return frame(T.RST_STREAM, 0, stream, p); };

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits above the prefix. */
function int(value: number, prefix: number, first: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}

const str = (s: string): Buffer => Buffer.concat([Buffer.from(int(Buffer.byteLength(s), 7, 0)), Buffer.from(s, 'latin1')]);

/** Literal header field without indexing, new name (RFC 7541 §6.2.2). */
export const literal = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]);
/** Literal header field with incremental indexing, new name (RFC 7541 §6.2.1): it enters the dynamic table. */
export const indexedLiteral = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), str(name), str(value)]);
/** Indexed header field (RFC 7541 §6.1): 62 is the newest dynamic-table entry. */
export const indexed = (index: number): Buffer => Buffer.from(int(index, 7, 0x80));

/** A GET's header block: the pseudo-fields and `extra` as literals. */
export function getBlock(path: string, authority: string, extra: [string, string][] = []): Buffer {
  return Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', authority),
    ...extra.map(([n, v]) => literal(n, v))]);
}

export const headers = (stream: number, block: Buffer, flags = F.END_HEADERS | F.END_STREAM): Buffer => frame(T.HEADERS, flags, stream, block);

export interface Frame { type: number; flags: number; stream: number; payload: Buffer }

/** A raw h2c connection: writes bytes, collects the frames the server sends, and notices the close. */
export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  error: Error | undefined;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    socket.on('error', (err) => { this.error = err; });
    socket.on('close', () => { this.closed = true; this.#wake(); });
  }

  static open(port: number, opts: { settings?: boolean } = {}): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        const c = new RawH2(s);
        if (opts.settings !== false) s.write(Buffer.concat([PREFACE, settings()]));
        resolve(c);
      });
      s.once('error', reject);
    });
  }

  #wake(): void { for (const w of this.#waiters.splice(0)) w(); }

  write(b: Buffer): boolean { return this.closed ? false : this.socket.write(b); }

  /** Waits until `until()` holds or the connection closes (or `ms` passes); returns whether it holds. */
  async wait(until: () => boolean, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!until() && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => { const t = setTimeout(r, Math.max(1, deadline - Date.now())); this.#waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return until();
  }

  goaway(): { code: number; lastStream: number } | undefined {
    const g = this.frames.find((f) => f.type === T.GOAWAY);
    return g ? { lastStream: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) } : undefined;
  }

  /**
   * Whether a stream was answered 200: nghttp2 sends `:status: 200` as the indexed static entry 8 (0x88); any other
   * status comes as a (maybe Huffman-coded) literal, reported as -1. undefined: no answer yet.
   */
  status(stream: number): 200 | -1 | undefined {
    const h = this.frames.find((f) => f.type === T.HEADERS && f.stream === stream);
    if (!h) return undefined;
    return h.payload[0] === 0x88 ? 200 : -1;
  }

  resets(): Frame[] { return this.frames.filter((f) => f.type === T.RST_STREAM); }

  close(): void { this.socket.destroy(); }
}

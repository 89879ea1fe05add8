// The DER subset OCSP needs (ITU-T X.690 §8, §10): read tag-length-value elements, write SEQUENCE, OCTET STRING,
// OID, INTEGER and NULL. Definite lengths only, as DER has them; anything malformed is a DerError, never a throw of
// another kind or a read past the buffer.

/** Bytes that are not the DER expected. */
export class DerError extends Error {
  readonly code = 'EDER';
  constructor(message: string) { super(message); this.name = 'DerError'; }
}

export const TAG = {
  INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06, ENUMERATED: 0x0a,
  GENERALIZED_TIME: 0x18, SEQUENCE: 0x30,
} as const;

/** A context-specific tag `[n]`, constructed (EXPLICIT, or IMPLICIT over a constructed type) or primitive. */
export const contextTag = (n: number, constructed: boolean): number => 0x80 | (constructed ? 0x20 : 0) | n;

/** One element: its tag, its content, and the whole encoding (for hashing or signature checks). */
export interface Der {
  tag: number;
  content: Buffer;
  raw: Buffer;
}

/** The element at `offset` (single-byte tags only: every tag OCSP and X.509 use). */
export function readElement(buf: Buffer, offset = 0): Der {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here');
  let len = buf[offset + 1]!;
  let at = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (at + n > buf.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + i]!;
    at += n;
  }
  if (at + len > buf.length) throw new DerError('element longer than its buffer');
  return { tag, content: buf.subarray(at, at + len), raw: buf.subarray(offset, at + len) };
}

/** Exactly one element filling `buf`. */
export function readOne(buf: Buffer): Der {
  const el = readElement(buf);
  if (el.raw.length !== buf.length) throw new DerError('bytes after the element');
  return el;
}

/** The elements inside a constructed element. */
export function children(el: Der): Der[] {
  const out: Der[] = [];
  for (let at = 0; at < el.content.length;) {
    const c = readElement(el.content, at);
    out.push(c);
    at += c.raw.length;
  }
  return out;
}

/** `el` when it has `tag`; a DerError naming `what` otherwise. */
export function expect(el: Der | undefined, tag: number, what: string): Der {
  if (el === undefined || el.tag !== tag) throw new DerError(`expected ${what}`);
  return el;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oidString(el: Der): string {
  const b = el.content;
  if (b.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) { parts.push(v); v = 0; }
  }
  const first = parts.shift()!;
  const a = first < 80 ? Math.floor(first / 40) : 2;
  return [a, first - a * 40, ...parts].join('.');
}

/** A GeneralizedTime (YYYYMMDDHHMMSS[.fff]Z, RFC 5280 §4.1.2.5.2) as epoch milliseconds. */
export function generalizedTime(el: Der): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(expect(el, TAG.GENERALIZED_TIME, 'GeneralizedTime').content.toString('latin1'));
  if (!m) throw new DerError('malformed GeneralizedTime');
  const ms = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) + Math.round(ms);
}

// --- encoding ---

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function encode(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

export const sequence = (...items: Buffer[]): Buffer => encode(TAG.SEQUENCE, Buffer.concat(items));
export const octetString = (b: Buffer): Buffer => encode(TAG.OCTET_STRING, b);
export const derNull = (): Buffer => Buffer.from([TAG.NULL, 0]);

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out: number[] = [];
  for (const v of [a! * 40 + b!, ...rest]) {
    const groups: number[] = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) groups.unshift((x & 0x7f) | 0x80);
    out.push(...groups);
  }
  return encode(TAG.OID, Buffer.from(out));
}

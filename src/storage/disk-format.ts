// Disk store entry file format (a variant's meta; its body in a body file, disk-body.ts): encode, write, verify/decode, DiskStoreError.
import { createHash, webcrypto } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import type { Freshness } from '../cache/policy/types.js';

/*
 * Entry file: MAGIC(4) | version u32 BE | meta length u32 BE | meta JSON | body | SHA-256(header | meta | SHA-256(body)).
 * The body's digest is computed off the event loop (WebCrypto), so a 32 MB body never blocks the hit path; every byte
 * is still covered.
 */
const MAGIC = Buffer.from('ECVF');
const VERSION = 1;
const HEADER_BYTES = 12;
const DIGEST_BYTES = 32;

export type DiskStoreErrorCode = 'DISK_STORE_LOCKED' | 'DISK_STORE_CORRUPT';
export class DiskStoreError extends Error {
  constructor(readonly code: DiskStoreErrorCode, message: string) { super(message); this.name = 'DiskStoreError'; }
}

/** What an entry file's meta JSON holds: a VariantInput without its body, plus the write sequence number. */
export interface EntryMeta {
  seq: number; zoneId: string; host: string; path: string; query: string; objectKey: string;
  keyNames: string[]; selector: string; status: number; headers: [string, string][]; freshness: Freshness;
  tags: string[]; forcedStale: boolean; storedAt: number; bodyLength: number;
  /** The body file's id (disk-body.ts) when the body is in its own file; absent when it follows the meta (older files). */
  file?: number;
}

/** An entry file's parts in write order: header | meta JSON | body | checksum. */
export async function encodeEntry(json: Buffer, body: Buffer): Promise<Buffer[]> {
  const head = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(head, 0); head.writeUInt32BE(VERSION, 4); head.writeUInt32BE(json.length, 8);
  const digest = await entryDigest(head, json, body);
  return [head, json, body, digest];
}

/** SHA-256 over header, meta and the body's own SHA-256 (computed on the thread pool). */
async function entryDigest(head: Buffer, json: Buffer, body: Buffer): Promise<Buffer> {
  const bodyDigest = Buffer.from(await webcrypto.subtle.digest('SHA-256', body));
  return createHash('sha256').update(head).update(json).update(bodyDigest).digest();
}

/** Verifies an entry file (magic, version, lengths, checksum) and returns its meta and body; throws DISK_STORE_CORRUPT. */
export async function decodeEntry(buf: Buffer): Promise<{ meta: EntryMeta; body: Buffer }> {
  const bad = (why: string): never => { throw new DiskStoreError('DISK_STORE_CORRUPT', why); };
  if (buf.length < HEADER_BYTES + DIGEST_BYTES) bad(`too short (${buf.length} bytes)`);
  if (!buf.subarray(0, 4).equals(MAGIC)) bad('bad magic');
  if (buf.readUInt32BE(4) !== VERSION) bad(`unknown version ${buf.readUInt32BE(4)}`);
  const metaLen = buf.readUInt32BE(8);
  const bodyStart = HEADER_BYTES + metaLen;
  const bodyEnd = buf.length - DIGEST_BYTES;
  if (bodyStart > bodyEnd) bad('meta length beyond the end');
  const meta = parseMeta(buf.subarray(HEADER_BYTES, bodyStart)) ?? bad('unreadable meta');
  const inline = meta.file === undefined ? meta.bodyLength : 0;
  if (inline !== bodyEnd - bodyStart) bad(`length ${bodyEnd - bodyStart} where ${inline} was written`);
  const body = buf.subarray(bodyStart, bodyEnd);
  const digest = await entryDigest(buf.subarray(0, HEADER_BYTES), buf.subarray(HEADER_BYTES, bodyStart), body);
  if (!digest.equals(buf.subarray(bodyEnd))) bad('checksum mismatch');
  return { meta, body };
}

function parseMeta(json: Buffer): EntryMeta | undefined {
  try {
    const m = JSON.parse(json.toString('utf8')) as EntryMeta;
    const strings = [m.zoneId, m.host, m.path, m.query, m.objectKey, m.selector];
    const numbers = [m.seq, m.status, m.storedAt, m.bodyLength];
    if (strings.some((s) => typeof s !== 'string') || numbers.some((n) => typeof n !== 'number')) return undefined;
    if (!Array.isArray(m.keyNames) || !Array.isArray(m.headers) || !Array.isArray(m.tags) || typeof m.forcedStale !== 'boolean') return undefined;
    if (typeof m.freshness !== 'object' || m.freshness === null || typeof m.freshness.lifetime !== 'number') return undefined;
    if (m.file !== undefined && (!Number.isSafeInteger(m.file) || m.file <= 0)) return undefined;
    return m;
  } catch { return undefined; }
}

/** Writes an entry file (meta only) durably: a temp name, fsync, then rename; throws (the temp file removed) on failure. */
export async function writeEntryFile(file: string, json: Buffer): Promise<void> {
  try {
    const parts = await encodeEntry(json, Buffer.alloc(0));
    const fh = await open(`${file}.tmp`, 'w');
    try {
      const { bytesWritten } = await fh.writev(parts);
      if (bytesWritten !== parts.reduce((n, b) => n + b.length, 0)) throw new Error(`short write (${bytesWritten} bytes)`);
      await fh.datasync();
    } finally { await fh.close(); }
    await rename(`${file}.tmp`, file);
  } catch (err) {
    await unlink(`${file}.tmp`).catch(() => {});
    throw err;
  }
}

// Buffers the fast path reads disk-tier bodies into, pooled by size class: a hit reuses one instead of allocating (and
// page-faulting) a fresh one of 100 KiB or more per request.

/** Bytes kept in front of a body read into a pooled buffer: the head is written there, so head and body go in one write. */
export const HEAD_ROOM = 4096;
/** The smallest class (2^14 bytes); classes double up to the largest (2^20: a whole READ_WHOLE_MAX body and its head). */
const MIN_SHIFT = 14;
const MAX_SHIFT = 20;
/**
 * Bytes of free buffers kept per class (64 of 128 KiB: a read per connection of a bench's 50), and in all; more (after
 * a burst of slow clients holding theirs) are left to the garbage collector.
 */
const FREE_BYTES_PER_CLASS = 8 * 1024 * 1024;
const FREE_BYTES_MAX = 16 * 1024 * 1024;
let freeBytes = 0;

const free: Buffer[][] = Array.from({ length: MAX_SHIFT - MIN_SHIFT + 1 }, () => []);

function classOf(bytes: number): number {
  let c = 0;
  while ((1 << (MIN_SHIFT + c)) < bytes) c++;
  return c;
}

/** A buffer of at least `bytes` (its contents undefined): a pooled one when it fits a class, else a fresh one. */
export function takeReadBuffer(bytes: number): Buffer {
  if (bytes > 1 << MAX_SHIFT) return Buffer.allocUnsafeSlow(bytes);
  const c = classOf(bytes);
  const buf = free[c]!.pop();
  if (buf === undefined) return Buffer.allocUnsafeSlow(1 << (MIN_SHIFT + c));
  freeBytes -= buf.length;
  return buf;
}

/** Gives a buffer from takeReadBuffer back, once nothing refers to its bytes any more (its answer is written). */
export function giveReadBuffer(buf: Buffer): void {
  const size = buf.length;
  if (size > 1 << MAX_SHIFT || size < 1 << MIN_SHIFT || (size & (size - 1)) !== 0) return;
  const list = free[classOf(size)]!;
  if ((list.length + 1) * size > FREE_BYTES_PER_CLASS || freeBytes + size > FREE_BYTES_MAX) return;
  list.push(buf);
  freeBytes += size;
}

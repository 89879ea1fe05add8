// What MemoryStore charges against cache.maxBytes for a variant, an object and a body: their real heap cost, estimated.
import { isInterned } from './variant.js';

/*
 * The estimates follow V8's layout on Node 20 (64-bit, no pointer compression: 8-byte slots, a 24-byte object header,
 * 16-byte string headers) and are calibrated with bench/store-heap.ts, which measures what the heap really grows by
 * (`--max-bytes`: the store full at its bound). Issue 14 §4: 62k small variants charged 32 MiB held 74 MB when only
 * body and header bytes plus 400 bytes were charged; now the heap a full store holds stays within 1.5× maxBytes
 * (src/storage/memory-accounting.test.ts), and charges stay close to the real cost so the bound does not waste room.
 */

/**
 * One variant beyond its fields and selector: its record (14 slots), its hot state (7 slots: fields, numbers, a boxed
 * storedAt), its Freshness (10 slots, two boxed doubles), its entry in its Vary group's selector map when it has
 * siblings. A disk tier's cold variant holds far less (its numbers packed in one string: variant.ts), charged the same.
 */
export const VARIANT_BASE = 350;
/**
 * One object (URL) beyond its key: its entry in the store's object index (its only variant, or a record of its Vary
 * groups when it has several) and its place in its host's path index (a slot, or a node where paths part).
 */
export const OBJECT_BASE = 240;
/** One held body beyond its bytes: its table record, the Buffer and ArrayBuffer objects and the native backing store. */
export const BODY_OVERHEAD = 300;

/** What the heap holds for one string of `length` one-byte characters: a 16-byte header, characters rounded up to 8. */
export function stringBytes(length: number): number {
  return 16 + ((length + 7) & ~7);
}

/** Heap bytes of a string held by one record alone; a string the intern table holds is shared (bounded once). */
function ownBytes(s: string): number {
  return isInterned(s) ? 0 : stringBytes(s.length);
}

/** A variant's charge: its record, its flat field list (slots and the strings not shared), its selector and tags. */
export function variantCost(flatHeaders: readonly string[], selector: string, tags: readonly string[]): number {
  let n = VARIANT_BASE + 48 + 8 * flatHeaders.length; // + the field list: an array, its backing store header, one slot a string
  for (let i = 0; i < flatHeaders.length; i++) n += ownBytes(flatHeaders[i]!);
  n += ownBytes(selector);
  if (tags.length > 0) {
    n += 48 + 8 * tags.length;
    for (const t of tags) n += stringBytes(t.length);
  }
  return n;
}

/** An object's charge: its index entries and its key (zone, host, path, query), with a path and query held apart. */
export function objectCost(key: string, ownPath: string, ownQuery: string): number {
  // The path and query are read from the key when needed; `ownPath` and `ownQuery` are held apart (a key that does not spell them out).
  return OBJECT_BASE + stringBytes(key.length) + (ownPath === '' ? 0 : stringBytes(ownPath.length)) + (ownQuery === '' ? 0 : stringBytes(ownQuery.length));
}

/** A held body's charge: its bytes and what holding them costs (charged once, however many variants share it). */
export function bodyCost(length: number): number {
  return BODY_OVERHEAD + length;
}

// The disk store's options, its logger and the figures it reports (DiskStore.diskStats()).
import type { MemoryStoreOptions } from './memory.js';

export interface DiskStoreLogger { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }

export interface DiskStoreOptions {
  path: string;
  /** Bounds the in-memory index (metadata: variants, objects, fields); bodies are bounded by the two below. */
  maxBytes: number;
  /** The memory tier: bytes of bodies kept in memory as well as on disk (least recently used demoted first). Default 64 MiB. */
  memoryMaxBytes?: number;
  /** Bytes of body files on disk (least recently used variants evicted first). Default: unbounded. */
  diskMaxBytes?: number;
  normalize: MemoryStoreOptions['normalize'];
  logger?: DiskStoreLogger;
}

export interface DiskStats {
  loaded: number;        // entries loaded by open()
  indexed: number;       // of those, loaded from the index file (their entry files not read)
  corrupt: number;       // torn or corrupt entry files deleted (by open(), or found when their fields were loaded)
  fieldLoads: number;    // cold variants' fields read from their entry files
  warmFields: number;    // variants whose fields are in memory (recently stored or served)
  writes: number;        // entry files written
  writeErrors: number;   // entry, marker or journal writes that failed (the entry just is not persisted)
  unlinkErrors: number;
  pending: number;       // file operations in progress
  memoryBytes: number;   // body bytes in the memory tier (bodies written to disk and still in memory)
  diskBytes: number;     // body bytes in body files
  promotions: number;    // bodies read from disk and kept in memory
  openFiles: number;     // body files held open for reads (a bounded cache of descriptors)
}

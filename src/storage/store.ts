// The cache store interface every store implements (memory, disk), and the records it holds.
import type { Readable } from 'node:stream';
import type { BodyWriter } from './body-writer.js';
import type { Body } from './variant.js';
import type { Freshness } from '../cache/policy/types.js';
import type { HeaderValues, ObjectKey } from '../cache/key.js';

/**
 * A body kept on disk (the disk tier, disk.ts): read asynchronously, never on the event loop's own time. A variant whose
 * body is not in memory (`body` undefined) is served from here.
 */
export interface BodyFile {
  readonly length: number;
  /** Bytes `start`..`end` (inclusive) of the body, read as the consumer takes them (fs read stream: bounded buffers). */
  stream(start: number, end: number): Readable;
  /** The whole body, read asynchronously; kept in the memory tier when it fits (a promotion). */
  read(): Promise<Buffer>;
  /**
   * The whole body read into `buf` at `at` (room for `length` + 1 bytes: a longer file is an error), without a promise:
   * the fast path's read into a buffer of its own; a promotion keeps a copy. `done` is called once.
   */
  readInto?(buf: Buffer, at: number, done: (err: Error | null) => void): void;
  /**
   * This file as its own body record (variant.ts Body), when no record holds it yet: a disk tier's file loaded or
   * filled then costs one object, not a record and a file. Undefined when it cannot be (a plain record is made).
   */
  claim?(): Body | undefined;
}

/**
 * Most variants one object (URL) keeps unless its zone says otherwise (`cacheKey.maxVariants`): past it, the object's
 * least recently used variant goes. A URL varying on a field a client controls (Origin, Accept-Language, a cookie)
 * otherwise grows without bound and evicts everything else; Fastly caps variants per object too (about 200), Varnish
 * bounds a hash chain's walk. 64 covers real Origin / language / coding combinations.
 */
export const DEFAULT_MAX_VARIANTS = 64;

/** What a store needs to place a response: its object's key (cache/key.ts), selector, response and policy state. */
export interface VariantInput extends ObjectKey {
  keyNames: readonly string[];  // the zone's key headers, then the response's Vary names not among them
  selector: string;             // selectorOf(keyNames, request headers)
  status: number;
  headers: [string, string][];  // response fields to replay (lowercase names; hop-by-hop, Cache-Tag already removed)
  body: Buffer;
  /** The body is already on disk (a disk store reloading its index): `body` is then empty and not read. */
  bodyFile?: BodyFile;
  freshness: Freshness;
  tags: readonly string[];      // lowercased Cache-Tag values
  soft?: boolean;               // store as already stale (a soft purge arrived while it was fetched)
  maxVariants?: number;         // the zone's cacheKey.maxVariants: most variants of this object (default: the store's)
  storedAt?: number;            // ms since epoch when first stored (a store reloading its entries keeps it); default now
}

export interface StoredVariant extends ObjectKey {
  readonly id: number;
  readonly seq: number;          // store sequence number: compared with purge-everything generations
  readonly keyNames: readonly string[];
  readonly selector: string;
  status: number;
  headers: [string, string][];
  /** False while the response fields are only on disk (a disk tier's cold variant): CacheStore.loadFields first. */
  readonly hasFields?: boolean;
  /** `headers` flattened [name, value, name, value...] for writeHead; rebuilt when headers change. */
  flatHeaders: string[];
  /** `headers` as a name → value(s) record, for the policy functions. */
  fieldMap: Record<string, string | string[]>;
  /** The body when it is in memory (always, without a disk tier); undefined when only `bodyFile` has it. */
  readonly body: Buffer | undefined;
  readonly bodyLength: number;
  /** The body's copy on disk, once written (a disk tier only). */
  readonly bodyFile: BodyFile | undefined;
  freshness: Freshness;
  readonly tags: readonly string[];
  forcedStale: boolean;          // soft-purged: the next use revalidates
  readonly storedAt: number;
  readonly size: number;         // bytes charged against cache.maxBytes for the metadata
}

export type PurgeTarget =
  | { kind: 'everything'; zoneId: string }
  | { kind: 'object'; zoneId: string; host: string; path: string; query: string }
  | { kind: 'variant'; zoneId: string; host: string; path: string; query: string; headers: Record<string, string> }
  | { kind: 'tag'; zoneId: string; tag: string }
  | { kind: 'host'; zoneId: string; host: string }
  | { kind: 'prefix'; zoneId: string; host: string; pathPrefix: string };

export interface StoreStats {
  objects: number;
  variants: number;
  bodyBytes: number;     // unique body bytes held (a body shared by variants counts once)
  bodies: number;
  evictions: number;     // variants evicted by the byte bound (cache.maxBytes)
  variantEvictions: number; // variants evicted by the per-object bound (cacheKey.maxVariants)
}

/** One zone's share of the store: body bytes count once per variant (a body shared by variants counts for each). */
export interface ZoneStoreStats {
  objects: number;
  variants: number;
  bodyBytes: number;
  evictions: number;
}

/** Lookups are synchronous: the hit path never waits on I/O. */
export interface CacheStore {
  /** The variants stored under one primary key (empty when none). O(variants): never on the request path. */
  variantsOf(objectKey: string): readonly StoredVariant[];
  /** Whether anything is stored under one primary key, in O(1) whatever its variants (a miss's vary-miss / uri-miss label). */
  hasVariants(objectKey: string): boolean;
  /** The variant a request with these headers selects, or undefined. Marks it recently used. */
  lookup(objectKey: string, headers: Record<string, string | string[] | undefined>): StoredVariant | undefined;
  /** A counter that moves on with every purge: a fetch notes it when it starts. */
  epoch(): number;
  /**
   * Whether a purge since `sinceEpoch` named `v` (true when the store no longer remembers that far back): a 304 asked
   * for before it must not freshen what it purged, while purges of other URLs leave the revalidation alone.
   */
  purgedSince(v: StoredVariant, sinceEpoch: number): boolean;
  /**
   * Stores a variant, replacing one with the same selector. `sinceEpoch` is the epoch its fetch started at: a purge
   * since then that covers it means it is not stored (or stored stale for a soft purge), so a slow fetch never
   * resurrects purged content. Returns undefined when it is not stored.
   */
  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined;
  /** Replaces a variant's headers and freshness after a 304 (RFC 9111 §4.3.4). */
  refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void;
  remove(v: StoredVariant): void;
  /** Removes (or, with soft, marks stale) what the target names; returns how many variants it touched. */
  purge(target: PurgeTarget, soft: boolean): number;
  /** Drops everything (e.g. after missed cluster purges). */
  clear(): void;
  stats(): StoreStats;
  /**
   * A body file for a fill to stream into (a disk tier only): the fill's clients read it as it grows, and the committed
   * file is stored with `VariantInput.bodyFile`. Undefined when the store keeps bodies in memory.
   */
  beginFill?(): BodyWriter | undefined;
  /**
   * Brings a variant's response fields (flatHeaders, fieldMap, headers) into memory: a disk tier keeps a cold variant's
   * fields only in its entry file (everything a lookup judges freshness by stays in memory). Undefined when they are
   * in memory already (always, in a memory store); else a promise of whether they are now (false: the variant is gone,
   * its entry file being damaged or purged: answer as a miss). `hold` keeps them in memory until it emits 'close'.
   */
  loadFields?(v: StoredVariant, hold?: FieldsHold): Promise<boolean> | undefined;
  /** Per zone id, where the store keeps them (the memory store and the disk store over it): the dashboard's zone view. */
  zoneStats?(): Record<string, ZoneStoreStats>;
  close(): Promise<void>;
}

/** What keeps a variant's loaded fields in memory until it closes (a response being written). */
export interface FieldsHold { once(event: 'close', listener: () => void): unknown }

/** What a store holds for one variant, as the async interface returns it. */
export interface StoredEntry {
  status: number;
  headers: [string, string][];
  body: Buffer;
  freshness: Freshness;
  tags: readonly string[];
  selector: string;
  keyNames: readonly string[];
  forcedStale: boolean;
  storedAt: number;
}

/**
 * The interface every store offers asynchronously (memory and disk through `asAsyncStore`, the Redis shared tier
 * natively): the one the shared contract suite (store.contract.ts) tests.
 */
export interface AsyncStore {
  /** The variant a request with these headers selects, or undefined. */
  get(objectKey: string, headers: HeaderValues): Promise<StoredEntry | undefined>;
  /** Stores a variant (replacing the one with the same selector); false when it is not stored. */
  put(input: VariantInput): Promise<boolean>;
  /** Removes (or, with soft, marks stale) what the target names; returns how many variants it touched (0 allowed for everything). */
  purge(target: PurgeTarget, soft: boolean): Promise<number>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

const NO_BODY = Buffer.alloc(0);

/** The body of a variant, from memory or read from its file. */
export function bodyOf(v: StoredVariant): Promise<Buffer> {
  if (v.body !== undefined) return Promise.resolve(v.body);
  return v.bodyFile!.read();
}

/** Copies the stored fields of a variant, so callers of the async interface never hold the store's own record. */
export function toStoredEntry(v: StoredVariant, body: Buffer): StoredEntry {
  return {
    status: v.status, headers: v.headers.map(([k, val]) => [k, val] as [string, string]), body,
    freshness: { ...v.freshness }, tags: [...v.tags], selector: v.selector, keyNames: [...v.keyNames],
    forcedStale: v.forcedStale, storedAt: v.storedAt,
  };
}

/** The async interface over a synchronous store (memory, disk). */
export function asAsyncStore(store: CacheStore): AsyncStore {
  return {
    get: async (objectKey, headers) => {
      const v = store.lookup(objectKey, headers);
      if (v === undefined) return undefined;
      const loading = store.loadFields?.(v);
      if (loading !== undefined && !(await loading)) return undefined;
      const entry = toStoredEntry(v, NO_BODY); // the fields now, before another load could make them cold again
      entry.body = await bodyOf(v);
      return entry;
    },
    put: async (input) => store.insert(input) !== undefined,
    purge: async (target, soft) => store.purge(target, soft),
    clear: async () => store.clear(),
    close: () => store.close(),
  };
}

// The in-memory record of one stored variant (flat fields, list links, shared body), and the strings it shares.
import type { BodyFile, StoredVariant } from './store.js';
import type { Freshness } from '../cache/policy/types.js';
import { coldFreshness, coldNumber, coldNumbers, ENTRY, FILE, LENGTH, packCold, SIZE, STORED_AT } from './packed-freshness.js';
import type { Zone } from './memory-index.js';
import type { LeafPath } from './path-index.js';

/** The key fields of a variant whose primary key does not spell them out (see `regularKey`): held apart, rare. */
interface KeyParts { readonly host: string; readonly path: string; readonly query: string }
const OWN_PARTS = new WeakMap<MemoryVariant, KeyParts>();

/**
 * Whether `key` is `primaryKey(zoneId, host, path, query)`, maybe with a suffix (`\0OPTIONS`...), and the fields can be
 * read back from it (`keyHost` and the others): then a variant holds no string of its own for them.
 */
export function regularKey(key: string, zoneId: string, host: string, path: string, query: string): boolean {
  // Each separator found where the fields' lengths put it is the first of its kind, so no field holds one itself.
  const z = zoneId.length;
  if (key.indexOf('\u0000') !== z || !key.startsWith(zoneId)) return false;
  const h = key.indexOf('\u0000', z + 1);
  if (h !== z + 1 + host.length || !key.startsWith(host, z + 1)) return false;
  const p = key.indexOf('?', h + 1);
  if (p !== h + 1 + path.length || !key.startsWith(path, h + 1)) return false;
  const end = key.indexOf('\u0000', p + 1);
  return (end === -1 ? key.length : end) === p + 1 + query.length && key.startsWith(query, p + 1);
}

/** Where the host ends in a regular key of a zone whose id is `zoneLength` long (the \0 after it). */
function hostEnd(key: string, zoneLength: number): number { return key.indexOf('\u0000', zoneLength + 1); }

/**
 * The path of the keys of one zone and host (`zoneId\0host\0`, `start` characters long) read in place, as a path
 * index's LeafPath: the character code at `i`, -1 at its end (the '?' before the query).
 */
export function keyPathCodes(start: number): LeafPath<string> {
  return {
    code: (key, i) => {
      const c = key.charCodeAt(start + i);
      return c === 63 || c !== c ? -1 : c;
    },
    is: (key, path) => key.startsWith(path, start) && key.charCodeAt(start + path.length) === 63,
  };
}

/** The path of a regular key (see `regularKey`): what a host's path index files it under. */
export function keyPath(key: string, zoneLength: number): string {
  const h = hostEnd(key, zoneLength);
  return key.slice(h + 1, key.indexOf('?', h + 1));
}

/**
 * A body held once for every variant of one object (URL) whose bytes are identical (see BodyTable in memory-index.ts):
 * in memory (`buf`), on disk (`file`, a disk tier only), or both while it is hot.
 */
export interface Body {
  /** The bytes, while in memory; a disk tier drops them (keeping `file`) when the memory tier is full. */
  buf: Buffer | undefined;
  readonly length: number;
  refs: number;
  /** Its copy on disk once written (disk.ts); undefined without a disk tier. */
  file: BodyFile | undefined;
  /** The disk tier's list of bodies in memory, least recently used first (unused without a disk tier). */
  hotOlder: Body | undefined;
  hotNewer: Body | undefined;
  /** The variant that stored it (or gave it its record back): the one to park it when it leaves memory, if no other shares it. */
  owner: MemoryVariant | undefined;
}

/**
 * Held once per cached variant, so it is kept small (the target is at most 2 KiB per cached object beyond its body): the response fields
 * live only as the flat [name, value, ...] array the hit path writes; the [name, value] pairs and the name → value
 * record that policy code needs (conditionals, ranges, 304 updates) are built when asked for. The key fields (host,
 * path, query) are read from the primary key when asked for (purges, removals), never held apart; the body through its
 * shared record. An object's only variant is its entry in the store's object index (object-index.ts).
 * `older`/`newer` link the store's LRU list and `zonePrev`/`zoneNext` its zone's list, so neither needs a hash entry.
 */
export class MemoryVariant implements StoredVariant {
  /** LRU neighbours: toward the least and the most recently used end; both undefined once the variant is dropped. */
  older: MemoryVariant | undefined = undefined;
  newer: MemoryVariant | undefined = undefined;
  /** Neighbours in its zone's list (what a purge-everything sweep walks). */
  zonePrev: MemoryVariant | undefined = undefined;
  zoneNext: MemoryVariant | undefined = undefined;
  /** The store's use counter when it was last stored or selected: the least recent of an object goes first at its variant bound. */
  usedAt = 0;
  /** Status (RFC 9110 §15: three digits) in bits 0-9, the soft-purge mark in bit 10: one small integer, no fields of their own. */
  #bits: number;
  /** Its body record; undefined while the body is parked: only on disk, its file id and length in the packed numbers. */
  #body: Body | undefined;
  /** Hot: its fields and numbers in memory; cold (a disk tier's, fields only in its entry file): its numbers packed in one string. */
  #state: Hot | string;

  constructor(
    public seq: number,
    readonly keyNames: readonly string[],
    readonly selector: string,
    status: number,
    /** The response fields, flattened (see `flatten`). */
    flatHeaders: string[],
    body: Body,
    freshness: Freshness,
    readonly tags: readonly string[],
    forcedStale: boolean,
    storedAt: number,
    size: number,
    /** The primary key (cache/key.ts primaryKey, maybe with a suffix); shared with the store's object index. */
    readonly objectKey: string,
    readonly zone: Zone,
    /** The key fields, when the key does not spell them out (`regularKey`); else undefined. */
    parts?: KeyParts,
  ) {
    this.#bits = (status & STATUS_MASK) | (forcedStale ? STALE : 0);
    this.#body = body;
    this.#state = new Hot(flatHeaders, freshness, storedAt, size, 0);
    if (parts !== undefined) OWN_PARTS.set(this, parts);
  }

  /** Unique among variants; given when first asked for (misses and revalidations only), so no variant holds one it is never asked for. */
  get id(): number {
    let id = IDS.get(this);
    if (id === undefined) IDS.set(this, (id = nextId++));
    return id;
  }

  get status(): number { return this.#bits & STATUS_MASK; }
  set status(s: number) { this.#bits = (this.#bits & ~STATUS_MASK) | (s & STATUS_MASK); }
  get forcedStale(): boolean { return (this.#bits & STALE) !== 0; }
  set forcedStale(b: boolean) { this.#bits = b ? this.#bits | STALE : this.#bits & ~STALE; }

  /** What a lookup judges it by (RFC 9111 §4.2); a cold variant's is unpacked on each read (its answer is async anyway). */
  get freshness(): Freshness {
    const s = this.#state;
    return typeof s === 'string' ? coldFreshness(s) : s.freshness;
  }

  set freshness(f: Freshness) {
    const s = this.#state;
    if (typeof s !== 'string') { s.freshness = f; return; }
    const packed = packCold(coldNumbers(s), f);
    if (packed === undefined) throw new FieldsNotLoadedError(); // a store sets it with the fields (refresh), so never cold
    this.#state = packed;
  }

  get storedAt(): number { const s = this.#state; return typeof s === 'string' ? coldNumber(s, STORED_AT) : s.storedAt; }
  /** Bytes charged against cache.maxBytes for it (memory-cost.ts). */
  get size(): number { const s = this.#state; return typeof s === 'string' ? coldNumber(s, SIZE) : s.size; }

  /** The disk tier's entry file of this variant (its sequence number; 0: none yet). Unused without a disk tier. */
  get entry(): number { const s = this.#state; return typeof s === 'string' ? coldNumber(s, ENTRY) : s.entry; }
  set entry(seq: number) {
    const s = this.#state;
    if (typeof s !== 'string') { s.entry = seq; return; }
    this.#state = packCold({ ...coldNumbers(s), entry: seq }, coldFreshness(s))!;
  }

  /** Whether the response fields are in memory; a disk tier's cold variant has them loaded (CacheStore.loadFields) before use. */
  get hasFields(): boolean { return typeof this.#state !== 'string'; }

  /** The response fields, flattened for writeHead; throws FIELDS_NOT_LOADED while they are only on disk. */
  get flatHeaders(): string[] {
    const s = this.#state;
    if (typeof s === 'string') throw new FieldsNotLoadedError();
    return s.flat;
  }

  set flatHeaders(flat: string[]) {
    const s = this.#state;
    if (typeof s !== 'string') { s.flat = flat; s.fieldMap = undefined; return; }
    this.warm(s, coldFreshness(s), flat);
  }

  // The two helpers below are TypeScript-private, not `#` methods: a class with `#` methods gives each instance a brand
  // slot (8 bytes on every variant).

  /** A cold variant made hot again (its fields loaded): its numbers unpacked, a parked body given its record back. */
  private warm(s: string, f: Freshness, flat: string[]): void {
    const n = coldNumbers(s);
    if (this.#body === undefined) this.unpark(n.file, n.length);
    this.#state = new Hot(flat, f, n.storedAt, n.size, n.entry);
  }

  /**
   * Forgets the fields (they are on disk: a disk tier's cold variant) and packs its numbers; `flatHeaders = ...` brings
   * them back. A body of its own that is only on disk is parked: the variant keeps its file id and length, no record.
   */
  dropFields(): void {
    const s = this.#state;
    if (typeof s === 'string') return;
    const packed = packCold({ storedAt: s.storedAt, size: s.size, entry: s.entry, file: 0, length: 0 }, s.freshness);
    if (packed === undefined) return; // a freshness the packing does not know: the fields stay
    this.#state = packed;
    this.park();
  }

  /**
   * Parks its body when it can: the variant cold, the body its own (no sibling shares it), only on disk (a disk tier's
   * file, not in memory). Called as it goes cold and as its body leaves the memory tier (BodyFiles).
   */
  park(): void {
    const s = this.#state;
    const b = this.#body;
    if (typeof s !== 'string' || b === undefined || b.buf !== undefined || b.refs !== 1 || this.zone.files === undefined) return;
    const id = (b.file as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'number') return;
    this.#state = packCold({ ...coldNumbers(s), file: id, length: b.length }, coldFreshness(s))!;
    // The record is let go: a read already under way finds it without its file (no promotion), the body stays this variant's.
    b.file = undefined;
    b.owner = undefined;
    this.#body = undefined;
  }

  /** Gives a parked body its record again (the file's, `file` when given: a sibling variant shares it). */
  private unpark(id: number, length: number, file?: BodyFile): Body {
    const f = file ?? this.zone.files!.file(id, length, this);
    const b: Body = f.claim?.() ?? { buf: undefined, length, refs: 0, file: f, hotOlder: undefined, hotNewer: undefined, owner: undefined };
    b.refs = 1;
    b.owner = this;
    this.#body = b;
    return b;
  }

  /** Its parked body's record again, with `file` (the same file, as a sibling stores or a read promotes it); undefined when it is not parked on that file. */
  unparkAs(file: BodyFile & { readonly id: number }): Body | undefined {
    const s = this.#state;
    if (this.#body !== undefined || typeof s !== 'string' || coldNumber(s, FILE) !== file.id) return undefined;
    const n = coldNumbers(s);
    const b = this.unpark(n.file, n.length, file);
    this.#state = packCold({ ...n, file: 0, length: 0 }, coldFreshness(s))!;
    return b;
  }

  get zoneId(): string { return this.zone.id; }
  /** The key fields, read from the key (made when asked: purges and removals, never lookups). */
  get host(): string {
    const own = OWN_PARTS.get(this);
    if (own !== undefined) return own.host;
    const z = this.zone.id.length;
    return this.objectKey.slice(z + 1, hostEnd(this.objectKey, z));
  }
  get path(): string { return OWN_PARTS.get(this)?.path ?? keyPath(this.objectKey, this.zone.id.length); }
  get query(): string {
    const own = OWN_PARTS.get(this);
    if (own !== undefined) return own.query;
    const k = this.objectKey;
    const q = k.indexOf('?', hostEnd(k, this.zone.id.length) + 1);
    const end = k.indexOf('\u0000', q + 1);
    return k.slice(q + 1, end === -1 ? k.length : end);
  }
  /** The key fields held apart (a key that does not spell them out), else undefined: a sibling variant shares them. */
  get ownParts(): KeyParts | undefined { return OWN_PARTS.get(this); }
  /** Its body record; undefined while the body is parked (see `dropFields`). */
  get bodyRecord(): Body | undefined { return this.#body; }
  get body(): Buffer | undefined { return this.#body?.buf; }
  get bodyLength(): number { const b = this.#body; return b !== undefined ? b.length : coldNumber(this.#state as string, LENGTH); }
  /** The body's file; a parked body's is made when asked for (a read of it may bring the body into memory: BodyFiles.promote). */
  get bodyFile(): BodyFile | undefined {
    const b = this.#body;
    if (b !== undefined) return b.file;
    const s = this.#state as string;
    return this.zone.files!.file(coldNumber(s, FILE), coldNumber(s, LENGTH), this);
  }
  /** Its body file's id (a disk tier's), whether parked or held by its record; undefined when it has none. */
  get fileId(): number | undefined {
    const b = this.#body;
    if (b === undefined) return coldNumber(this.#state as string, FILE);
    return (b.file as { id?: number } | undefined)?.id;
  }

  get headers(): [string, string][] {
    const f = this.flatHeaders;
    const out: [string, string][] = new Array(f.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = [f[2 * i]!, f[2 * i + 1]!];
    return out;
  }

  set headers(headers: [string, string][]) {
    this.flatHeaders = flatten(headers);
  }

  get fieldMap(): Record<string, string | string[]> {
    const s = this.#state;
    if (typeof s === 'string') throw new FieldsNotLoadedError();
    return (s.fieldMap ??= toFieldMap(s.flat));
  }

  set fieldMap(map: Record<string, string | string[]>) {
    const s = this.#state;
    if (typeof s === 'string') throw new FieldsNotLoadedError();
    s.fieldMap = map;
  }
}

/** A hot variant's fields and numbers (in memory: a memory store's, or a disk tier's recently used). */
class Hot {
  fieldMap: Record<string, string | string[]> | undefined = undefined;
  constructor(public flat: string[], public freshness: Freshness, readonly storedAt: number, readonly size: number, public entry: number) {}
}

const STATUS_MASK = 0x3ff;
const STALE = 0x400;
const IDS = new WeakMap<MemoryVariant, number>();
let nextId = 1;

/** A disk tier's body files by id, for variants that hold a parked body (MemoryStoreOptions.files). */
export interface ParkedFiles {
  /** A handle on body file `id` (`length` bytes) of variant `owner`, which holds it parked. */
  file(id: number, length: number, owner: MemoryVariant): BodyFile;
}

/** A cold variant's fields were read before they were loaded (CacheStore.loadFields): a bug of the caller, never data. */
export class FieldsNotLoadedError extends Error {
  readonly code = 'FIELDS_NOT_LOADED';
  constructor() { super('the variant\'s response fields are on disk and were not loaded'); this.name = 'FieldsNotLoadedError'; }
}

/**
 * Field names, and short values that repeat across responses (content-type, cache-control, vary, an Origin...), hosts
 * and Vary selectors are held once for the whole cache instead of once per variant. Bounded: once full, new strings
 * are simply not shared.
 */
const INTERNED = new Map<string, string>();
const INTERN_MAX = 20_000;
const INTERN_VALUE_MAX_LENGTH = 80;

/** The cache-wide copy of a short string (host, selector, field value), or `s` itself when too long or the table is full. */
export function intern(s: string): string {
  if (s.length > INTERN_VALUE_MAX_LENGTH) return s;
  const known = INTERNED.get(s);
  if (known !== undefined) return known;
  if (INTERNED.size < INTERN_MAX) INTERNED.set(s, s);
  return s;
}

/** Key-name lists (a zone's key headers plus a response's Vary names): few distinct ones, each held once. */
const NAME_LISTS = new Map<string, readonly string[]>();
const NAME_LISTS_MAX = 1_000;

export function internNames(names: readonly string[]): readonly string[] {
  const id = names.length === 1 ? names[0]! : names.join('\u0000');
  const known = NAME_LISTS.get(id);
  if (known !== undefined) return known;
  // A copy of its own (never the caller's array); not frozen: frozen elements slow the selector's reads on every hit.
  const own = names.map(intern);
  if (NAME_LISTS.size < NAME_LISTS_MAX) NAME_LISTS.set(id, own);
  return own;
}

/**
 * Dates and validators are unique per response, so they stay out of the intern table (they would only fill it); but
 * consecutive responses often repeat them (the Date of one second, an origin's single Last-Modified), so each of these
 * fields keeps the last value it saw and a repeat of it is held once.
 */
let lastDate = '';
let lastLastModified = '';
let lastExpires = '';

export function flatten(headers: [string, string][]): string[] {
  const out: string[] = new Array(headers.length * 2);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    out[2 * i] = intern(name);
    out[2 * i + 1] = shareValue(name, value);
  }
  return out;
}

function shareValue(name: string, value: string): string {
  switch (name) {
    case 'etag': return value;
    case 'date': return value === lastDate ? lastDate : (lastDate = value);
    case 'last-modified': return value === lastLastModified ? lastLastModified : (lastLastModified = value);
    case 'expires': return value === lastExpires ? lastExpires : (lastExpires = value);
    default: return intern(value);
  }
}

/** Whether `s` is the cache-wide copy of its string (the intern table's): held once, whoever else refers to it. */
export function isInterned(s: string): boolean {
  return INTERNED.get(s) === s;
}

/** name → value (or values, for repeated fields) from a flat field list; prototype-free (an origin names its fields). */
export function toFieldMap(flat: readonly string[]): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const v = flat[i + 1]!;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

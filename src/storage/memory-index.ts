// MemoryStore's records (zones, Vary groups), its LRU and zone lists, index keys, Host ports, shared bodies.
import { headersOfSelector as selectorHeaders, hostName, zoneScoped, type HeaderValues } from '../cache/key.js';
import type { BodyFile, VariantInput } from './store.js';
import type { Body, MemoryVariant, ParkedFiles } from './variant.js';
import type { CacheObject } from './object-index.js';

/** One zone: its variants as a list (what a purge-everything sweep walks) and its purge-everything generations. */
export interface Zone {
  readonly id: string;
  /** The most recently stored variant of the zone; `zoneNext` leads to older ones. */
  head: Variant | undefined;
  /** The store's seq at the zone's last purge-everything (hard) and soft purge-everything; 0 = none. */
  hard: number;
  soft: number;
  /** What the zone holds now (body bytes count once per variant, shared or not) and its variants evicted by the bound. */
  objects: number;
  variants: number;
  bodyBytes: number;
  evictions: number;
  /** The store's body files by id (a disk tier's), for variants whose body is parked (variant.ts). */
  readonly files: ParkedFiles | undefined;
}

export type Variant = MemoryVariant;

/**
 * A Vary group of two or more variants, by selector. A group of one is that variant itself (it carries the group's
 * key names and its selector), so the common object pays for no Map: one grows at the second selector.
 */
export class SelectorMap extends Map<string, Variant> {
  constructor(readonly keyNames: readonly string[]) { super(); }
}

export type Group = Variant | SelectorMap;

/** The group's variant with this selector (on every hit). */
export function groupGet(g: Group, selector: string): Variant | undefined {
  // A variant is told from a SelectorMap by its selector field: an `instanceof` here costs as much as the rest of a hit.
  const own = (g as Partial<Variant>).selector;
  if (own !== undefined) return own === selector ? (g as Variant) : undefined;
  return (g as SelectorMap).get(selector);
}

/** The group with `v` added (a new SelectorMap when `g` was a single variant). `v` must carry the group's key names. */
export function groupAdd(g: Group, v: Variant): Group {
  if (g instanceof SelectorMap) return g.set(v.selector, v);
  const map = new SelectorMap(g.keyNames);
  return map.set(g.selector, g).set(v.selector, v);
}

/** The group left once `v` is taken out (a single variant again at one; undefined when empty), or null if `v` was not in it. */
export function groupRemove(g: Group, v: Variant): Group | undefined | null {
  if (!(g instanceof SelectorMap)) return g === v ? undefined : null;
  if (g.get(v.selector) !== v) return null;
  g.delete(v.selector);
  if (g.size > 1) return g;
  const [only] = g.values();
  return only;
}

/** Appends the group's variants to `out`. */
export function pushGroup(g: Group, out: Variant[]): void {
  if (g instanceof SelectorMap) for (const v of g.values()) out.push(v);
  else out.push(g);
}

/** Replaces the object's group at `index` (in `groupsOf` order) with `g`, or removes it when `g` is undefined. */
export function setGroup(obj: CacheObject, index: number, g: Group | undefined): void {
  if (g !== undefined) {
    if (index === 0) obj.first = g; else obj.more![index - 1] = g;
    return;
  }
  if (index === 0) obj.first = obj.more?.shift();
  else obj.more!.splice(index - 1, 1);
  if (obj.more?.length === 0) obj.more = undefined;
}

/** Adds a group after the object's others (the newest group, which lookups try first). */
export function addGroup(obj: CacheObject, g: Group): void {
  if (obj.first === undefined) obj.first = g;
  else if (obj.more === undefined) obj.more = [g];
  else obj.more.push(g);
}

/**
 * The store's LRU order, linked through the variants' own `older`/`newer` fields: no hash entry per variant, and a
 * hit moves its variant in O(1). A variant out of the list has both links undefined and is not `oldest`.
 */
export class LruList {
  /** The least recently used: eviction starts here. */
  oldest: Variant | undefined = undefined;
  /** The most recently used. */
  newest: Variant | undefined = undefined;

  has(v: Variant): boolean { return v.older !== undefined || this.oldest === v; }

  /** Appends `v` (not in the list) as the most recently used. */
  push(v: Variant): void {
    v.older = this.newest;
    v.newer = undefined;
    if (this.newest === undefined) this.oldest = v; else this.newest.newer = v;
    this.newest = v;
  }

  remove(v: Variant): void {
    if (v.older === undefined) this.oldest = v.newer; else v.older.newer = v.newer;
    if (v.newer === undefined) this.newest = v.older; else v.newer.older = v.older;
    v.older = v.newer = undefined;
  }

  /** Makes `v` (in the list) the most recently used; nothing to do when it already is (a hot object hit again). */
  touch(v: Variant): void {
    const newer = v.newer;
    if (newer === undefined) return;
    const older = v.older;
    if (older === undefined) this.oldest = newer; else older.newer = newer;
    newer.older = older;
    v.older = this.newest;
    v.newer = undefined;
    this.newest!.newer = v;
    this.newest = v;
  }
}

/** Puts `v` at the head of its zone's list (in front of everything a sweep already under way will visit). */
export function zoneAdd(zone: Zone, v: Variant): void {
  v.zoneNext = zone.head;
  if (zone.head !== undefined) zone.head.zonePrev = v;
  zone.head = v;
}

export function zoneRemove(zone: Zone, v: Variant): void {
  if (v.zonePrev === undefined) zone.head = v.zoneNext; else v.zonePrev.zoneNext = v.zoneNext;
  if (v.zoneNext !== undefined) v.zoneNext.zonePrev = v.zonePrev;
  v.zonePrev = v.zoneNext = undefined;
}

export const hostKey: (zoneId: string, host: string) => string = zoneScoped;
export const tagKey: (zoneId: string, tag: string) => string = zoneScoped;

export { hostName };

export function hasPort(host: string): boolean { return hostName(host) !== host; }

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Bodies held once for every variant of one object (URL) with the same bytes: a new body is compared with its
 * siblings' (same length, then byte by byte), never hashed, so a miss costs no digest of its body. Byte-identical
 * bodies of different URLs are held apart (rare, and finding them would cost a hash of every body).
 */
export class BodyTable {
  #count = 0;
  #bytes = 0;

  /** Bodies held. */
  get size(): number { return this.#count; }
  /** Their bytes, each body once. */
  get bytes(): number { return this.#bytes; }

  /**
   * The sibling's body with these bytes (or this file), with one more reference, else a new one. A sibling whose body
   * is only on disk is not compared (that would be a read on the insert path): the disk tier shares such bodies itself.
   */
  acquire(buf: Buffer, file: BodyFile | undefined, siblings: readonly Variant[]): Body {
    for (const v of siblings) {
      const b = v.bodyRecord;
      if (b === undefined) continue; // parked: the store unparks a sibling whose file this is first
      const same = file !== undefined
        ? b.file === file
        : b.buf !== undefined && b.length === buf.length && (b.buf === buf || b.buf.equals(buf));
      if (same) { b.refs++; return b; }
    }
    const length = file !== undefined ? file.length : buf.length;
    const claimed = file?.claim?.();
    const body: Body = claimed ?? { buf: file !== undefined ? undefined : buf, length, refs: 0, file, hotOlder: undefined, hotNewer: undefined, owner: undefined };
    body.refs = 1;
    this.#count++;
    this.#bytes += length;
    return body;
  }

  /** A parked body (a variant's own, only on disk: no record) is no longer held. */
  releaseParked(length: number): void {
    this.#count--;
    this.#bytes -= length;
  }

  /** Drops one reference; true when it was the last, and the body is no longer held. */
  release(body: Body): boolean {
    if (--body.refs > 0) return false;
    this.#count--;
    this.#bytes -= body.length;
    return true;
  }
}

/** Rebuilds request-like headers from a selector, to find the same request's variant in another Vary group. */
export function headersOfSelector(input: VariantInput): HeaderValues {
  return selectorHeaders(input.keyNames, input.selector);
}

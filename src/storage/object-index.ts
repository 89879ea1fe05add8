// The store's objects by primary key: an object with one variant is that variant itself; two or more share a CacheObject (their Vary groups).
import { addGroup, groupAdd, groupGet, groupRemove, pushGroup, setGroup, type Group, type Variant, type Zone } from './memory-index.js';

/**
 * An object (primary key) with two or more variants: its Vary groups, oldest first (a group is the variants that share
 * key names; most groups are one variant, held with no Map). An object with one variant has no CacheObject: the
 * variant is the index's entry (a million objects only on disk then cost one record each, not two).
 */
export class CacheObject {
  first: Group | undefined = undefined;
  /** Groups added after `first` (a response's Vary changed), oldest first; undefined while there are none. */
  more: Group[] | undefined = undefined;
  count = 0;
  /** The highest store seq any of its variants had (insert, refresh): it has live variants only if above its zone's `hard`. */
  lastSeq = 0;
  constructor(readonly zone: Zone) {}
}

/** What the index holds for a key: the object's only variant, or its CacheObject. */
export type ObjectEntry = Variant | CacheObject;

/** Whether the entry is a single variant (told by its selector field: an `instanceof` costs as much as a hit). */
export function isSingle(e: ObjectEntry): e is Variant {
  return (e as Partial<Variant>).selector !== undefined;
}

/** The object's groups, oldest first. */
export function groupsOf(e: ObjectEntry): Group[] {
  if (isSingle(e)) return [e];
  if (e.first === undefined) return [];
  return e.more === undefined ? [e.first] : [e.first, ...e.more];
}

/** Every variant of the object, oldest group first. */
export function variantsIn(e: ObjectEntry): Variant[] {
  if (isSingle(e)) return [e];
  const out: Variant[] = [];
  for (const g of groupsOf(e)) pushGroup(g, out);
  return out;
}

/** Objects by primary key. */
export class ObjectIndex {
  readonly #map = new Map<string, ObjectEntry>();

  get size(): number { return this.#map.size; }

  get(key: string): ObjectEntry | undefined { return this.#map.get(key); }

  /** Whether anything live may be stored under `key`, in O(1): its newest variant is newer than its zone's purge-everything. */
  hasVariants(key: string): boolean {
    const e = this.#map.get(key);
    if (e === undefined) return false;
    return (isSingle(e) ? e.seq : e.lastSeq) > e.zone.hard;
  }

  /** Adds `v` as the first variant of its object (none is stored under its key). */
  addFirst(v: Variant): void { this.#map.set(v.objectKey, v); }

  /** Adds `v` to the object `e` (its key's entry), in group `at` of `groupsOf(e)` (-1: a new group, the newest). */
  attach(e: ObjectEntry, v: Variant, at: number): void {
    let obj: CacheObject;
    if (isSingle(e)) {
      obj = new CacheObject(e.zone);
      obj.first = e;
      obj.count = 1;
      obj.lastSeq = e.seq;
      this.#map.set(v.objectKey, obj);
    } else obj = e;
    if (at === -1) addGroup(obj, v); else setGroup(obj, at, groupAdd(groupsOf(obj)[at]!, v));
    obj.count++;
    obj.lastSeq = v.seq;
  }

  /** `v` was refreshed (a new seq): its object has live variants again. */
  refreshed(v: Variant): void {
    const e = this.#map.get(v.objectKey);
    if (e !== undefined && !isSingle(e)) e.lastSeq = v.seq;
  }

  /** Whether `v` is the variant its key's object holds (not one of another store, nor one dropped). */
  holds(v: Variant): boolean {
    const e = this.#map.get(v.objectKey);
    if (e === undefined) return false;
    if (isSingle(e)) return e === v;
    for (const g of groupsOf(e)) if (groupGet(g, v.selector) === v) return true;
    return false;
  }

  /** Takes `v` out of its object: 'gone' when it was the object's last variant (the key is free), 'kept' when others stay, 'absent' when it was not there. */
  detach(v: Variant): 'gone' | 'kept' | 'absent' {
    const key = v.objectKey;
    const e = this.#map.get(key);
    if (e === undefined) return 'absent';
    if (isSingle(e)) {
      if (e !== v) return 'absent';
      this.#map.delete(key);
      return 'gone';
    }
    const groups = groupsOf(e);
    let found = false;
    for (let i = 0; i < groups.length; i++) {
      const left = groupRemove(groups[i]!, v);
      if (left !== null) { setGroup(e, i, left); found = true; break; }
    }
    if (!found) return 'absent';
    e.count--;
    // One variant left: it is the entry again (its group is itself).
    if (e.count === 1) this.#map.set(key, variantsIn(e)[0]!);
    return 'kept';
  }
}

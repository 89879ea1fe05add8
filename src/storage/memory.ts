// In-memory cache store: objects → variants, LRU bounded by bytes (and variants per object), shared bodies, tag/path indexes, purges.
import { selectorOf, type HeaderValues } from '../cache/key.js';
import { DEFAULT_MAX_VARIANTS, type CacheStore, type PurgeTarget, type StoreStats, type StoredVariant, type VariantInput, type ZoneStoreStats } from './store.js';
import type { Freshness } from '../cache/policy/types.js';
import { BodyTable, groupGet, headersOfSelector, hostKey, hostName, LruList, sameNames, tagKey, zoneAdd, zoneRemove, type Group, type Variant, type Zone } from './memory-index.js';
import { groupsOf, isSingle, ObjectIndex, variantsIn } from './object-index.js';
import { PathIndex } from './path-index.js';
import { flatten, intern, internNames, keyPathCodes, MemoryVariant, regularKey, type ParkedFiles } from './variant.js';
import type { BodyFile } from './store.js';
import { bodyCost, objectCost, variantCost } from './memory-cost.js';
import { matchingVariants, PurgeHistory } from './purge-match.js';

export interface MemoryStoreOptions {
  maxBytes: number;
  /** Normalises a header value for selectors (Vary rules): the same function lookups and purges use. */
  normalize: (name: string, value: string | string[] | undefined) => string | undefined;
  /** Most variants per object when an input names none (VariantInput.maxVariants); default DEFAULT_MAX_VARIANTS. */
  maxVariants?: number;
  /** Called when a variant leaves the store (eviction, purge, replacement). */
  onRemove?: (v: StoredVariant, why: 'evicted' | 'purged' | 'replaced' | 'expired') => void;
  /** Called when a soft purge of a target (not purge everything) marks a variant stale. */
  onMarkStale?: (v: StoredVariant) => void;
  /**
   * Whether body bytes count against maxBytes (default true). A disk tier bounds its bodies itself (memory and disk),
   * so maxBytes then bounds the index alone.
   */
  chargeBodies?: boolean;
  /** A disk tier's body files by id: a cold variant whose body is only on disk holds its file id, not a record (variant.ts). */
  files?: ParkedFiles;
}

const NO_TAGS: readonly string[] = Object.freeze([]);
const NO_GROUPS: readonly Group[] = Object.freeze([]);
const NO_VARIANTS: readonly Variant[] = Object.freeze([]);

/**
 * `s` as one sequential string: a join with a separator builds a new flat string, and taking its second character out
 * and back in as that separator is lossless for any string (a JSON round trip did the same at twice the cost: a key's
 * NUL separators are escaped and unescaped).
 */
function seqString(s: string): string { return s.length < 2 ? s : [s.slice(0, 1), s.slice(2)].join(s[1]); }
/** Where a purge-everything sweep goes on from in its zone's list (moved on when that variant leaves the list). */
interface SweepCursor { next: Variant | undefined }

export class MemoryStore implements CacheStore {
  readonly #opts: MemoryStoreOptions;
  /** Objects by primary key: an object's only variant, or its CacheObject (object-index.ts). */
  readonly #objects = new ObjectIndex();
  /** Every variant, least recently used first (linked through the variants themselves). */
  readonly #lru = new LruList();
  /** Each distinct body once, for every variant with those bytes. */
  readonly #bodies = new BodyTable();
  readonly #byTag = new Map<string, Set<Variant>>();
  /** zone + host name without port → the hosts (with and without ports) indexed under it: a portless host purge. */
  readonly #hostsByName = new Map<string, Set<string>>();
  /** zone + host → its objects' keys by path: prefix purges, and host purges (the whole index). */
  readonly #paths = new Map<string, PathIndex<string>>();
  /** Each zone's variant list and purge-everything generations. Kept once made: generations outlive the variants. */
  readonly #zones = new Map<string, Zone>();
  readonly #sweeps = new Set<SweepCursor>();
  readonly #purges: PurgeHistory;
  #seq = 0;
  #bytes = 0;        // charged bytes (memory-cost.ts): every variant and object, each unique body once
  #variants = 0;
  #evictions = 0;
  #variantEvictions = 0;
  /** Counts stores and selections: a variant's `usedAt` (its object's LRU order at the variant bound). */
  #uses = 0;
  /** Variants, objects and index nodes visited by purges: work counted, not timed (see workCount). */
  #visited = 0;

  readonly #chargeBodies: boolean;

  constructor(opts: MemoryStoreOptions) {
    this.#opts = opts;
    this.#chargeBodies = opts.chargeBodies ?? true;
    this.#purges = new PurgeHistory(opts.normalize);
  }

  epoch(): number { return this.#purges.epoch; }
  purgedSince(v: StoredVariant, sinceEpoch: number): boolean { return this.#purges.since(v, sinceEpoch) !== 'none'; }

  variantsOf(objectKey: string): readonly StoredVariant[] {
    const e = this.#objects.get(objectKey);
    return e ? variantsIn(e).filter((v) => this.#isLive(v)) : [];
  }

  hasVariants(objectKey: string): boolean {
    // O(1): an object whose newest variant predates its zone's purge-everything has none left (the sweep is on its way).
    return this.#objects.hasVariants(objectKey);
  }

  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    const obj = this.#objects.get(objectKey);
    if (obj === undefined) return undefined;
    // The common object: one variant, the index's entry itself.
    if (isSingle(obj)) { const v = this.#select(obj, headers); return v === undefined ? undefined : this.#use(v); }
    // The newest Vary group first.
    const more = obj.more;
    if (more !== undefined) {
      for (let i = more.length - 1; i >= 0; i--) {
        const v = this.#select(more[i]!, headers);
        if (v !== undefined) return this.#use(v);
      }
    }
    const v = obj.first === undefined ? undefined : this.#select(obj.first, headers);
    return v === undefined ? undefined : this.#use(v);
  }

  #select(g: Group, headers: HeaderValues): Variant | undefined {
    return groupGet(g, selectorOf(g.keyNames, headers, this.#opts.normalize));
  }

  /** A lookup found `v`: gone if a purge-everything covers it, else now the most recently used. */
  #use(v: Variant): Variant | undefined {
    if (!this.#isLive(v)) { this.#drop(v, 'purged'); return undefined; }
    this.#lru.touch(v);
    v.usedAt = ++this.#uses;
    return v;
  }

  /** Applies purge-everything generations lazily (RFC-free: a Varnish-style ban by sequence number). */
  #isLive(v: Variant): boolean {
    const zone = v.zone;
    if (v.seq <= zone.hard) return false;
    if (v.seq <= zone.soft && !v.forcedStale) v.forcedStale = true;
    return true;
  }

  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    const purged = sinceEpoch === undefined ? 'none' : this.#purges.since(input, sinceEpoch);
    if (purged === 'hard') return undefined;
    const soft = purged === 'soft' || (input.soft ?? false);
    // Charged what it really costs (memory-cost.ts): strings shared through the intern table are not its own.
    const flatHeaders = flatten(input.headers);
    const selector = intern(input.selector);
    const tags = input.tags.length === 0 ? NO_TAGS : input.tags;
    const size = variantCost(flatHeaders, selector, tags);
    const bodyCharge = this.#chargeBodies ? bodyCost(input.body.length) : 0;
    if (size + objectCost(input.objectKey, '', '') + bodyCharge > this.#opts.maxBytes) return undefined;

    // First drop what this response supersedes (RFC 9111 §4.1, §3.2): the variant with its selector, and the same
    // request's variant in other Vary groups. Before anything is attached: dropping an object's last variant deletes
    // the object and its index entries, so a new variant hung on it afterwards would be unreachable.
    const existing = this.#objects.get(input.objectKey);
    if (existing) {
      for (const g of groupsOf(existing)) {
        const sel = sameNames(g.keyNames, input.keyNames) ? input.selector : selectorOf(g.keyNames, headersOfSelector(input), this.#opts.normalize);
        const old = groupGet(g, sel);
        if (old) this.#drop(old, 'replaced');
      }
    }
    // Looked up again only when there was an object: dropping its last variant above removes it. A new URL (the usual
    // miss) makes no lists for the object it does not have.
    const entry = existing === undefined ? undefined : this.#objects.get(input.objectKey);
    const groups = entry === undefined ? NO_GROUPS : groupsOf(entry);
    let at = -1;
    for (let i = 0; i < groups.length && at === -1; i++) if (sameNames(groups[i]!.keyNames, input.keyNames)) at = i;
    // Strings every variant of a kind repeats (key names, an Origin) are held once; see variant.ts.
    const keyNames = at === -1 ? internNames(input.keyNames) : groups[at]!.keyNames;

    // Shared with a sibling variant whose bytes are the same (one URL's variants often are: Vary on Origin).
    const siblings = entry === undefined ? NO_VARIANTS : variantsIn(entry);
    // A sibling whose body is parked on this very file (a disk tier loading shared bodies) shares it through a record again.
    const file = input.bodyFile as (BodyFile & { id?: unknown }) | undefined;
    if (file !== undefined && typeof file.id === 'number') for (const s of siblings) s.unparkAs(file as BodyFile & { id: number });
    const body = this.#bodies.acquire(input.body, input.bodyFile, siblings);
    if (body.refs === 1 && this.#chargeBodies) this.#bytes += bodyCost(body.length);

    // A new object's key is held once, flat (a key built by concatenation keeps a cons-string shell even once
    // flattened); a sibling's key and key fields are shared.
    const sibling = siblings[0];
    const key = sibling !== undefined ? sibling.objectKey : seqString(input.objectKey);
    const zone = sibling !== undefined ? sibling.zone : this.#zone(input.zoneId);
    const parts = sibling !== undefined ? sibling.ownParts
      : regularKey(key, input.zoneId, input.host, input.path, input.query) ? undefined : { host: intern(input.host), path: input.path, query: input.query };
    const v: Variant = new MemoryVariant(
      ++this.#seq, keyNames, selector, input.status, flatHeaders, body, input.freshness,
      tags, soft, input.storedAt ?? Date.now(), size, key, zone, parts,
    );
    if (body.refs === 1) body.owner = v;
    if (entry === undefined) this.#newObject(v, input.host, input.path);
    else this.#objects.attach(entry, v, at);
    v.usedAt = ++this.#uses;
    this.#variants++;
    this.#bytes += size;
    this.#lru.push(v);
    zoneAdd(zone, v);
    zone.variants++;
    zone.bodyBytes += v.bodyLength;
    for (const tag of v.tags) {
      let set = this.#byTag.get(tagKey(v.zoneId, tag));
      if (!set) this.#byTag.set(tagKey(v.zoneId, tag), (set = new Set()));
      set.add(v);
    }
    const maxVariants = input.maxVariants ?? this.#opts.maxVariants ?? DEFAULT_MAX_VARIANTS;
    if (entry !== undefined && siblings.length + 1 > maxVariants) this.#boundVariants(v, maxVariants);
    this.#evict(v);
    return this.#lru.has(v) ? v : undefined;
  }

  /**
   * Drops the object's least recently used variants (never `keep`, just stored) until it holds `max`: a flood of
   * Origins (or any Vary'd value a client controls) on one URL churns that URL's variants, never the rest of the cache.
   * O(max) per insert past the bound; lookups stay O(Vary groups).
   */
  #boundVariants(keep: Variant, max: number): void {
    for (;;) {
      const e = this.#objects.get(keep.objectKey);
      const all = e === undefined ? [] : variantsIn(e);
      if (all.length <= max) return;
      let oldest: Variant | undefined;
      for (const v of all) if (v !== keep && (oldest === undefined || v.usedAt < oldest.usedAt)) oldest = v;
      if (oldest === undefined) return;
      this.#drop(oldest, 'evicted');
      this.#variantEvictions++;
    }
  }

  /** `v` is a new object's first variant: the object index's entry for its key, in its host's path index. */
  #newObject(v: Variant, inputHost: string, path: string): void {
    const host = intern(inputHost);
    this.#bytes += this.#objectCharge(v);
    this.#objects.addFirst(v);
    const zone = v.zone;
    zone.objects++;
    const hk = hostKey(zone.id, host);
    let idx = this.#paths.get(hk);
    if (!idx) {
      this.#paths.set(hk, (idx = new PathIndex(keyPathCodes(hk.length + 1)))); // an object's key starts with zone \0 host \0
      const nk = hostKey(zone.id, hostName(host));
      let names = this.#hostsByName.get(nk);
      if (!names) this.#hostsByName.set(nk, (names = new Set()));
      names.add(host);
    }
    idx.add(path, v.objectKey); // the variant's path (read from its key, or kept apart), without slicing it again
  }

  /** Bytes charged for an object itself (memory-cost.ts objectCost), while it has variants: its key and fields held apart. */
  #objectCharge(v: Variant): number {
    const own = v.ownParts;
    return objectCost(v.objectKey, own === undefined ? '' : own.path, own === undefined ? '' : own.query);
  }

  #zone(id: string): Zone {
    let zone = this.#zones.get(id);
    if (zone === undefined) this.#zones.set(id, (zone = { id, head: undefined, hard: 0, soft: 0, objects: 0, variants: 0, bodyBytes: 0, evictions: 0, files: this.#opts.files }));
    return zone;
  }

  refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void {
    // A 304 makes it as good as newly stored: a new sequence number, or a soft purge-everything generation it was
    // older than would mark it stale again on the next lookup, and it would revalidate forever.
    (v as { seq: number }).seq = ++this.#seq;
    if (v instanceof MemoryVariant) this.#objects.refreshed(v as Variant);
    v.headers = headers;
    v.freshness = freshness;
    v.forcedStale = false;
  }

  remove(v: StoredVariant): void {
    // Only a variant of this store: one of another store (a disk store's own index) has links too.
    if (!(v instanceof MemoryVariant) || !this.#objects.holds(v as Variant)) return;
    this.#drop(v as Variant, 'purged');
  }

  purge(target: PurgeTarget, soft: boolean): number {
    this.#purges.record(target, soft);
    if (target.kind === 'everything') {
      const zone = this.#zone(target.zoneId);
      if (soft) zone.soft = this.#seq; else zone.hard = this.#seq;
      if (!soft) this.#sweep(zone, this.#seq);
      return 0;
    }
    const hits = this.#matching(target);
    for (const v of hits) {
      if (soft) { v.forcedStale = true; this.#opts.onMarkStale?.(v); }
      else this.#drop(v, 'purged');
    }
    return hits.length;
  }

  #matching(target: Exclude<PurgeTarget, { kind: 'everything' }>): Variant[] {
    const found = matchingVariants(target, {
      objects: this.#objects, byTag: this.#byTag, hostsByName: this.#hostsByName, paths: this.#paths,
      select: (g, h) => this.#select(g, h), normalize: this.#opts.normalize,
    });
    this.#visited += found.visited;
    return found.variants;
  }

  /**
   * Frees a purged-everything zone's memory in slices, off the request path (lookups already treat those variants as
   * gone). Walks that zone's variants only; ones stored after the purge (higher seq) are kept.
   */
  #sweep(zone: Zone, upTo: number): void {
    // The zone's list as it is now: variants stored from here on go in front of its head, so the walk never meets them.
    const cursor: SweepCursor = { next: zone.head };
    if (cursor.next === undefined) return;
    this.#sweeps.add(cursor);
    const step = (): void => {
      for (let n = 0; n < 5000; n++) {
        const v = cursor.next;
        if (v === undefined) { this.#sweeps.delete(cursor); return; }
        cursor.next = v.zoneNext;
        this.#visited++;
        if (v.seq <= upTo) this.#drop(v, 'purged');
      }
      setImmediate(step);
    };
    step();
  }

  /** Drops from the least recently used end until the bytes fit; `keep` (just stored, the newest) stays. */
  #evict(keep: Variant): void {
    // From #oldest again after each drop: an onRemove callback may have dropped others.
    for (let v = this.#lru.oldest; v !== undefined && v !== keep && this.#bytes > this.#opts.maxBytes; v = this.#lru.oldest) {
      v.zone.evictions++;
      this.#drop(v, 'evicted');
      this.#evictions++;
    }
  }

  #drop(v: Variant, why: 'evicted' | 'purged' | 'replaced' | 'expired'): void {
    if (!this.#lru.has(v)) return; // dropped already
    this.#lru.remove(v);
    const zone = v.zone;
    // A sweep about to visit it goes on with the next.
    for (const c of this.#sweeps) if (c.next === v) c.next = v.zoneNext;
    zoneRemove(zone, v);
    zone.variants--;
    zone.bodyBytes -= v.bodyLength;

    if (this.#objects.detach(v) === 'gone') {
      zone.objects--;
      this.#bytes -= this.#objectCharge(v);
      const host = v.host;
      const hk = hostKey(zone.id, host);
      const idx = this.#paths.get(hk);
      idx?.delete(v.path, v.objectKey);
      if (idx === undefined || idx.size === 0) {
        this.#paths.delete(hk);
        const nk = hostKey(zone.id, hostName(host));
        const names = this.#hostsByName.get(nk);
        names?.delete(host);
        if (names?.size === 0) this.#hostsByName.delete(nk);
      }
    }
    for (const tag of v.tags) {
      const set = this.#byTag.get(tagKey(zone.id, tag));
      set?.delete(v);
      if (set?.size === 0) this.#byTag.delete(tagKey(zone.id, tag));
    }
    const rec = v.bodyRecord;
    if (rec === undefined) { this.#bodies.releaseParked(v.bodyLength); if (this.#chargeBodies) this.#bytes -= bodyCost(v.bodyLength); }
    else if (this.#bodies.release(rec) && this.#chargeBodies) this.#bytes -= bodyCost(rec.length);
    this.#bytes -= v.size;
    this.#variants--;
    this.#opts.onRemove?.(v, why);
  }

  /** Evicts the least recently used variant (a disk tier's byte bound); false when the store is empty. */
  evictOldest(): boolean {
    const v = this.#lru.oldest;
    if (v === undefined) return false;
    v.zone.evictions++;
    this.#drop(v, 'evicted');
    this.#evictions++;
    return true;
  }

  /** Whether `v` is one of this store's live variants (not dropped). */
  holds(v: StoredVariant): boolean {
    return v instanceof MemoryVariant && this.#lru.has(v as Variant) && this.#isLive(v as Variant);
  }

  /** Every variant, least recently used first (a disk tier's index snapshot): a copy, so the store may change meanwhile. */
  allVariants(): Variant[] {
    const out: Variant[] = new Array(this.#variants);
    let n = 0;
    for (let v = this.#lru.oldest; v !== undefined; v = v.newer) out[n++] = v;
    out.length = n;
    return out;
  }

  clear(): void {
    while (this.#lru.oldest !== undefined) this.#drop(this.#lru.oldest, 'purged');
    this.#purges.forget(); // fetches in flight from before the clear are not stored
  }

  stats(): StoreStats {
    return {
      objects: this.#objects.size, variants: this.#variants, bodyBytes: this.#bodies.bytes, bodies: this.#bodies.size,
      evictions: this.#evictions, variantEvictions: this.#variantEvictions,
    };
  }

  /** Per zone: objects, variants, body bytes (once per variant) and evictions (O(zones), read every few seconds). */
  zoneStats(): Record<string, ZoneStoreStats> {
    const out: Record<string, ZoneStoreStats> = Object.create(null) as Record<string, ZoneStoreStats>;
    for (const z of this.#zones.values()) out[z.id] = { objects: z.objects, variants: z.variants, bodyBytes: z.bodyBytes, evictions: z.evictions };
    return out;
  }

  /** Bytes charged against maxBytes: variants, objects and unique bodies, as memory-cost.ts estimates them. */
  chargedBytes(): number { return this.#bytes; }

  /**
   * How many variants, objects and index nodes purges have visited since the store was made. A purge's cost must
   * follow what it matches, never the cache's size: tests compare this before and after one purge.
   */
  workCount(): number { return this.#visited; }

  async close(): Promise<void> { this.clear(); }
}

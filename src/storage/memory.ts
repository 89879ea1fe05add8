// In-memory cache store: objects → variants, LRU bounded by bytes, shared bodies, tag/host/path indexes, purges.
import { selectorOf, type HeaderValues } from '../cache/key.js';
import type { CacheStore, PurgeTarget, StoreStats, StoredVariant, VariantInput } from './store.js';
import type { Freshness } from '../cache/policy/types.js';
import { hashBody, hasPort, headersOfSelector, hostKey, hostName, sameNames, tagKey } from './memory-index.js';
import { PathIndex } from './path-index.js';
import { MemoryVariant } from './variant.js';

export { hashBody } from './memory-index.js';

export interface MemoryStoreOptions {
  maxBytes: number;
  /** Normalises a header value for selectors (Vary rules): the same function lookups and purges use. */
  normalize: (name: string, value: string | string[] | undefined) => string | undefined;
  /** Called when a variant leaves the store (eviction, purge, replacement). */
  onRemove?: (v: StoredVariant, why: 'evicted' | 'purged' | 'replaced' | 'expired') => void;
  /** Called when a soft purge of a target (not purge everything) marks a variant stale. */
  onMarkStale?: (v: StoredVariant) => void;
}

interface Group { keyNames: readonly string[]; bySelector: Map<string, Variant> }
interface CacheObject { key: string; zoneId: string; host: string; path: string; groups: Group[]; count: number }
interface Body { buf: Buffer; refs: number }
type Variant = MemoryVariant<CacheObject>;
const NO_TAGS: readonly string[] = Object.freeze([]);
interface PurgeRecord { epoch: number; target: PurgeTarget; soft: boolean }

/** Fixed per-variant overhead charged against maxBytes on top of header and body bytes. */
const VARIANT_OVERHEAD = 400;
const PURGE_LOG_SIZE = 4096;
/** Cached preflight answers live under the URL's key plus this suffix (src/edge/preflight.ts preflightObjectKey). */
const PREFLIGHT_SUFFIX = '\u0000OPTIONS';

export class MemoryStore implements CacheStore {
  readonly #opts: MemoryStoreOptions;
  readonly #objects = new Map<string, CacheObject>();
  /** Insertion-ordered: the first entry is the least recently used. */
  readonly #lru = new Map<Variant, true>();
  /** The last entry of #lru. */
  #mru: Variant | undefined;
  readonly #bodies = new Map<string, Body>();
  readonly #byTag = new Map<string, Set<Variant>>();
  readonly #byHost = new Map<string, Set<CacheObject>>();
  /** zone + host name without port → the hosts (with and without ports) indexed under it: a portless host purge. */
  readonly #hostsByName = new Map<string, Set<string>>();
  readonly #paths = new Map<string, PathIndex<CacheObject>>();
  /** zone → its variants, so a purge-everything sweep walks that zone only. */
  readonly #byZone = new Map<string, Set<Variant>>();
  /** zone → seq at its last purge-everything (hard) and soft purge-everything. */
  readonly #generations = new Map<string, { hard: number; soft: number }>();
  readonly #purgeLog: PurgeRecord[] = [];
  #epoch = 0;
  #seq = 0;
  #nextId = 1;
  #bytes = 0;        // charged bytes: metadata of every variant + each unique body once
  #bodyBytes = 0;
  #variants = 0;
  #evictions = 0;
  /** Variants, objects and index nodes visited by purges: work counted, not timed (see workCount). */
  #visited = 0;

  constructor(opts: MemoryStoreOptions) { this.#opts = opts; }

  epoch(): number { return this.#epoch; }

  variantsOf(objectKey: string): readonly StoredVariant[] {
    const obj = this.#objects.get(objectKey);
    if (!obj) return [];
    const out: StoredVariant[] = [];
    for (const g of obj.groups) for (const v of g.bySelector.values()) if (this.#isLive(v)) out.push(v);
    return out;
  }

  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    const obj = this.#objects.get(objectKey);
    if (!obj) return undefined;
    const groups = obj.groups;
    for (let i = groups.length - 1; i >= 0; i--) {
      const g = groups[i]!;
      const v = g.bySelector.get(selectorOf(g.keyNames, headers, this.#opts.normalize));
      if (v === undefined) continue;
      if (!this.#isLive(v)) { this.#drop(v, 'purged'); return undefined; }
      // Already the most recently used (a hot object hit again): moving it would change nothing.
      if (this.#mru !== v) {
        this.#lru.delete(v);
        this.#lru.set(v, true);
        this.#mru = v;
      }
      return v;
    }
    return undefined;
  }

  /** Applies purge-everything generations lazily (RFC-free: a Varnish-style ban by sequence number). */
  #isLive(v: Variant): boolean {
    const gen = this.#generations.get(v.zoneId);
    if (!gen) return true;
    if (v.seq <= gen.hard) return false;
    if (v.seq <= gen.soft && !v.forcedStale) v.forcedStale = true;
    return true;
  }

  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    let soft = input.soft ?? false;
    if (sinceEpoch !== undefined && sinceEpoch < this.#epoch) {
      const oldest = this.#purgeLog[0];
      if (!oldest || oldest.epoch > sinceEpoch + 1) return undefined; // the log no longer covers the fetch: be safe
      for (const rec of this.#purgeLog) {
        if (rec.epoch <= sinceEpoch || !this.#covers(rec.target, input)) continue;
        if (!rec.soft) return undefined;
        soft = true;
      }
    }
    const headerBytes = input.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
    const size = VARIANT_OVERHEAD + headerBytes + input.path.length + input.query.length + input.selector.length;
    if (size + input.body.length > this.#opts.maxBytes) return undefined;

    // First drop what this response supersedes (RFC 9111 §4.1, §3.2): the variant with its selector, and the same
    // request's variant in other Vary groups. Before anything is attached: dropping an object's last variant deletes
    // the object and its index entries, so a new variant hung on it afterwards would be unreachable.
    const existing = this.#objects.get(input.objectKey);
    if (existing) {
      for (const g of [...existing.groups]) {
        const sel = sameNames(g.keyNames, input.keyNames) ? input.selector : selectorOf(g.keyNames, headersOfSelector(input), this.#opts.normalize);
        const old = g.bySelector.get(sel);
        if (old) this.#drop(old, 'replaced');
      }
    }
    let obj = this.#objects.get(input.objectKey);
    if (!obj) {
      obj = { key: input.objectKey, zoneId: input.zoneId, host: input.host, path: input.path, groups: [], count: 0 };
      this.#objects.set(obj.key, obj);
      let hostSet = this.#byHost.get(hostKey(input.zoneId, input.host));
      if (!hostSet) {
        this.#byHost.set(hostKey(input.zoneId, input.host), (hostSet = new Set()));
        const nk = hostKey(input.zoneId, hostName(input.host));
        let names = this.#hostsByName.get(nk);
        if (!names) this.#hostsByName.set(nk, (names = new Set()));
        names.add(input.host);
      }
      hostSet.add(obj);
      let idx = this.#paths.get(hostKey(input.zoneId, input.host));
      if (!idx) this.#paths.set(hostKey(input.zoneId, input.host), (idx = new PathIndex()));
      idx.add(input.path, obj);
    }
    let group = obj.groups.find((g) => sameNames(g.keyNames, input.keyNames));
    if (!group) {
      group = { keyNames: input.keyNames, bySelector: new Map() };
      obj.groups.push(group);
    }

    const hash = hashBody(input.body);
    let body = this.#bodies.get(hash);
    if (!body) {
      body = { buf: input.body, refs: 0 };
      this.#bodies.set(hash, body);
      this.#bodyBytes += body.buf.length;
      this.#bytes += body.buf.length;
    }
    body.refs++;

    const v: Variant = new MemoryVariant(
      this.#nextId++, ++this.#seq, input.zoneId, input.host, input.path, input.query, input.objectKey, group.keyNames,
      input.selector, input.status, input.headers, body.buf, hash, input.freshness,
      input.tags.length === 0 ? NO_TAGS : input.tags, soft, input.storedAt ?? Date.now(), size, obj,
    );
    group.bySelector.set(input.selector, v);
    obj.count++;
    this.#variants++;
    this.#bytes += size;
    this.#lru.set(v, true);
    this.#mru = v;
    let zoneSet = this.#byZone.get(v.zoneId);
    if (!zoneSet) this.#byZone.set(v.zoneId, (zoneSet = new Set()));
    zoneSet.add(v);
    for (const tag of v.tags) {
      let set = this.#byTag.get(tagKey(v.zoneId, tag));
      if (!set) this.#byTag.set(tagKey(v.zoneId, tag), (set = new Set()));
      set.add(v);
    }
    this.#evict(v);
    return obj.count > 0 && group.bySelector.get(input.selector) === v ? v : undefined;
  }

  refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void {
    // A 304 makes it as good as newly stored: a new sequence number, or a soft purge-everything generation it was
    // older than would mark it stale again on the next lookup, and it would revalidate forever.
    (v as { seq: number }).seq = ++this.#seq;
    v.headers = headers;
    v.freshness = freshness;
    v.forcedStale = false;
  }

  remove(v: StoredVariant): void {
    if (this.#lru.has(v as Variant)) this.#drop(v as Variant, 'purged');
  }

  purge(target: PurgeTarget, soft: boolean): number {
    this.#epoch++;
    this.#purgeLog.push({ epoch: this.#epoch, target, soft });
    if (this.#purgeLog.length > PURGE_LOG_SIZE) this.#purgeLog.shift();
    if (target.kind === 'everything') {
      const gen = this.#generations.get(target.zoneId) ?? { hard: 0, soft: 0 };
      if (soft) gen.soft = this.#seq; else gen.hard = this.#seq;
      this.#generations.set(target.zoneId, gen);
      if (!soft) this.#sweep(target.zoneId, this.#seq);
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
    const out: Variant[] = [];
    const addObject = (obj: CacheObject | undefined): void => {
      if (!obj) return;
      this.#visited++;
      for (const g of obj.groups) for (const v of g.bySelector.values()) { this.#visited++; out.push(v); }
    };
    switch (target.kind) {
      case 'object':
      case 'variant': {
        const key = `${target.zoneId}\u0000${target.host}\u0000${target.path}?${target.query}`;
        // The URL's object and its cached preflight answers (stored under key + "\0OPTIONS").
        const main = this.#objects.get(key);
        const preflights = this.#objects.get(`${key}${PREFLIGHT_SUFFIX}`);
        if (target.kind === 'object') { addObject(main); addObject(preflights); return out; }
        if (main) {
          // At most one variant per Vary group: the one the lookup's own selector function picks for these headers.
          this.#visited++;
          for (const g of main.groups) {
            this.#visited++;
            const v = g.bySelector.get(selectorOf(g.keyNames, target.headers, this.#opts.normalize));
            if (v) out.push(v);
          }
        }
        if (preflights) {
          this.#visited++;
          for (const g of preflights.groups) {
            for (const v of g.bySelector.values()) {
              this.#visited++;
              if (this.#preflightSelected(g.keyNames, v.selector, target.headers)) out.push(v);
            }
          }
        }
        return out;
      }
      case 'tag':
        for (const v of this.#byTag.get(tagKey(target.zoneId, target.tag)) ?? []) { this.#visited++; out.push(v); }
        return out;
      case 'host':
        // A host with a port names that port only; a host without one names the host on every port.
        for (const host of hasPort(target.host) ? [target.host] : this.#hostsByName.get(hostKey(target.zoneId, target.host)) ?? []) {
          for (const obj of this.#byHost.get(hostKey(target.zoneId, host)) ?? []) addObject(obj);
        }
        return out;
      case 'prefix': {
        const idx = this.#paths.get(hostKey(target.zoneId, target.host));
        if (!idx) return out;
        const before = idx.visited;
        for (const obj of idx.withPrefix(target.pathPrefix)) addObject(obj);
        this.#visited += idx.visited - before;
        return out;
      }
    }
  }

  /**
   * A purge with headers names what a browser's request carries (Origin, Vary'd fields), never a preflight's own
   * Access-Control-Request-* fields: those, when the purge leaves them out, match any value, so {Origin} removes that
   * Origin's cached preflights for every method and header list. Every other key header must match, absent = absent.
   */
  #preflightSelected(keyNames: readonly string[], selector: string, headers: HeaderValues): boolean {
    const parts = keyNames.length === 1 ? [selector] : selector.split('\u0000');
    for (let i = 0; i < keyNames.length; i++) {
      const name = keyNames[i]!;
      if (name.startsWith('access-control-request-') && headers[name] === undefined) continue;
      if (selectorOf([name], headers, this.#opts.normalize) !== parts[i]) return false;
    }
    return true;
  }

  /** Would this purge have matched an entry with these properties (for fetches in flight during it)? */
  #covers(target: PurgeTarget, input: VariantInput): boolean {
    if (target.zoneId !== input.zoneId) return false;
    switch (target.kind) {
      case 'everything': return true;
      case 'object': return target.host === input.host && target.path === input.path && target.query === input.query;
      case 'variant':
        return target.host === input.host && target.path === input.path && target.query === input.query &&
          (input.objectKey.endsWith(PREFLIGHT_SUFFIX)
            ? this.#preflightSelected(input.keyNames, input.selector, target.headers)
            : selectorOf(input.keyNames, target.headers, this.#opts.normalize) === input.selector);
      case 'tag': return input.tags.includes(target.tag);
      case 'host': return hasPort(target.host) ? target.host === input.host : hostName(input.host) === target.host;
      case 'prefix': return target.host === input.host && input.path.startsWith(target.pathPrefix);
    }
  }

  /**
   * Frees a purged-everything zone's memory in slices, off the request path (lookups already treat those variants as
   * gone). Walks that zone's variants only; ones stored after the purge (higher seq) are kept.
   */
  #sweep(zoneId: string, upTo: number): void {
    const set = this.#byZone.get(zoneId);
    if (!set) return;
    const it = set.values();
    const step = (): void => {
      for (let n = 0; n < 5000; n++) {
        const next = it.next();
        if (next.done) return;
        this.#visited++;
        if (next.value.seq <= upTo) this.#drop(next.value, 'purged');
      }
      setImmediate(step);
    };
    step();
  }

  #evict(keep: Variant): void {
    for (const v of this.#lru.keys()) {
      if (this.#bytes <= this.#opts.maxBytes) return;
      if (v === keep) continue;
      this.#drop(v, 'evicted');
      this.#evictions++;
    }
  }

  #drop(v: Variant, why: 'evicted' | 'purged' | 'replaced' | 'expired'): void {
    if (!this.#lru.delete(v)) return;
    if (this.#mru === v) this.#mru = undefined;
    const obj = v.object;
    for (const g of obj.groups) {
      if (g.bySelector.get(v.selector) === v) {
        g.bySelector.delete(v.selector);
        if (g.bySelector.size === 0) obj.groups.splice(obj.groups.indexOf(g), 1);
        break;
      }
    }
    obj.count--;
    if (obj.count === 0 && this.#objects.get(obj.key) === obj) {
      this.#objects.delete(obj.key);
      const hk = hostKey(obj.zoneId, obj.host);
      const hostSet = this.#byHost.get(hk);
      hostSet?.delete(obj);
      const idx = this.#paths.get(hk);
      idx?.delete(obj.path, obj);
      if (hostSet === undefined || hostSet.size === 0) {
        this.#byHost.delete(hk);
        this.#paths.delete(hk);
        const nk = hostKey(obj.zoneId, hostName(obj.host));
        const names = this.#hostsByName.get(nk);
        names?.delete(obj.host);
        if (names?.size === 0) this.#hostsByName.delete(nk);
      }
    }
    const zoneSet = this.#byZone.get(v.zoneId);
    zoneSet?.delete(v);
    if (zoneSet?.size === 0) this.#byZone.delete(v.zoneId);
    for (const tag of v.tags) {
      const set = this.#byTag.get(tagKey(v.zoneId, tag));
      set?.delete(v);
      if (set?.size === 0) this.#byTag.delete(tagKey(v.zoneId, tag));
    }
    const body = this.#bodies.get(v.bodyHash);
    if (body && --body.refs === 0) {
      this.#bodies.delete(v.bodyHash);
      this.#bodyBytes -= body.buf.length;
      this.#bytes -= body.buf.length;
    }
    this.#bytes -= v.size;
    this.#variants--;
    this.#opts.onRemove?.(v, why);
  }

  clear(): void {
    for (const v of [...this.#lru.keys()]) this.#drop(v, 'purged');
    this.#epoch++;
    this.#purgeLog.length = 0; // fetches in flight from before the clear are not stored
  }

  stats(): StoreStats {
    return { objects: this.#objects.size, variants: this.#variants, bodyBytes: this.#bodyBytes, bodies: this.#bodies.size, evictions: this.#evictions };
  }

  /** Bytes charged against maxBytes (metadata plus unique bodies). */
  chargedBytes(): number { return this.#bytes; }

  /**
   * How many variants, objects and index nodes purges have visited since the store was made. A purge's cost must
   * follow what it matches, never the cache's size: tests compare this before and after one purge.
   */
  workCount(): number { return this.#visited; }

  async close(): Promise<void> { this.clear(); }
}

// Which stored entries a purge names: its walk of the store's indexes, a cached preflight by headers, and the recent purges a fetch in flight is checked against.
import { PREFLIGHT_KEY_SUFFIX, SLICES_KEY_SUFFIX, partialObjectKey, preflightObjectKey, primaryKey, slicesObjectKey, selectorOf, type HeaderValues, type NormalizeValue } from '../cache/key.js';
import { fieldOf } from '../http/headers.js';
import { hasPort, hostKey, hostName, tagKey, type Group, type Variant } from './memory-index.js';
import { groupsOf, variantsIn, type ObjectEntry } from './object-index.js';
import type { PathIndex } from './path-index.js';
import type { PurgeTarget, VariantInput } from './store.js';

/**
 * A purge with headers names what a browser's request carries (Origin, Vary'd fields), never a preflight's own
 * Access-Control-Request-* fields: those, when the purge leaves them out, match any value, so {Origin} removes that
 * Origin's cached preflights for every method and header list. Every other key header must match, absent = absent.
 */
export function preflightSelected(keyNames: readonly string[], selector: string, headers: HeaderValues, normalize: NormalizeValue): boolean {
  const parts = keyNames.length === 1 ? [selector] : selector.split('\u0000');
  for (let i = 0; i < keyNames.length; i++) {
    const name = keyNames[i]!;
    if (name.startsWith('access-control-request-') && fieldOf(headers, name) === undefined) continue;
    if (selectorOf([name], headers, normalize) !== parts[i]) return false;
  }
  return true;
}

/** What a purge is matched against: a fetch's input, or a stored variant (StoredVariant has these too). */
export type PurgeSubject = Pick<VariantInput, 'zoneId' | 'host' | 'path' | 'query' | 'objectKey' | 'keyNames' | 'selector' | 'tags'>;

/** Would this purge have matched an entry with these properties (for fetches in flight during it)? */
export function coversInput(target: PurgeTarget, input: PurgeSubject, normalize: NormalizeValue): boolean {
  if (target.zoneId !== input.zoneId) return false;
  switch (target.kind) {
    case 'everything': return true;
    case 'object': return target.host === input.host && target.path === input.path && target.query === input.query;
    case 'variant':
      // A variant purge removes every slice of the URL (memory.ts): one fetched meanwhile is covered the same way.
      return target.host === input.host && target.path === input.path && target.query === input.query &&
        (input.objectKey.endsWith(SLICES_KEY_SUFFIX) || (input.objectKey.endsWith(PREFLIGHT_KEY_SUFFIX)
          ? preflightSelected(input.keyNames, input.selector, target.headers, normalize)
          : selectorOf(input.keyNames, target.headers, normalize) === input.selector));
    case 'tag': return input.tags.includes(target.tag);
    case 'host': return hasPort(target.host) ? target.host === input.host : hostName(input.host) === target.host;
    case 'prefix': return target.host === input.host && input.path.startsWith(target.pathPrefix);
  }
}

/** The store's indexes a purge walks, and the lookup's own selection (MemoryStore's). */
export interface PurgeIndexes {
  objects: { get(key: string): ObjectEntry | undefined };
  byTag: ReadonlyMap<string, ReadonlySet<Variant>>;
  hostsByName: ReadonlyMap<string, ReadonlySet<string>>;
  /** zone + host → its objects' keys by path. */
  paths: ReadonlyMap<string, PathIndex<string>>;
  select(g: Group, headers: HeaderValues): Variant | undefined;
  normalize: NormalizeValue;
}

/** The variants a targeted purge names, found through the indexes (never a walk of the cache), and the nodes it visited. */
export function matchingVariants(target: Exclude<PurgeTarget, { kind: 'everything' }>, ix: PurgeIndexes): { variants: Variant[]; visited: number } {
  const out: Variant[] = [];
  let visited = 0;
  const addObject = (obj: ObjectEntry | undefined): void => {
    if (!obj) return;
    const all = variantsIn(obj);
    visited += 1 + all.length;
    for (const v of all) out.push(v);
  };
  const addIndexed = (idx: PathIndex<string> | undefined, prefix: string): void => {
    if (!idx) return;
    const before = idx.visited;
    for (const key of idx.withPrefix(prefix)) addObject(ix.objects.get(key));
    visited += idx.visited - before;
  };
  switch (target.kind) {
    case 'object':
    case 'variant': {
      const key = primaryKey(target.zoneId, target.host, target.path, target.query);
      // The URL's object, its stored pieces (key + "\0PARTIAL"), its slices (key + "\0SLICES": all of them, for a
      // variant purge too) and its cached preflight answers (key + "\0OPTIONS").
      const main = ix.objects.get(key);
      const pieces = ix.objects.get(partialObjectKey(key));
      const preflights = ix.objects.get(preflightObjectKey(key));
      addObject(ix.objects.get(slicesObjectKey(key)));
      if (target.kind === 'object') { addObject(main); addObject(pieces); addObject(preflights); return { variants: out, visited }; }
      for (const obj of [main, pieces]) {
        if (!obj) continue;
        // At most one variant per Vary group: the one the lookup's own selector function picks for these headers.
        visited++;
        for (const g of groupsOf(obj)) {
          visited++;
          const v = ix.select(g, target.headers);
          if (v) out.push(v);
        }
      }
      if (preflights) {
        const all = variantsIn(preflights);
        visited += 1 + all.length;
        for (const v of all) if (preflightSelected(v.keyNames, v.selector, target.headers, ix.normalize)) out.push(v);
      }
      return { variants: out, visited };
    }
    case 'tag':
      for (const v of ix.byTag.get(tagKey(target.zoneId, target.tag)) ?? []) { visited++; out.push(v); }
      return { variants: out, visited };
    case 'host':
      // A host with a port names that port only; a host without one names the host on every port. A host's objects
      // are all in its path index: the whole index (every path has the prefix '') is the host.
      for (const host of hasPort(target.host) ? [target.host] : ix.hostsByName.get(hostKey(target.zoneId, target.host)) ?? []) {
        addIndexed(ix.paths.get(hostKey(target.zoneId, host)), '');
      }
      return { variants: out, visited };
    case 'prefix':
      addIndexed(ix.paths.get(hostKey(target.zoneId, target.host)), target.pathPrefix);
      return { variants: out, visited };
  }
}

/** How many purges are remembered for fetches in flight: one that started before the oldest counts as purged (safe). */
const PURGE_HISTORY_SIZE = 4096;

/**
 * The store's purge epoch and the recent purges behind it: whether a purge since a fetch or revalidation started names
 * what it brings back (a slow fetch never resurrects purged content).
 */
export class PurgeHistory {
  #epoch = 0;
  readonly #log: { epoch: number; target: PurgeTarget; soft: boolean }[] = [];
  constructor(private readonly normalize: NormalizeValue) {}

  get epoch(): number { return this.#epoch; }

  record(target: PurgeTarget, soft: boolean): void {
    this.#epoch++;
    this.#log.push({ epoch: this.#epoch, target, soft });
    if (this.#log.length > PURGE_HISTORY_SIZE) this.#log.shift();
  }

  /** After a clear: the epoch moves on and nothing before it is remembered (fetches in flight then are not stored). */
  forget(): void {
    this.#epoch++;
    this.#log.length = 0;
  }

  /** The strongest purge since `sinceEpoch` that names `subject`: 'hard' also when the log no longer reaches back. */
  since(subject: PurgeSubject, sinceEpoch: number): 'none' | 'soft' | 'hard' {
    if (sinceEpoch >= this.#epoch) return 'none';
    const oldest = this.#log[0];
    if (!oldest || oldest.epoch > sinceEpoch + 1) return 'hard';
    let found: 'none' | 'soft' = 'none';
    for (const rec of this.#log) {
      if (rec.epoch <= sinceEpoch || !coversInput(rec.target, subject, this.normalize)) continue;
      if (!rec.soft) return 'hard';
      found = 'soft';
    }
    return found;
  }
}

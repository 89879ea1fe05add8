// A store that fails is a miss, counted and logged: the request path never answers 500 for it, and never hides it.
import type { CacheStore, FieldsHold, PurgeTarget, StoreStats, StoredVariant, VariantInput, ZoneStoreStats } from '../storage/store.js';
import type { Freshness } from '../cache/policy/types.js';
import type { HeaderValues } from '../cache/key.js';

/** Told of every store failure: the operation and the error (count it, log it). */
export type StoreErrorSink = (op: string, err: unknown) => void;

const NONE: readonly StoredVariant[] = Object.freeze([]);

/**
 * The store as the request path uses it: a lookup that throws finds nothing, an insert that throws stores nothing,
 * a failed refresh, removal or purge changes nothing, and each failure goes to `onError`. A failed epoch() reads
 * as -1, which no insert accepts as covering a purge, so nothing is stored from such a fetch.
 * (undici's cache does the same: https://github.com/nodejs/undici/blob/main/lib/interceptor/cache.js)
 */
export class GuardedStore implements CacheStore {
  /** Present when the inner store has it (a disk tier): a fill that cannot get a file is buffered in memory instead. */
  readonly beginFill: CacheStore['beginFill'];

  constructor(readonly inner: CacheStore, readonly onError: StoreErrorSink) {
    const begin = inner.beginFill?.bind(inner);
    this.beginFill = begin && (() => { try { return begin(); } catch (err) { onError('beginFill', err); return undefined; } });
  }

  /** The inner store's, when it has one (a disk tier): a failure to load is a miss (false). */
  loadFields(v: StoredVariant, hold?: FieldsHold): Promise<boolean> | undefined {
    if (this.inner.loadFields === undefined) return undefined;
    try {
      return this.inner.loadFields(v, hold)?.catch((err: unknown) => { this.onError('loadFields', err); return false; });
    } catch (err) { this.onError('loadFields', err); return Promise.resolve(false); }
  }

  lookup(objectKey: string, headers: HeaderValues): StoredVariant | undefined {
    try { return this.inner.lookup(objectKey, headers); } catch (err) { this.onError('lookup', err); return undefined; }
  }

  variantsOf(objectKey: string): readonly StoredVariant[] {
    try { return this.inner.variantsOf(objectKey); } catch (err) { this.onError('variantsOf', err); return NONE; }
  }

  hasVariants(objectKey: string): boolean {
    try { return this.inner.hasVariants(objectKey); } catch (err) { this.onError('hasVariants', err); return false; }
  }

  epoch(): number {
    try { return this.inner.epoch(); } catch (err) { this.onError('epoch', err); return -1; }
  }

  purgedSince(v: StoredVariant, sinceEpoch: number): boolean {
    try { return this.inner.purgedSince(v, sinceEpoch); } catch (err) { this.onError('purgedSince', err); return true; }
  }

  insert(input: VariantInput, sinceEpoch?: number): StoredVariant | undefined {
    if (sinceEpoch === -1) return undefined;
    try { return this.inner.insert(input, sinceEpoch); } catch (err) { this.onError('insert', err); return undefined; }
  }

  refresh(v: StoredVariant, headers: [string, string][], freshness: Freshness): void {
    try { this.inner.refresh(v, headers, freshness); } catch (err) { this.onError('refresh', err); }
  }

  remove(v: StoredVariant): void {
    try { this.inner.remove(v); } catch (err) { this.onError('remove', err); }
  }

  purge(target: PurgeTarget, soft: boolean): number {
    try { return this.inner.purge(target, soft); } catch (err) { this.onError('purge', err); return 0; }
  }

  clear(): void { this.inner.clear(); }
  stats(): StoreStats { return this.inner.stats(); }
  zoneStats(): Record<string, ZoneStoreStats> { return this.inner.zoneStats?.() ?? {}; }
  close(): Promise<void> { return this.inner.close(); }
}

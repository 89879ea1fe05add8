// The disk tier's response fields in memory: which variants keep theirs (recently loaded or stored, bounded by count; held while served), which go cold.
import type { FieldsHold } from './store.js';
import type { MemoryVariant } from './variant.js';

/**
 * Variants whose fields are in memory and also in their entry file, least recently warmed first: past `max`, the
 * oldest goes cold (its fields are read again from its entry file when it is next served). A held variant (a
 * response being written, or a revalidation of it) keeps its fields until its hold closes.
 */
export class WarmFields {
  readonly #warm = new Set<MemoryVariant>();
  readonly #held = new Map<MemoryVariant, number>();

  /** `canDrop`: its entry file is written and not being rewritten; `isLive`: it is still stored. */
  constructor(readonly max: number, readonly canDrop: (v: MemoryVariant) => boolean, readonly isLive: (v: MemoryVariant) => boolean) {}

  get size(): number { return this.#warm.size; }

  /** `v` has its fields and its entry file is written: it may go cold from now on, least recently warmed first. */
  add(v: MemoryVariant): void {
    this.#warm.delete(v);
    this.#warm.add(v);
    while (this.#warm.size > this.max) {
      const oldest = this.#warm.values().next().value as MemoryVariant;
      this.#warm.delete(oldest);
      // A held one keeps its fields (it comes back here once released); a variant whose file is being rewritten too.
      if (!this.#held.has(oldest) && this.canDrop(oldest)) oldest.dropFields();
    }
  }

  /** Keeps `v`'s fields until `hold` closes. */
  hold(v: MemoryVariant, hold: FieldsHold): void {
    this.#held.set(v, (this.#held.get(v) ?? 0) + 1);
    hold.once('close', () => {
      const n = (this.#held.get(v) ?? 1) - 1;
      if (n > 0) { this.#held.set(v, n); return; }
      this.#held.delete(v);
      if (!this.#warm.has(v) && v.hasFields && this.isLive(v)) this.add(v);
    });
  }

  delete(v: MemoryVariant): void {
    this.#warm.delete(v);
    this.#held.delete(v);
  }

  clear(): void {
    this.#warm.clear();
    this.#held.clear();
  }
}

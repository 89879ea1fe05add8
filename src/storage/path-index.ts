// Per-host index of paths by segment, so a prefix purge visits what matches (and one level of siblings), not the cache.

interface Node<T> {
  children: Map<string, Node<T>> | undefined;
  items: Set<T> | undefined;
}

const newNode = <T>(): Node<T> => ({ children: undefined, items: undefined });

/** Maps "/a/b/c" paths to items; finds every item whose path starts with a plain string prefix. */
export class PathIndex<T> {
  readonly #root: Node<T> = newNode();

  add(path: string, item: T): void {
    let node = this.#root;
    for (const seg of path.split('/')) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) { next = newNode(); node.children.set(seg, next); }
      node = next;
    }
    (node.items ??= new Set()).add(item);
  }

  delete(path: string, item: T): void {
    const trail: [Node<T>, string][] = [];
    let node: Node<T> | undefined = this.#root;
    for (const seg of path.split('/')) {
      const next: Node<T> | undefined = node.children?.get(seg);
      if (!next) return;
      trail.push([node, seg]);
      node = next;
    }
    node.items?.delete(item);
    // Prune empty branches so the index does not grow with churn.
    for (let i = trail.length - 1; i >= 0; i--) {
      const [parent, seg] = trail[i]!;
      const child = parent.children!.get(seg)!;
      if ((child.items && child.items.size > 0) || (child.children && child.children.size > 0)) break;
      parent.children!.delete(seg);
    }
  }

  /** Every item whose path starts with `prefix` (a plain string prefix, as Cloudflare's prefix purge). */
  withPrefix(prefix: string): T[] {
    const segs = prefix.split('/');
    const last = segs.pop()!;
    let node: Node<T> | undefined = this.#root;
    for (const seg of segs) {
      node = node.children?.get(seg);
      if (!node) return [];
    }
    const out: T[] = [];
    if (!node.children) return out;
    for (const [seg, child] of node.children) if (seg.startsWith(last)) collect(child, out);
    return out;
  }
}

function collect<T>(node: Node<T>, out: T[]): void {
  if (node.items) for (const item of node.items) out.push(item);
  if (node.children) for (const child of node.children.values()) collect(child, out);
}

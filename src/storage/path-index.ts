// Per-host radix tree of paths, so a prefix purge visits what matches (about two nodes per item), never the cache.

interface Node<T> {
  /** The path characters this edge adds below its parent (empty only at the root). */
  label: string;
  /** Children keyed by the first character of their label. */
  children: Map<string, Node<T>> | undefined;
  /** One item held bare (the common case: a path with one object), several in a Set. Saves a Set per path. */
  items: Items<T> | undefined;
}

type Items<T> = { one: T } | Set<T>;

function addItem<T>(items: Items<T> | undefined, item: T): Items<T> {
  if (items === undefined) return { one: item };
  if (items instanceof Set) return items.add(item);
  return items.one === item ? items : new Set([items.one, item]);
}

/** The items left after removing `item`, or null when it was not there. */
function removeItem<T>(items: Items<T>, item: T): Items<T> | undefined | null {
  if (!(items instanceof Set)) return items.one === item ? undefined : null;
  if (!items.delete(item)) return null;
  if (items.size === 1) { const [only] = items; return { one: only! }; }
  return items;
}

function* eachItem<T>(items: Items<T>): Iterable<T> {
  if (items instanceof Set) yield* items;
  else yield items.one;
}

const newNode = <T>(label: string): Node<T> => ({ label, children: undefined, items: undefined });

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * Maps paths to items; finds every item whose path starts with a plain string prefix (as Cloudflare's prefix purge).
 * A compressed trie: each inner node has at least two children or holds items, so walking the subtree under a
 * prefix costs O(prefix length + matches), whatever else the host holds (a flat `/assets/<hash>.js` layout too).
 */
export class PathIndex<T> {
  readonly #root: Node<T> = newNode('');
  #visited = 0;

  /** Nodes visited by withPrefix since the index was made (a work counter for tests). */
  get visited(): number { return this.#visited; }

  add(path: string, item: T): void {
    let node = this.#root;
    let rest = path;
    for (;;) {
      if (rest === '') { node.items = addItem(node.items, item); return; }
      const children = (node.children ??= new Map());
      const child = children.get(rest[0]!);
      if (!child) {
        const leaf = newNode<T>(rest);
        leaf.items = { one: item };
        children.set(rest[0]!, leaf);
        return;
      }
      const l = commonPrefixLength(child.label, rest);
      if (l < child.label.length) {
        // Split the edge: a new inner node holds the shared part, the old child keeps the rest of its label.
        const mid = newNode<T>(child.label.slice(0, l));
        child.label = child.label.slice(l);
        mid.children = new Map([[child.label[0]!, child]]);
        children.set(mid.label[0]!, mid);
        node = mid;
      } else {
        node = child;
      }
      rest = rest.slice(l);
    }
  }

  delete(path: string, item: T): void {
    const trail: Node<T>[] = [this.#root];
    let node = this.#root;
    let rest = path;
    while (rest !== '') {
      const child = node.children?.get(rest[0]!);
      if (!child || !rest.startsWith(child.label)) return;
      rest = rest.slice(child.label.length);
      node = child;
      trail.push(node);
    }
    if (!node.items) return;
    const left = removeItem(node.items, item);
    if (left === null) return;
    node.items = left;
    // Restore the invariant bottom-up: remove empty leaves, merge item-less nodes that have a single child.
    for (let i = trail.length - 1; i > 0; i--) {
      const n = trail[i]!;
      const parent = trail[i - 1]!;
      if (n.items) break;
      const size = n.children?.size ?? 0;
      if (size === 0) {
        parent.children!.delete(n.label[0]!);
        if (parent.children!.size === 0) parent.children = undefined;
        continue; // the parent may now be an item-less node with one child
      }
      if (size === 1) {
        const only = n.children!.values().next().value as Node<T>;
        n.label += only.label;
        n.children = only.children;
        n.items = only.items;
      }
      break;
    }
  }

  /** Every item whose path starts with `prefix`. */
  withPrefix(prefix: string): T[] {
    let node = this.#root;
    let rest = prefix;
    const out: T[] = [];
    for (;;) {
      this.#visited++;
      if (rest === '') { this.#collect(node, out); return out; }
      const child = node.children?.get(rest[0]!);
      if (!child) return out;
      const l = commonPrefixLength(child.label, rest);
      if (l === rest.length) { this.#collect(child, out); return out; }
      if (l < child.label.length) return out; // diverges inside the edge: nothing below matches
      node = child;
      rest = rest.slice(l);
    }
  }

  #collect(start: Node<T>, out: T[]): void {
    const stack = [start];
    while (stack.length > 0) {
      const node = stack.pop()!;
      this.#visited++;
      if (node.items) for (const item of eachItem(node.items)) out.push(item);
      if (node.children) for (const child of node.children.values()) stack.push(child);
    }
  }

  /** True when nothing is indexed. */
  isEmpty(): boolean { return this.#root.children === undefined && this.#root.items === undefined; }
}

// Per-host radix tree of paths, so a prefix purge visits what matches (about two nodes per item), never the cache.

/**
 * An item's own path, read from the item: lets an item that knows its path (a primary key spells it out) sit bare in
 * its parent's children, its label read from itself, with no node of its own.
 */
export interface LeafPath<T> {
  /** The character code of the item's path at `i`, or -1 past its end. */
  code(item: T, i: number): number;
  /** Whether the item's path is `path`. */
  is(item: T, path: string): boolean;
}

class Node<T> {
  constructor(
    /** The path characters this edge adds below its parent (empty only at the root). */
    public label: string,
    /** Children, told apart by the first character of their label: a few in an array, more in a Map by that character. */
    public children: Children<T> | undefined = undefined,
    /** One item held bare (the common case: a path with one object: no wrapper, no Set), several in a Set. */
    public items: Items<T> | undefined = undefined,
  ) {}
}

/** A child: a node, or an item alone on its path with nothing below it (a bare leaf: its label is its path's rest). */
type Child<T> = Node<T> | T;

/** Several items on one path; a class of this module's own, so no item can be mistaken for it. */
class Several<T> extends Set<T> {}

type Items<T> = T | Several<T>;

/** The items with `item` added, or null when it was already there. */
function addItem<T extends {}>(items: Items<T> | undefined, item: T): Items<T> | null {
  if (items === undefined) return item;
  if (items instanceof Several) return items.has(item) ? null : items.add(item);
  return items === item ? null : new Several<T>([items, item]);
}

/** The items left after removing `item`, or null when it was not there. */
function removeItem<T extends {}>(items: Items<T>, item: T): Items<T> | undefined | null {
  if (!(items instanceof Several)) return items === item ? undefined : null;
  if (!items.delete(item)) return null;
  if (items.size === 1) { const [only] = items; return only!; }
  return items;
}

function pushItems<T extends {}>(items: Items<T>, out: T[]): void {
  if (items instanceof Several) for (const item of items) out.push(item);
  else out.push(items);
}

type Children<T> = Child<T>[] | Map<number, Child<T>>;

/** Up to this many children are held in an exactly sized array and scanned (a Map's table costs more below that). */
const FEW_CHILDREN = 16;

function childCount<T>(children: Children<T> | undefined): number {
  return children === undefined ? 0 : Array.isArray(children) ? children.length : children.size;
}

function firstChild<T>(children: Children<T>): Child<T> {
  return (Array.isArray(children) ? children[0] : children.values().next().value)!;
}

/**
 * Maps paths to items; finds every item whose path starts with a plain string prefix (as Cloudflare's prefix purge).
 * A compressed trie: each inner node has at least two children or holds items, so walking the subtree under a
 * prefix costs O(prefix length + matches), whatever else the host holds (a flat `/assets/<hash>.js` layout too).
 * Given a `LeafPath`, an item alone at the end of its branch is held bare (no node): most items of a host.
 */
export class PathIndex<T extends {}> {
  readonly #root: Node<T> = new Node<T>('');
  readonly #leaf: LeafPath<T> | undefined;
  #visited = 0;
  #size = 0;

  constructor(leaf?: LeafPath<T>) { this.#leaf = leaf; }

  /** How many items are indexed (an item on several paths counts once per path). */
  get size(): number { return this.#size; }

  /** Nodes visited by withPrefix since the index was made (a work counter for tests). */
  get visited(): number { return this.#visited; }

  /** The first character code of `child`'s label, its parent's path being `depth` characters long. */
  #code(child: Child<T>, depth: number): number {
    return child instanceof Node ? child.label.charCodeAt(0) : this.#leaf!.code(child, depth);
  }

  /** How many characters of bare leaf `item`'s label (from `depth`) equal `s`'s from `depth`. */
  #common(item: T, s: string, depth: number): number {
    let i = depth;
    const leaf = this.#leaf!;
    while (i < s.length && leaf.code(item, i) === s.charCodeAt(i)) i++;
    return i - depth;
  }

  /** The length of bare leaf `item`'s path. */
  #length(item: T, from: number): number {
    let i = from;
    const leaf = this.#leaf!;
    while (leaf.code(item, i) !== -1) i++;
    return i;
  }

  /** Whether `item` may be held bare on `path` (its own path is `path`). */
  #fits(item: T, path: string): boolean {
    return this.#leaf !== undefined && this.#leaf.is(item, path);
  }

  #childOf(node: Node<T>, code: number, depth: number): Child<T> | undefined {
    const children = node.children;
    if (children === undefined) return undefined;
    if (!Array.isArray(children)) return children.get(code);
    for (let i = 0; i < children.length; i++) if (this.#code(children[i]!, depth) === code) return children[i];
    return undefined;
  }

  /** Adds `child` (first label character `code`, which no other child of `node` has). */
  #addChild(node: Node<T>, child: Child<T>, code: number, depth: number): void {
    const children = node.children;
    if (children === undefined) { node.children = [child]; return; }
    if (!Array.isArray(children)) { children.set(code, child); return; }
    if (children.length < FEW_CHILDREN) {
      const grown: Child<T>[] = new Array(children.length + 1); // exactly sized: a push would reserve 16 more slots
      for (let i = 0; i < children.length; i++) grown[i] = children[i]!;
      grown[children.length] = child;
      node.children = grown;
      return;
    }
    const map = new Map<number, Child<T>>();
    for (const c of children) map.set(this.#code(c, depth), c);
    node.children = map.set(code, child);
  }

  /** Puts `next` where `old` was (the same first label character `code`). */
  #replaceChild(node: Node<T>, old: Child<T>, next: Child<T>, code: number): void {
    const children = node.children!;
    if (Array.isArray(children)) children[children.indexOf(old)] = next;
    else children.set(code, next);
  }

  #removeChild(node: Node<T>, child: Child<T>, code: number): void {
    const children = node.children!;
    if (Array.isArray(children)) {
      if (children.length === 1) node.children = undefined;
      else node.children = children.filter((c) => c !== child);
    } else {
      children.delete(code);
      if (children.size === 0) node.children = undefined;
    }
  }

  add(path: string, item: T): void {
    let node = this.#root;
    let depth = 0;
    for (;;) {
      if (depth === path.length) {
        const items = addItem(node.items, item);
        if (items !== null) { node.items = items; this.#size++; }
        return;
      }
      const code = path.charCodeAt(depth);
      const child = this.#childOf(node, code, depth);
      if (child === undefined) {
        this.#addChild(node, this.#fits(item, path) ? item : new Node<T>(path.slice(depth), undefined, item), code, depth);
        this.#size++;
        return;
      }
      if (child instanceof Node) {
        const label = child.label;
        let l = 1;
        while (l < label.length && depth + l < path.length && label.charCodeAt(l) === path.charCodeAt(depth + l)) l++;
        if (l < label.length) {
          // Split the edge: a new inner node holds the shared part, the old child keeps the rest of its label.
          const mid = new Node<T>(label.slice(0, l), [child]);
          this.#replaceChild(node, child, mid, code);
          child.label = label.slice(l);
          node = mid;
        } else node = child;
        depth += l;
        continue;
      }
      // A bare leaf: its label is its path's rest. One item more on its path, or an inner node where the two part.
      const l = this.#common(child, path, depth);
      const end = this.#length(child, depth + l);
      if (end === path.length && depth + l === path.length) {
        if (child === item) return; // there already
        this.#replaceChild(node, child, new Node<T>(path.slice(depth), undefined, new Several<T>([child, item])), code);
        this.#size++;
        return;
      }
      const mid = new Node<T>(path.slice(depth, depth + l));
      if (end === depth + l) mid.items = child; else mid.children = [child];
      this.#replaceChild(node, child, mid, code);
      node = mid;
      depth += l;
    }
  }

  delete(path: string, item: T): void {
    const trail: Node<T>[] = [this.#root];
    let node = this.#root;
    let depth = 0;
    while (depth < path.length) {
      const code = path.charCodeAt(depth);
      const child = this.#childOf(node, code, depth);
      if (child === undefined) return;
      if (!(child instanceof Node)) {
        if (child !== item || !this.#leaf!.is(child, path)) return;
        this.#removeChild(node, child, code);
        this.#size--;
        this.#restore(trail);
        return;
      }
      if (!path.startsWith(child.label, depth)) return;
      depth += child.label.length;
      node = child;
      trail.push(node);
    }
    if (node.items === undefined) return;
    const left = removeItem(node.items, item);
    if (left === null) return;
    node.items = left;
    this.#size--;
    this.#restore(trail);
  }

  /**
   * Restores the invariant bottom-up along `trail` (the nodes from the root down): removes empty nodes, merges
   * item-less nodes that have a single child, and leaves a lone item that fits its path bare.
   */
  #restore(trail: Node<T>[]): void {
    for (let i = trail.length - 1; i > 0; i--) {
      const n = trail[i]!;
      const parent = trail[i - 1]!;
      const code = n.label.charCodeAt(0);
      const size = childCount(n.children);
      if (n.items !== undefined) {
        const items = n.items;
        if (size === 0 && !(items instanceof Several) && this.#fits(items, pathTo(trail, i))) this.#replaceChild(parent, n, items, code);
        break;
      }
      if (size === 0) {
        this.#removeChild(parent, n, code);
        continue; // the parent may now be an item-less node with one child
      }
      if (size === 1) {
        const only = firstChild(n.children!);
        if (only instanceof Node) {
          n.label += only.label;
          n.children = only.children;
          n.items = only.items;
        } else this.#replaceChild(parent, n, only, code); // a bare leaf's label runs from the parent on
      }
      break;
    }
  }

  /** Every item whose path starts with `prefix` (with '', every item: a whole host's, for a host purge). */
  withPrefix(prefix: string): T[] {
    let node = this.#root;
    let depth = 0;
    const out: T[] = [];
    for (;;) {
      this.#visited++;
      if (depth === prefix.length) { this.#collect(node, out); return out; }
      const child = this.#childOf(node, prefix.charCodeAt(depth), depth);
      if (child === undefined) return out;
      if (!(child instanceof Node)) {
        this.#visited++;
        if (this.#common(child, prefix, depth) === prefix.length - depth) out.push(child);
        return out;
      }
      const label = child.label;
      let l = 1;
      while (l < label.length && depth + l < prefix.length && label.charCodeAt(l) === prefix.charCodeAt(depth + l)) l++;
      if (depth + l === prefix.length) { this.#collect(child, out); return out; }
      if (l < label.length) return out; // diverges inside the edge: nothing below matches
      node = child;
      depth += l;
    }
  }

  #collect(start: Node<T>, out: T[]): void {
    const stack: Node<T>[] = [start];
    while (stack.length > 0) {
      const node = stack.pop()!;
      this.#visited++;
      if (node.items !== undefined) pushItems(node.items, out);
      const children = node.children;
      if (children === undefined) continue;
      for (const child of Array.isArray(children) ? children : children.values()) {
        if (child instanceof Node) stack.push(child);
        else { this.#visited++; out.push(child); }
      }
    }
  }

  /** True when nothing is indexed. */
  isEmpty(): boolean { return this.#root.children === undefined && this.#root.items === undefined; }
}

/** The path of `trail[i]`: the labels from the root down to it. */
function pathTo<T>(trail: Node<T>[], i: number): string {
  let s = '';
  for (let k = 1; k <= i; k++) s += trail[k]!.label;
  return s;
}

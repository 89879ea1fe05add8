// Per-host radix tree of paths, so a prefix purge visits what matches (about two nodes per item), never the cache.

interface Node<T> {
  /** The path characters this edge adds below its parent (empty only at the root). */
  label: string;
  /** Children, told apart by the first character of their label: a few in an array, more in a Map by that character. */
  children: Children<T> | undefined;
  /** One item held bare (the common case: a path with one object: no wrapper, no Set), several in a Set. */
  items: Items<T> | undefined;
}

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

type Children<T> = Node<T>[] | Map<string, Node<T>>;

/** Up to this many children are held in an exactly sized array and scanned (a Map's table costs more below that). */
const FEW_CHILDREN = 16;

function childOf<T>(children: Children<T> | undefined, first: string): Node<T> | undefined {
  if (children === undefined) return undefined;
  if (!Array.isArray(children)) return children.get(first);
  for (let i = 0; i < children.length; i++) if (children[i]!.label[0] === first) return children[i];
  return undefined;
}

/** Adds `child`, whose first label character no other child of `node` has. */
function addChild<T>(node: Node<T>, child: Node<T>): void {
  const children = node.children;
  if (children === undefined) { node.children = [child]; return; }
  if (!Array.isArray(children)) { children.set(child.label[0]!, child); return; }
  if (children.length < FEW_CHILDREN) {
    const grown: Node<T>[] = new Array(children.length + 1); // exactly sized: a push would reserve 16 more slots
    for (let i = 0; i < children.length; i++) grown[i] = children[i]!;
    grown[children.length] = child;
    node.children = grown;
    return;
  }
  const map = new Map<string, Node<T>>();
  for (const c of children) map.set(c.label[0]!, c);
  node.children = map.set(child.label[0]!, child);
}

/** Puts `next` where `old` was (the same first label character). */
function replaceChild<T>(node: Node<T>, old: Node<T>, next: Node<T>): void {
  const children = node.children!;
  if (Array.isArray(children)) children[children.indexOf(old)] = next;
  else children.set(next.label[0]!, next);
}

function removeChild<T>(node: Node<T>, child: Node<T>): void {
  const children = node.children!;
  if (Array.isArray(children)) {
    if (children.length === 1) node.children = undefined;
    else node.children = children.filter((c) => c !== child);
  } else {
    children.delete(child.label[0]!);
    if (children.size === 0) node.children = undefined;
  }
}

function childCount<T>(children: Children<T> | undefined): number {
  return children === undefined ? 0 : Array.isArray(children) ? children.length : children.size;
}

function firstChild<T>(children: Children<T>): Node<T> {
  return (Array.isArray(children) ? children[0] : children.values().next().value)!;
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
export class PathIndex<T extends {}> {
  readonly #root: Node<T> = newNode('');
  #visited = 0;
  #size = 0;

  /** How many items are indexed (an item on several paths counts once per path). */
  get size(): number { return this.#size; }

  /** Nodes visited by withPrefix since the index was made (a work counter for tests). */
  get visited(): number { return this.#visited; }

  add(path: string, item: T): void {
    let node = this.#root;
    let rest = path;
    for (;;) {
      if (rest === '') {
        const items = addItem(node.items, item);
        if (items !== null) { node.items = items; this.#size++; }
        return;
      }
      const child = childOf(node.children, rest[0]!);
      if (!child) {
        const leaf = newNode<T>(rest);
        leaf.items = item;
        addChild(node, leaf);
        this.#size++;
        return;
      }
      const l = commonPrefixLength(child.label, rest);
      if (l < child.label.length) {
        // Split the edge: a new inner node holds the shared part, the old child keeps the rest of its label.
        const mid = newNode<T>(child.label.slice(0, l));
        replaceChild(node, child, mid);
        child.label = child.label.slice(l);
        mid.children = [child];
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
      const child = childOf(node.children, rest[0]!);
      if (!child || !rest.startsWith(child.label)) return;
      rest = rest.slice(child.label.length);
      node = child;
      trail.push(node);
    }
    if (node.items === undefined) return;
    const left = removeItem(node.items, item);
    if (left === null) return;
    node.items = left;
    this.#size--;
    // Restore the invariant bottom-up: remove empty leaves, merge item-less nodes that have a single child.
    for (let i = trail.length - 1; i > 0; i--) {
      const n = trail[i]!;
      const parent = trail[i - 1]!;
      if (n.items !== undefined) break;
      const size = childCount(n.children);
      if (size === 0) {
        removeChild(parent, n);
        continue; // the parent may now be an item-less node with one child
      }
      if (size === 1) {
        const only = firstChild(n.children!);
        n.label += only.label;
        n.children = only.children;
        n.items = only.items;
      }
      break;
    }
  }

  /** Every item whose path starts with `prefix` (with '', every item: a whole host's, for a host purge). */
  withPrefix(prefix: string): T[] {
    let node = this.#root;
    let rest = prefix;
    const out: T[] = [];
    for (;;) {
      this.#visited++;
      if (rest === '') { this.#collect(node, out); return out; }
      const child = childOf(node.children, rest[0]!);
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
      if (node.items !== undefined) pushItems(node.items, out);
      const children = node.children;
      if (children !== undefined) for (const child of Array.isArray(children) ? children : children.values()) stack.push(child);
    }
  }

  /** True when nothing is indexed. */
  isEmpty(): boolean { return this.#root.children === undefined && this.#root.items === undefined; }
}

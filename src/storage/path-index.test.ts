// Tests for the radix path index: plain string prefixes, deletes that keep it compact, work that follows matches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PathIndex } from './path-index.js';

const sorted = (a: string[]): string[] => [...a].sort();

test('withPrefix is a plain string prefix on the path, across segment boundaries', () => {
  const idx = new PathIndex<string>();
  for (const p of ['/assets/a.js', '/assets/b.js', '/assetsX/c.js', '/other.js', '/', '/assets']) idx.add(p, p);
  assert.deepEqual(sorted(idx.withPrefix('/assets/')), ['/assets/a.js', '/assets/b.js']);
  assert.deepEqual(sorted(idx.withPrefix('/assets')), ['/assets', '/assets/a.js', '/assets/b.js', '/assetsX/c.js']);
  assert.deepEqual(sorted(idx.withPrefix('/assets/a')), ['/assets/a.js']);
  assert.deepEqual(idx.withPrefix('/assets/a.jsx'), []);
  assert.deepEqual(idx.withPrefix('/nothing'), []);
  assert.equal(idx.withPrefix('/').length, 6);
  assert.equal(idx.withPrefix('').length, 6);
});

test('several items on one path; delete removes exactly one and empties the index at the end', () => {
  const idx = new PathIndex<number>();
  idx.add('/a/b', 1);
  idx.add('/a/b', 2);
  idx.add('/a/bc', 3);
  idx.add('/a', 4);
  idx.delete('/a/b', 1);
  assert.deepEqual(idx.withPrefix('/a/b').sort(), [2, 3]);
  idx.delete('/a/b', 99); // not there: no change
  idx.delete('/zzz', 2); // path not there: no change
  assert.deepEqual(idx.withPrefix('/a').sort(), [2, 3, 4]);
  for (const [p, i] of [['/a/b', 2], ['/a/bc', 3], ['/a', 4]] as const) idx.delete(p, i);
  assert.deepEqual(idx.withPrefix(''), []);
  assert.equal(idx.isEmpty(), true);
});

test('a prefix among 100,000 flat siblings visits about what matches, not the siblings', () => {
  const idx = new PathIndex<number>();
  for (let i = 0; i < 100_000; i++) idx.add(`/assets/${i % 10 === 0 ? 'hot' : 'cold'}-${i}.js`, i);
  const before = idx.visited;
  const hits = idx.withPrefix('/assets/hot-');
  assert.equal(hits.length, 10_000);
  const work = idx.visited - before;
  // A compressed trie has fewer than two nodes per item below the prefix, plus the path down to it.
  assert.ok(work <= 2 * 10_000 + 20, `visited ${work} nodes for 10,000 matches`);
});

test('matches a naive startsWith filter for any adds and deletes (property)', () => {
  const seg = fc.constantFrom('', 'a', 'b', 'ab', 'abc', 'b.js', 'x');
  const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.boolean(), path, fc.integer({ min: 0, max: 3 })), { maxLength: 60 }),
    fc.array(fc.oneof(path, path.map((p) => p.slice(0, Math.max(1, p.length - 1)))), { minLength: 1, maxLength: 6 }),
    (ops, prefixes) => {
      const idx = new PathIndex<string>();
      const model = new Map<string, string>(); // id → path
      for (const [isAdd, p, n] of ops) {
        const id = `${p}#${n}`;
        if (isAdd) { if (!model.has(id)) { idx.add(p, id); model.set(id, p); } }
        else if (model.get(id) === p) { idx.delete(p, id); model.delete(id); }
      }
      for (const prefix of prefixes) {
        const want = [...model].filter(([, p]) => p.startsWith(prefix)).map(([id]) => id);
        assert.deepEqual(sorted(idx.withPrefix(prefix)), sorted(want));
      }
      if (model.size === 0) assert.equal(idx.isEmpty(), true);
    },
  ), { numRuns: 300 });
});

/** Items that know their path (as a primary key does): `<path>#<n>`; those starting with '!' do not (their path is elsewhere). */
const code = (id: string, i: number): number => {
  if (id.startsWith('!')) return id.charCodeAt(i + 1) === 33 ? -1 : 120; // never the path it is filed under
  const end = id.indexOf('#');
  return i < end ? id.charCodeAt(i) : -1;
};
const leafOf = { code, is: (id: string, path: string): boolean => !id.startsWith('!') && id.slice(0, id.indexOf('#')) === path };

test('items held bare at their leaves (a LeafPath) match a naive startsWith filter for any adds and deletes (property)', () => {
  const seg = fc.constantFrom('', 'a', 'b', 'ab', 'abc', 'b.js', 'x');
  const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.boolean(), path, fc.integer({ min: 0, max: 5 })), { maxLength: 80 }),
    fc.array(fc.oneof(path, path.map((p) => p.slice(0, Math.max(1, p.length - 1)))), { minLength: 1, maxLength: 6 }),
    (ops, prefixes) => {
      const idx = new PathIndex<string>(leafOf);
      const model = new Map<string, string>(); // id → path
      for (const [isAdd, p, n] of ops) {
        const id = n === 5 ? `!${p}#${n}` : `${p}#${n}`;
        if (isAdd) { if (!model.has(id)) { idx.add(p, id); model.set(id, p); } }
        else if (model.get(id) === p) { idx.delete(p, id); model.delete(id); }
      }
      assert.equal(idx.size, model.size);
      for (const prefix of prefixes) {
        const want = [...model].filter(([, p]) => p.startsWith(prefix)).map(([id]) => id);
        assert.deepEqual(sorted(idx.withPrefix(prefix)), sorted(want));
      }
      if (model.size === 0) assert.equal(idx.isEmpty(), true);
    },
  ), { numRuns: 500 });
});

test('with bare leaves, a prefix among 100,000 flat siblings visits at most two nodes per match, and deletes empty it', () => {
  const idx = new PathIndex<string>(leafOf);
  const ids = Array.from({ length: 100_000 }, (_, i) => `/assets/${i % 10 === 0 ? 'hot' : 'cold'}-${i}.js#0`);
  for (const id of ids) idx.add(id.slice(0, -2), id);
  const before = idx.visited;
  assert.equal(idx.withPrefix('/assets/hot-').length, 10_000);
  assert.ok(idx.visited - before <= 2 * 10_000 + 20);
  assert.deepEqual(idx.withPrefix('/assets/cold-12.js'), ['/assets/cold-12.js#0']);
  assert.deepEqual(idx.withPrefix('/assets/cold-12.jsx'), []);
  for (const id of ids) idx.delete(id.slice(0, -2), id);
  assert.equal(idx.isEmpty(), true);
});

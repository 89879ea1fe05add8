// The disk tier's bodies: the memory tier's bound and promotions, body files shared by variants, crash images (torn
// body files, a missing body, orphans), reads by range, and files freed with their last variant.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { markCrashed } from './disk-index.js';
import { DiskStore } from './disk.js';
import { contractInput, objectTarget, type ContractEntry } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { bodyOf } from './store.js';
import type { MemoryVariant } from './variant.js';

const A = 'https://a.example';
const B = 'https://b.example';

async function tempDir(t: TestContext): Promise<{ dir: string; open(b?: { memoryMaxBytes?: number; diskMaxBytes?: number }): Promise<DiskStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-tier-'));
  const stores: DiskStore[] = [];
  t.after(async () => { for (const s of stores) await s.close(); await rm(dir, { recursive: true, force: true }); });
  return {
    dir,
    open: async (b = {}) => {
      const s = await DiskStore.open({ path: dir, maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue, ...b });
      stores.push(s);
      return s;
    },
  };
}

const lookup = (s: DiskStore, e: ContractEntry) => s.lookup(contractInput(e).objectKey, e.req ?? {});
const bodyFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'bodies'))).sort();
const readAll = async (s: NodeJS.ReadableStream): Promise<Buffer> => { const c: Buffer[] = []; for await (const x of s) c.push(x as Buffer); return Buffer.concat(c); };

test('the memory tier keeps at most memoryMaxBytes of bodies; the rest are served from their files, read asynchronously', async (t) => {
  const { open } = await tempDir(t);
  const store = await open({ memoryMaxBytes: 160_000 });
  const entries: ContractEntry[] = Array.from({ length: 10 }, (_, i) => ({ path: `/b${i}`, body: Buffer.alloc(20_000, i) }));
  for (const e of entries) assert.ok(store.insert(contractInput(e)));
  await store.flush();
  const d = store.diskStats();
  assert.ok(d.memoryBytes <= 160_000, `memory tier ${d.memoryBytes}`);
  assert.equal(d.diskBytes, 200_000);
  const vs = entries.map((e) => lookup(store, e)!);
  // Bodies enter the memory tier as their files are written (in whatever order the writes finish).
  const onDisk = vs.flatMap((v, i) => (v.body === undefined ? [i] : []));
  assert.ok(onDisk.length >= 2, `${onDisk.length} bodies on disk only`);
  for (const i of onDisk) assert.ok(vs[i]!.bodyFile !== undefined);
  const i0 = onDisk[0]!;
  assert.ok((await bodyOf(vs[i0]!)).equals(entries[i0]!.body!));
  assert.ok(lookup(store, entries[i0]!)!.body !== undefined, 'a body read whole from disk that fits is promoted to the memory tier');
  assert.equal(store.diskStats().promotions, 1);
  for (const [i, v] of vs.entries()) assert.ok((await bodyOf(v)).equals(entries[i]!.body!), `body ${i}`);
  assert.ok(store.diskStats().memoryBytes <= 160_000, 'promotions demote others');
  // A range is read from the file alone.
  const part = await readAll(vs[3]!.bodyFile!.stream(100, 199));
  assert.ok(part.equals(Buffer.alloc(100, 3)));
});

test('variants of one URL with the same bytes share one body file, also after a restart; it goes with its last variant', async (t) => {
  const { dir, open } = await tempDir(t);
  const first = await open();
  const same = Buffer.from('identical bytes for both origins');
  const a: ContractEntry = { path: '/s', req: { origin: A }, body: same };
  const b: ContractEntry = { path: '/s', req: { origin: B }, body: Buffer.from(same) };
  first.insert(contractInput(a));
  first.insert(contractInput(b));
  await first.flush();
  assert.equal((await bodyFiles(dir)).length, 1);
  await first.close();
  const second = await open({ memoryMaxBytes: 1 });
  assert.equal(second.stats().bodies, 1, 'one body record for both');
  assert.equal(lookup(second, a)!.bodyFile, lookup(second, b)!.bodyFile);
  assert.ok((await bodyOf(lookup(second, b)!)).equals(same));
  second.purge({ kind: 'variant', zoneId: 'z', host: 'cdn.example', path: '/s', query: '', headers: { origin: A } }, false);
  assert.ok((await bodyOf(lookup(second, b)!)).equals(same), 'kept for the other variant');
  second.purge(objectTarget(b), false);
  await second.close();
  assert.deepEqual(await bodyFiles(dir), [], 'the body file went with its last variant');
});

test('crash images: a torn body (temp file) and an orphan body are deleted; an entry whose body file is missing is never served', async (t) => {
  const { dir, open } = await tempDir(t);
  const first = await open();
  const entries: ContractEntry[] = [{ path: '/x', body: Buffer.alloc(5000, 1) }, { path: '/y', body: Buffer.alloc(5000, 2) }];
  for (const e of entries) first.insert(contractInput(e));
  await first.flush();
  await first.close();
  const files = await bodyFiles(dir);
  assert.equal(files.length, 2);
  // kill -9 images: one body file lost (its entry was renamed first by a broken file system), a write cut short, an orphan.
  await unlink(join(dir, 'bodies', files[0]!));
  await writeFile(join(dir, 'bodies', 'zzzz.body.tmp'), Buffer.alloc(10, 9));
  await writeFile(join(dir, 'bodies', 'zzzy.body'), Buffer.alloc(10, 9));
  markCrashed(dir);
  const second = await open();
  const found = entries.map((e) => lookup(second, e));
  assert.equal(found.filter(Boolean).length, 1, 'only the entry whose body is whole');
  assert.equal(second.diskStats().corrupt, 1);
  const kept = found.find(Boolean)!;
  assert.ok((await bodyOf(kept)).equals(entries[found.indexOf(kept)]!.body!));
  await second.flush();
  assert.deepEqual(await bodyFiles(dir), [files[1]], 'the temp file and the orphan are gone');
});

test('a body whose write fails is served from memory; a purged body file is unlinked after a grace period, at once on close', async (t) => {
  const { dir, open } = await tempDir(t);
  const store = await open();
  const e: ContractEntry = { path: '/g', body: Buffer.alloc(3000, 7) };
  store.insert(contractInput(e));
  await store.flush();
  assert.equal((await bodyFiles(dir)).length, 1);
  const v = lookup(store, e)!;
  const stream = v.bodyFile!.stream(0, 2999);
  store.purge(objectTarget(e), false);
  assert.equal(lookup(store, e), undefined);
  assert.ok((await readAll(stream)).equals(e.body!), 'a read begun before the purge completes');
  assert.equal((await bodyFiles(dir)).length, 1, 'still there during the grace period');
  await store.close();
  assert.deepEqual(await bodyFiles(dir), []);
});

test('after a restart a body only on disk is parked in its variant (no record); a read brings it back into memory, its file goes with the variant', async (t) => {
  const { dir, open } = await tempDir(t);
  const first = await open();
  const cold: ContractEntry = { path: '/cold', body: Buffer.alloc(3000, 5) };
  const warm: ContractEntry = { path: '/warm', body: Buffer.alloc(2000, 6) };
  first.insert(contractInput(cold));
  first.insert(contractInput(warm));
  await first.flush();
  await first.close();
  const second = await open();
  const v = lookup(second, cold) as MemoryVariant;
  const w = lookup(second, warm) as MemoryVariant;
  for (const x of [v, w]) {
    assert.equal(x.hasFields, false);
    assert.equal(x.bodyRecord, undefined, 'parked: the variant holds its file id, no record');
  }
  assert.equal(v.bodyLength, 3000);
  assert.equal(second.stats().bodies, 2);
  // Read while cold: the file handle brings the body back into memory (a promotion), as a record of the variant's.
  assert.ok((await bodyOf(v)).equals(cold.body!));
  assert.ok(v.bodyRecord !== undefined && v.body?.equals(cold.body!), 'promoted into the memory tier');
  // Fields loaded first (the variant hot again): its body gets its record back, and a read promotes it as well.
  assert.equal(await second.loadFields(w), true);
  assert.ok(w.bodyRecord !== undefined);
  assert.ok((await bodyOf(w)).equals(warm.body!));
  assert.ok(w.body?.equals(warm.body!));
  assert.equal(second.diskStats().promotions, 2);
  assert.equal(second.diskStats().diskBytes, 5000);
  second.purge(objectTarget(cold), false);
  assert.equal(second.diskStats().diskBytes, 2000);
  await second.close();
  assert.equal((await bodyFiles(dir)).length, 1, 'the purged variant\'s file went with it');
  const third = await open();
  const p = lookup(third, warm) as MemoryVariant;
  assert.equal(p.bodyRecord, undefined);
  third.purge(objectTarget(warm), false);
  assert.equal(third.stats().bodies, 0);
  assert.equal(third.diskStats().diskBytes, 0);
  await third.close();
  assert.deepEqual(await bodyFiles(dir), [], 'a parked body\'s file goes with its variant');
});

test('a cold variant whose body leaves the memory tier is parked again; it is served whole from its file', async (t) => {
  const { dir, open } = await tempDir(t);
  const first = await open();
  const e: ContractEntry = { path: '/p', body: Buffer.alloc(3000, 4) };
  first.insert(contractInput(e));
  await first.flush();
  await first.close();
  const store = await open({ memoryMaxBytes: 100_000 });
  const v = lookup(store, e) as MemoryVariant;
  assert.ok((await bodyOf(v)).equals(e.body!));
  assert.ok(v.bodyRecord !== undefined && v.body !== undefined && !v.hasFields, 'cold, its body in memory again: not parked');
  // A larger body pushes it out of the memory tier: the cold variant holds its file alone again.
  store.insert(contractInput({ path: '/big', body: Buffer.alloc(99_000, 1) }));
  await store.flush();
  assert.equal(v.bodyRecord, undefined, 'parked');
  assert.ok((await bodyOf(v)).equals(e.body!));
  assert.equal(store.stats().bodies, 2);
  assert.equal((await bodyFiles(dir)).length, 2);
});

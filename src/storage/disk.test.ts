// DiskStore beyond the contract: restarts, torn and corrupt files, crash images of purges, maxBytes on load, write errors, the lock.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskStore, DiskStoreError, type DiskStoreLogger } from './disk.js';
import { contractInput, CONTRACT_FRESHNESS, objectTarget, type ContractEntry } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { bodyOf } from './store.js';
import { INDEX_DIR, markCrashed } from './disk-index.js';

const A = 'https://a.example';
const B = 'https://b.example';

interface Opened { store: DiskStore; warnings: string[] }

const opened = new Map<string, DiskStore[]>();

/** A temporary directory; after the test, every store opened on it is closed (closing twice is fine), then it goes. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-'));
  opened.set(dir, []);
  t.after(async () => {
    for (const s of opened.get(dir) ?? []) await s.close();
    opened.delete(dir);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function openStore(dir: string, bounds: { maxBytes?: number; memoryMaxBytes?: number; diskMaxBytes?: number } = {}): Promise<Opened> {
  const warnings: string[] = [];
  const logger: DiskStoreLogger = { warn: (_o, msg) => warnings.push(msg), error: (_o, msg) => warnings.push(msg) };
  const store = await DiskStore.open({ maxBytes: 64 * 1024 * 1024, ...bounds, path: dir, normalize: normalizeVaryValue, logger });
  opened.get(dir)?.push(store);
  return { store, warnings };
}

const lookup = (s: DiskStore, e: ContractEntry) => s.lookup(contractInput(e).objectKey, e.req ?? {});
const entryFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.entry')).sort();

/** Every entry file's bytes: a crash image taken before the unlinks of a purge happened. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const n of await entryFiles(dir)) out.set(n, await readFile(join(dir, n)));
  return out;
}
async function restore(dir: string, image: Map<string, Buffer>): Promise<void> {
  for (const [n, b] of image) await writeFile(join(dir, n), b);
  markCrashed(dir);
}


test('a restart keeps entries, their variants, tags, freshness, soft state and 304-refreshed headers; one file per variant', async (t) => {
  const dir = await tempDir(t);
  const entries: ContractEntry[] = [
    { path: '/app.js', req: { origin: A }, tags: ['app'] }, { path: '/app.js', req: { origin: B }, tags: ['app'] }, { path: '/app.js' },
    { path: '/soft.js', tags: ['soft'] }, { path: '/fresh.js' },
  ];
  const first = await openStore(dir);
  for (const e of entries) assert.ok(first.store.insert(contractInput(e)));
  first.store.purge({ kind: 'tag', zoneId: 'z', tag: 'soft' }, true);
  const fresh = lookup(first.store, entries[4]!)!;
  const refreshed = { ...CONTRACT_FRESHNESS, responseTime: CONTRACT_FRESHNESS.responseTime + 5000, lifetime: 60 };
  first.store.refresh(fresh, [['content-type', 'text/plain'], ['etag', '"v2"']], refreshed);
  // A replaced variant's old file must not come back.
  first.store.insert(contractInput({ path: '/app.js', body: Buffer.from('replaced') }));
  await first.store.close();
  assert.equal((await entryFiles(dir)).length, 5, 'one file per live variant');

  const second = await openStore(dir);
  assert.equal(second.store.stats().variants, 5);
  assert.equal(second.store.diskStats().loaded, 5);
  for (const e of entries.slice(0, 2)) {
    const v = lookup(second.store, e);
    assert.equal((await bodyOf(v!)).toString(), contractInput(e).body.toString());
    assert.deepEqual(v?.tags, ['app']);
    assert.deepEqual(v?.freshness, CONTRACT_FRESHNESS, 'freshness unchanged: a restart makes nothing fresher or staler');
    assert.equal(v?.forcedStale, false);
  }
  assert.equal((await bodyOf(lookup(second.store, entries[2]!)!)).toString(), 'replaced');
  assert.equal(lookup(second.store, entries[3]!)?.forcedStale, true, 'soft-purged stays stale');
  const r = lookup(second.store, entries[4]!);
  assert.equal(r?.hasFields, false, 'loaded from the index: the fields stay in the entry file until served');
  assert.equal(await second.store.loadFields(r!), true);
  assert.deepEqual(r?.headers, [['content-type', 'text/plain'], ['etag', '"v2"']]);
  assert.deepEqual(r?.freshness, refreshed);
  assert.equal(second.store.purge({ kind: 'tag', zoneId: 'z', tag: 'app' }, false), 2, 'tag index rebuilt');
});

for (const withIndex of [true, false]) {
  test(`a torn (truncated) file and a file with one flipped byte are never served, deleted and logged; the rest load (${withIndex ? 'found when served' : 'no index file: found by open()'})`, async (t) => {
    const dir = await tempDir(t);
    const entries: ContractEntry[] = [0, 1, 2, 3].map((i) => ({ path: `/f${i}`, body: Buffer.alloc(2000, i), headers: [['x-i', String(i)]] }));
    const first = await openStore(dir);
    for (const e of entries) first.store.insert(contractInput(e));
    await first.store.close();
    const files = await entryFiles(dir);
    assert.equal(files.length, 4);
    // A crash image (a torn file and a stray temp file are what a crash leaves), with or without its index.
    if (withIndex) markCrashed(dir); else await rm(join(dir, INDEX_DIR), { recursive: true });
    await truncate(join(dir, files[1]!), 150); // torn mid-write
    const flipped = await readFile(join(dir, files[2]!));
    flipped[flipped.length - 40]! ^= 0x01; // one bit
    await writeFile(join(dir, files[2]!), flipped);
    await writeFile(join(dir, `${files[3]!}.tmp`), 'half a write'); // a crash before the rename

    const second = await openStore(dir);
    assert.equal(second.store.diskStats().indexed, withIndex ? 4 : 0);
    const served = await Promise.all(entries.map(async (e) => {
      const v = lookup(second.store, e);
      return v !== undefined && (await second.store.loadFields(v)) !== false && v.fieldMap['x-i'] === e.headers![0]![1];
    }));
    assert.deepEqual(served, [true, false, false, true]);
    assert.equal(lookup(second.store, entries[1]!), undefined, 'the damaged entries are gone from the index');
    assert.equal(second.store.diskStats().corrupt, 2);
    assert.equal(second.warnings.filter((w) => w.includes('torn or corrupt')).length, 2);
    await second.store.flush();
    const left = (await readdir(dir)).filter((n) => n.includes('.entry'));
    assert.deepEqual(left.sort(), [files[0], files[3]], 'the damaged files and the stray .tmp are gone');
  });
}

test('purge everything (hard and soft) survives a restart, even one from a crash image where no file was deleted yet', async (t) => {
  const dir = await tempDir(t);
  const z: ContractEntry[] = [{ path: '/a', req: { origin: A } }, { path: '/b' }];
  const y: ContractEntry[] = [{ path: '/a', zoneId: 'y' }];
  const x: ContractEntry[] = [{ path: '/a', zoneId: 'x' }];
  const first = await openStore(dir);
  for (const e of [...z, ...y, ...x]) first.store.insert(contractInput(e));
  await first.store.flush();
  const image = await snapshot(dir);
  first.store.purge({ kind: 'everything', zoneId: 'z' }, false);
  first.store.purge({ kind: 'everything', zoneId: 'y' }, true);
  const after: ContractEntry = { path: '/after' };
  first.store.insert(contractInput(after));
  await first.store.close();
  await restore(dir, image);

  const second = await openStore(dir);
  assert.deepEqual(z.map((e) => lookup(second.store, e) !== undefined), [false, false]);
  assert.equal(lookup(second.store, y[0]!)?.forcedStale, true);
  assert.equal(lookup(second.store, x[0]!)?.forcedStale, false);
  assert.ok(lookup(second.store, after), 'stored after the purge: kept');
  await second.store.flush();
  assert.equal((await entryFiles(dir)).length, 3, 'the purged files were deleted on load');
});

test('a targeted purge whose files were not deleted before a crash stays purged (journal replay)', async (t) => {
  const dir = await tempDir(t);
  const entries: ContractEntry[] = [{ path: '/gone', tags: ['drop'] }, { path: '/soft', tags: ['s'] }, { path: '/kept' }, { path: '/url' }];
  const first = await openStore(dir);
  for (const e of entries) first.store.insert(contractInput(e));
  await first.store.flush();
  const image = await snapshot(dir);
  first.store.purge({ kind: 'tag', zoneId: 'z', tag: 'drop' }, false);
  first.store.purge({ kind: 'tag', zoneId: 'z', tag: 's' }, true);
  first.store.purge(objectTarget(entries[3]!), false);
  const journal = await readFile(join(dir, 'purges.journal')); // appended before purge() returned
  assert.equal(journal.toString().trim().split('\n').length, 3);
  const later: ContractEntry = { path: '/url', body: Buffer.from('stored after the purge') };
  first.store.insert(contractInput(later));
  await first.store.close();
  assert.equal((await readFile(join(dir, 'purges.journal'))).length, 0, 'emptied once its files were gone');
  await restore(dir, image);
  await writeFile(join(dir, 'purges.journal'), journal);

  const second = await openStore(dir);
  assert.equal(lookup(second.store, entries[0]!), undefined);
  assert.equal(lookup(second.store, entries[1]!)?.forcedStale, true);
  assert.equal(lookup(second.store, entries[2]!)?.forcedStale, false);
  assert.equal((await bodyOf(lookup(second.store, later)!)).toString(), 'stored after the purge');
  await second.store.flush();
  assert.equal((await entryFiles(dir)).length, 3);
  assert.equal((await readFile(join(dir, 'purges.journal'))).length, 0);
});

test('disk maxBytes is respected on load: the most recently written entries are kept, the files of the rest deleted', async (t) => {
  const dir = await tempDir(t);
  const entries: ContractEntry[] = Array.from({ length: 20 }, (_, i) => ({ path: `/e${i}`, body: Buffer.alloc(10_000, i) }));
  const first = await openStore(dir);
  for (const e of entries) first.store.insert(contractInput(e));
  await first.store.close();

  const second = await openStore(dir, { diskMaxBytes: 55_000 });
  const kept = entries.map((e) => lookup(second.store, e) !== undefined);
  const n = kept.filter(Boolean).length;
  assert.ok(n >= 3 && n <= 5, `${n} kept`);
  assert.deepEqual(kept, entries.map((_, i) => i >= 20 - n), 'the newest ones');
  assert.ok(second.store.stats().bodyBytes <= 55_000);
  assert.ok(second.store.diskStats().diskBytes <= 55_000);
  await second.store.close();
  assert.equal((await entryFiles(dir)).length, n);
  assert.equal((await readdir(join(dir, 'bodies'))).length, n, 'the evicted bodies\' files are gone too');
});

test('write errors never throw: the entry is served from memory, counted and logged', async (t) => {
  const dir = await tempDir(t);
  const { store, warnings } = await openStore(dir);
  await rm(dir, { recursive: true, force: true }); // every later write fails (ENOENT), also for root
  const e: ContractEntry = { path: '/a' };
  const v = store.insert(contractInput(e));
  assert.ok(v);
  assert.equal(lookup(store, e), v, 'a hit from memory');
  store.refresh(v, [['content-type', 'text/html']], CONTRACT_FRESHNESS);
  store.purge({ kind: 'tag', zoneId: 'z', tag: 'x' }, true);
  store.purge({ kind: 'everything', zoneId: 'y' }, false);
  store.insert(contractInput({ path: '/b' }));
  store.remove(lookup(store, { path: '/b' })!);
  store.clear();
  await store.flush();
  assert.ok(store.diskStats().writeErrors >= 3, `writeErrors ${store.diskStats().writeErrors}`);
  assert.ok(warnings.some((w) => w.includes('cannot write a body file')));
  await store.close();
});

test('one store per directory: a second open is refused with DISK_STORE_LOCKED until the first closes', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(dir);
  await assert.rejects(DiskStore.open({ path: dir, maxBytes: 1e6, normalize: normalizeVaryValue }), (err: unknown) => err instanceof DiskStoreError && err.code === 'DISK_STORE_LOCKED');
  await first.store.close();
  const second = await openStore(dir);
  assert.equal(second.store.stats().variants, 0);
});

test('a lock left by a dead process, or by an earlier process with our pid (a restarted container), is taken over', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'lock'), '2147483646'); // no such pid
  const first = await openStore(dir);
  assert.ok(first.store.insert(contractInput({ path: '/a' })));
  await first.store.close();
  await writeFile(join(dir, 'lock'), String(process.pid));
  const second = await openStore(dir);
  assert.ok(lookup(second.store, { path: '/a' }));
});

test('unreadable purge markers: nothing on disk is trusted, the whole disk cache is dropped and logged', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(dir);
  first.store.insert(contractInput({ path: '/a' }));
  first.store.purge({ kind: 'everything', zoneId: 'y' }, false);
  await first.store.close();
  await writeFile(join(dir, 'purged-everything.json'), '{"cleared": 0, "zo');
  const second = await openStore(dir);
  assert.equal(lookup(second.store, { path: '/a' }), undefined);
  assert.ok(second.warnings.some((w) => w.includes('purge markers unreadable')));
  await second.store.flush();
  assert.deepEqual(await entryFiles(dir), []);
  assert.ok(second.store.insert(contractInput({ path: '/b' })), 'and it works on');
});

// The disk tier's open body files: hot files are read through a cached descriptor (bounded), closed with their last
// variant, on eviction from the cache and on close, never under a read in flight; a stale reference never reads a
// replacement body.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, realpathSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskStore } from './disk.js';
import { contractInput, objectTarget, type ContractEntry } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { BodyFile } from './store.js';

const HAS_PROC = (() => { try { readdirSync('/proc/self/fd'); return true; } catch { return false; } })();

async function openStore(t: TestContext): Promise<{ dir: string; store: DiskStore }> {
  const dir = realpathSync(await mkdtemp(join(tmpdir(), 'edgecache-open-files-')));
  const store = await DiskStore.open({ path: dir, maxBytes: 64 * 1024 * 1024, memoryMaxBytes: 1, normalize: normalizeVaryValue });
  t.after(async () => { await store.close(); await rm(dir, { recursive: true, force: true }); });
  return { dir, store };
}

/** Descriptors this process holds on files under `dir`/bodies (unlinked ones too): what the kernel says, not the cache. */
function bodyFds(dir: string): number {
  const prefix = join(dir, 'bodies');
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try { if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(prefix)) n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Descriptors are closed asynchronously (fs.close in the thread pool): the count once it has settled to `n` (at most 2 s). */
async function bodyFdsSettled(dir: string, n: number): Promise<number> {
  const deadline = Date.now() + 2000;
  while (bodyFds(dir) !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return bodyFds(dir);
}

const fileOf = (s: DiskStore, e: ContractEntry): BodyFile => {
  const v = s.lookup(contractInput(e).objectKey, e.req ?? {});
  assert.ok(v !== undefined && v.body === undefined && v.bodyFile !== undefined, `${e.path}: a body only on disk`);
  return v.bodyFile;
};

/** Reads a body file through readInto (the fast path's read). */
const readInto = (f: BodyFile): Promise<Buffer> => new Promise((resolve, reject) => {
  const buf = Buffer.alloc(f.length + 1 + 7);
  f.readInto!(buf, 7, (err) => (err === null ? resolve(buf.subarray(7, 7 + f.length)) : reject(err)));
});

test('body files: one cached descriptor per hot file, at most 128, closed with their last variant and on close', { skip: !HAS_PROC && 'no /proc' }, async (t) => {
  const { dir, store } = await openStore(t);
  const entries: ContractEntry[] = Array.from({ length: 3 }, (_, i) => ({ path: `/f${i}`, body: Buffer.alloc(5000 + i, 65 + i) }));
  for (const e of entries) store.insert(contractInput(e));
  await store.flush();
  for (let round = 0; round < 3; round++) {
    for (const e of entries) assert.ok((await readInto(fileOf(store, e))).equals(e.body!));
  }
  assert.equal(store.diskStats().openFiles, 3);
  assert.equal(bodyFds(dir), 3, 'one descriptor per file, however often it is read');
  // The full path's read() shares them.
  assert.ok((await fileOf(store, entries[0]!).read()).equals(entries[0]!.body!));
  assert.equal(bodyFds(dir), 3);

  store.purge(objectTarget(entries[0]!), false);
  assert.equal(store.diskStats().openFiles, 2);
  assert.equal(await bodyFdsSettled(dir, 2), 2, 'a purged body\'s descriptor is closed at once (its file goes after the grace)');

  const more: ContractEntry[] = Array.from({ length: 140 }, (_, i) => ({ path: `/m${i}`, body: Buffer.from(`body ${i}`) }));
  for (const e of more) store.insert(contractInput(e));
  await store.flush();
  for (const e of more) assert.ok((await readInto(fileOf(store, e))).equals(e.body!));
  assert.equal(store.diskStats().openFiles, 128);
  assert.equal(await bodyFdsSettled(dir, 128), 128, 'the least recently read are closed past the bound');
  // Evicted from the cache, a file is still read (opened again).
  assert.ok((await readInto(fileOf(store, entries[1]!))).equals(entries[1]!.body!));

  await store.close();
  assert.equal(store.diskStats().openFiles, 0);
  assert.equal(await bodyFdsSettled(dir, 0), 0, 'close closes every descriptor');
});

test('body files: a read in flight when its variant is purged and its file unlinked completes with its bytes; the descriptor closes after it', { skip: !HAS_PROC && 'no /proc' }, async (t) => {
  const { dir, store } = await openStore(t);
  const a: ContractEntry = { path: '/x', body: Buffer.alloc(64 * 1024, 0x61) };
  store.insert(contractInput(a));
  await store.flush();
  const old = fileOf(store, a);
  assert.ok((await readInto(old)).equals(a.body!));
  assert.equal(bodyFds(dir), 1);
  // Reads in flight, then (before they can finish: they call back on a later turn) the purge and the unlink.
  const reads = [readInto(old), readInto(old)];
  store.purge(objectTarget(a), false);
  unlinkSync((old as BodyFile & { path: string }).path);
  assert.equal(bodyFds(dir), 1, 'not closed under the reads in flight');
  for (const r of await Promise.all(reads)) assert.ok(r.equals(a.body!), 'the reads in flight got their bytes');
  assert.equal(await bodyFdsSettled(dir, 0), 0, 'closed once the last read finished');

  // A new body under the same URL gets a new file; the old file's reference never reads it.
  const b: ContractEntry = { path: '/x', body: Buffer.alloc(64 * 1024, 0x62) };
  store.insert(contractInput(b));
  await store.flush();
  assert.ok((await readInto(fileOf(store, b))).equals(b.body!));
  await assert.rejects(readInto(old), /ENOENT/, 'the purged file is gone, not replaced');
  await assert.rejects(old.read(), /ENOENT/);
  assert.equal(store.diskStats().openFiles, 1);
});

test('body files: a file shorter or longer than written is an error, never a short or padded body', async (t) => {
  const { store } = await openStore(t);
  const e: ContractEntry = { path: '/y', body: Buffer.alloc(10_000, 0x63) };
  store.insert(contractInput(e));
  await store.flush();
  const f = fileOf(store, e) as BodyFile & { path: string };
  const { truncateSync, appendFileSync } = await import('node:fs');
  truncateSync(f.path, 9_999);
  await assert.rejects(readInto(f), /9999 bytes where 10000 were written/);
  appendFileSync(f.path, Buffer.alloc(2));
  await assert.rejects(readInto(f), /longer than the 10000 bytes written/);
  await assert.rejects(f.read(), /longer than/);
});

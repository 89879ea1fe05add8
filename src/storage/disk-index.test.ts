// The disk store's index file against crash images: a torn journal tail, records without files, files without records, a snapshot older than the files.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskStore } from './disk.js';
import { contractInput, type ContractEntry } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { bodyOf } from './store.js';
import { crc32, INDEX_DIR, markCrashed } from './disk-index.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-index-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(t: TestContext, dir: string): Promise<DiskStore> {
  const store = await DiskStore.open({ path: dir, maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue });
  t.after(() => store.close());
  return store;
}

const entry = (i: number, body = `body ${i}`): ContractEntry => ({ path: `/o/${i}`, body: Buffer.from(body), headers: [['x-i', String(i)], ['etag', `"${body}"`]] });

/** What a request for `e` is served from `s`: its fields loaded as the edge loads them, and its body; undefined for a miss. */
async function served(s: DiskStore, e: ContractEntry): Promise<string | undefined> {
  const v = s.lookup(contractInput(e).objectKey, {});
  if (v === undefined || (await s.loadFields(v)) === false) return undefined;
  return `${v.fieldMap.etag} ${(await bodyOf(v)).toString()}`;
}

const indexFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, INDEX_DIR))).filter((n) => n.startsWith('index-')).sort();


test('CRC-32 is the standard one (IEEE, as zlib and gzip compute it)', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
});

test('a restart loads every entry from the index (no entry file read); its fields are read when it is served', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 20; i++) first.insert(contractInput(entry(i)));
  first.insert(contractInput(entry(3, 'replaced')));
  first.remove(first.lookup(contractInput(entry(4)).objectKey, {})!);
  await first.close();
  const second = await openStore(t, dir);
  assert.equal(second.diskStats().loaded, 19);
  assert.equal(second.diskStats().indexed, 19, 'every entry came from the index');
  assert.equal(await served(second, entry(3)), '"replaced" replaced');
  assert.equal(await served(second, entry(4)), undefined, 'removed before the restart');
  assert.equal(await served(second, entry(7)), '"body 7" body 7');
  assert.equal(second.diskStats().fieldLoads, 2);
});

test('a torn journal tail: the records before it are used, the entries after it are read from their files', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 10; i++) { first.insert(contractInput(entry(i))); await first.flush(); await new Promise((r) => setImmediate(r)); }
  await first.close();
  const journal = (await indexFiles(dir)).find((n) => n.endsWith('.journal'))!;
  const size = (await stat(join(dir, INDEX_DIR, journal))).size;
  await truncate(join(dir, INDEX_DIR, journal), size - 30); // the last frame cut midway (and the clean close's after it)
  await appendFile(join(dir, INDEX_DIR, journal), Buffer.from([0, 0, 0, 9, 1, 2])); // and a torn frame head after it
  const second = await openStore(t, dir);
  assert.equal(second.diskStats().loaded, 10);
  assert.ok(second.diskStats().indexed < 10 && second.diskStats().indexed > 0, `indexed ${second.diskStats().indexed}`);
  for (let i = 0; i < 10; i++) assert.equal(await served(second, entry(i)), `"body ${i}" body ${i}`);
  await second.close();
  const third = await openStore(t, dir);
  assert.equal(third.diskStats().indexed, 10, 'the index was rewritten whole (compacted) after the torn open');
});

test('records whose entry files are gone are dropped; files without records are read; neither is served wrong', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 6; i++) first.insert(contractInput(entry(i)));
  await first.close();
  const files = (await readdir(dir)).filter((n) => n.endsWith('.entry')).sort();
  await unlink(join(dir, files[0]!)); // a record without its file: the crash came before the journal had its deletion
  markCrashed(dir);
  const second = await openStore(t, dir);
  assert.equal(second.diskStats().loaded, 5);
  assert.equal(await served(second, entry(0)), undefined);
  await second.close();
  // No index at all (deleted, or an older version's directory): every entry file is read, then indexed again.
  await rm(join(dir, INDEX_DIR), { recursive: true });
  const third = await openStore(t, dir);
  assert.deepEqual([third.diskStats().loaded, third.diskStats().indexed], [5, 0]);
  for (let i = 1; i < 6; i++) assert.equal(await served(third, entry(i)), `"body ${i}" body ${i}`);
  await third.close();
  const fourth = await openStore(t, dir);
  assert.deepEqual([fourth.diskStats().loaded, fourth.diskStats().indexed], [5, 5]);
  assert.equal((await readdir(join(dir, 'bodies'))).length, 5, 'the body file of the entry whose file went is deleted');
});

test('an index older than the files (a crash lost its newer records: replacements, removals, new entries) loads what the files say', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 5; i++) first.insert(contractInput(entry(i)));
  await first.flush();
  await new Promise((r) => setImmediate(r));
  const old = new Map<string, Buffer>();
  for (const n of await indexFiles(dir)) old.set(n, await readFile(join(dir, INDEX_DIR, n)));
  await first.close();
  const second = await openStore(t, dir);
  second.insert(contractInput(entry(1, 'newer')));
  second.remove(second.lookup(contractInput(entry(2)).objectKey, {})!);
  second.insert(contractInput(entry(9)));
  await second.close();
  await rm(join(dir, INDEX_DIR), { recursive: true });
  await mkdir(join(dir, INDEX_DIR));
  for (const [n, b] of old) await writeFile(join(dir, INDEX_DIR, n), b);
  const third = await openStore(t, dir);
  assert.equal(third.diskStats().loaded, 5);
  assert.equal(await served(third, entry(1)), '"newer" newer');
  assert.equal(await served(third, entry(2)), undefined);
  assert.equal(await served(third, entry(9)), '"body 9" body 9');
  assert.equal(await served(third, entry(0)), '"body 0" body 0');
});

test('a soft purge of a cold variant rewrites its entry with its fields read from the old one; it stays stale after a restart', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  first.insert(contractInput({ ...entry(1), tags: ['t'] }));
  await first.close();
  const second = await openStore(t, dir);
  const v = second.lookup(contractInput(entry(1)).objectKey, {})!;
  assert.equal(v.hasFields, false);
  assert.equal(second.purge({ kind: 'tag', zoneId: 'z', tag: 't' }, true), 1);
  await second.close();
  const third = await openStore(t, dir);
  const again = third.lookup(contractInput(entry(1)).objectKey, {})!;
  assert.equal(again.forcedStale, true);
  assert.equal(await served(third, entry(1)), '"body 1" body 1', 'its fields came through the rewrite');
});

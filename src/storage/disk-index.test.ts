// The disk store's index file against crash images: a torn journal tail, records without files, files without records, a snapshot older than the files.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskStore } from './disk.js';
import { contractInput, objectTarget, type ContractEntry } from './store.contract.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { bodyOf } from './store.js';
import { crc32, DiskIndex, INDEX_DIR, markCrashed } from './disk-index.js';
import { primaryKey } from '../cache/key.js';

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

/** An entry file's name as the store gives it (disk-load.ts entryName). */
const entryNameOf = (seq: number): string => `${seq.toString(36).padStart(11, '0')}.entry`;
const entryFileNames = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.entry')).sort();

test('after a clean close the index is trusted (no entry or body file listed); after a crash image the directory is checked', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 4; i++) first.insert(contractInput(entry(i)));
  await first.close();
  // Files no record names (here planted; a clean close leaves none): only a listing finds them.
  await writeFile(join(dir, entryNameOf(10 ** 9)), 'not an entry');
  await writeFile(join(dir, 'bodies', `${(10 ** 9 + 1).toString(36)}.body`), 'an orphan');
  const second = await openStore(t, dir);
  assert.deepEqual([second.diskStats().loaded, second.diskStats().indexed, second.diskStats().corrupt], [4, 4, 0]);
  for (let i = 0; i < 4; i++) assert.equal(await served(second, entry(i)), `"body ${i}" body ${i}`);
  await second.close();
  markCrashed(dir);
  const third = await openStore(t, dir);
  assert.deepEqual([third.diskStats().loaded, third.diskStats().indexed, third.diskStats().corrupt], [4, 4, 1]);
  await third.flush();
  assert.equal((await entryFileNames(dir)).length, 4, 'the stray entry file is deleted');
  assert.equal((await readdir(join(dir, 'bodies'))).length, 4, 'and the orphan body');
});

test('an open that trusted a clean close no longer vouches for the index once it runs: a crash image of it is checked', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 3; i++) first.insert(contractInput(entry(i)));
  await first.close();
  await (await openStore(t, dir)).close(); // its open rewrote the index; its close recorded nothing but itself
  const second = await openStore(t, dir);
  assert.equal(second.diskStats().indexed, 3);
  // kill -9 right after the start, before it wrote anything: the directory as it is while `second` runs (its lock
  // names this process: taken over), with a file only a listing finds.
  const image = await tempDir(t);
  await cp(dir, image, { recursive: true });
  await writeFile(join(image, entryNameOf(10 ** 9)), 'not an entry');
  const third = await openStore(t, image);
  assert.equal(third.diskStats().corrupt, 1, 'the entry files were listed');
  assert.equal(third.diskStats().loaded, 3);
  assert.equal(await served(third, entry(1)), '"body 1" body 1');
});

test('purges stay purged across clean closes: targeted (tag, URL) and purge everything, hard and soft', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  first.insert(contractInput({ ...entry(1), tags: ['t'] }));
  first.insert(contractInput(entry(2)));
  first.insert(contractInput({ ...entry(3), zoneId: 'y' }));
  first.insert(contractInput({ ...entry(4), zoneId: 'w' }));
  first.insert(contractInput(entry(5)));
  assert.equal(first.purge({ kind: 'tag', zoneId: 'z', tag: 't' }, false), 1);
  assert.equal(first.purge(objectTarget(entry(2)), false), 1);
  first.purge({ kind: 'everything', zoneId: 'y' }, false);
  first.purge({ kind: 'everything', zoneId: 'w' }, true);
  await first.close();
  for (let round = 0; round < 2; round++) {
    const s = await openStore(t, dir);
    assert.equal(s.diskStats().indexed, s.diskStats().loaded, 'from the clean index');
    assert.equal(await served(s, entry(1)), undefined);
    assert.equal(await served(s, entry(2)), undefined);
    assert.equal(s.lookup(contractInput({ ...entry(3), zoneId: 'y' }).objectKey, {}), undefined);
    assert.equal(s.lookup(contractInput({ ...entry(4), zoneId: 'w' }).objectKey, {})?.forcedStale, true);
    assert.equal(await served(s, entry(5)), '"body 5" body 5');
    await s.close();
  }
  assert.equal((await entryFileNames(dir)).length, 2, 'the purged entries\' files are gone');
});

/** The first format's frame: a JSON array of records (disk-index-legacy.ts), length and CRC-32 big-endian. */
function legacyFrame(records: unknown[]): Buffer {
  const payload = Buffer.from(JSON.stringify(records));
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

test('an index of the first format (JSON, in the cache directory) is read on upgrade, then replaced; a damaged one falls back to the entry files', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 5; i++) first.insert(contractInput(entry(i)));
  await first.close();
  const image = new DiskIndex(dir, (err) => { throw err; }).read();
  const wires = Array.from({ length: image.records.size }, (_, i) => {
    const r = image.records.record(i, primaryKey);
    const f = r.freshness;
    return [r.seq, r.zoneId, r.host, r.path, r.query, '', r.keyNames, r.selector, r.status,
      [f.lifetime, f.correctedInitialAge, f.responseTime, f.staleWhileRevalidate, f.staleIfError, 0], f.lifetimeSource, f.directivesSource,
      r.tags, 0, r.storedAt, r.bodyLength, r.file];
  });
  assert.equal(wires.length, 5);
  await rm(join(dir, INDEX_DIR), { recursive: true });
  await writeFile(join(dir, 'index-3.snapshot'), legacyFrame(wires.slice(0, 4)));
  await writeFile(join(dir, 'index-3.journal'), Buffer.concat([legacyFrame([wires[4], wires[0]![0]])]));
  const second = await openStore(t, dir);
  assert.deepEqual([second.diskStats().loaded, second.diskStats().indexed], [5, 4], 'the deletion was replayed: entry 0 read from its file');
  for (let i = 0; i < 5; i++) assert.equal(await served(second, entry(i)), `"body ${i}" body ${i}`);
  await second.flush();
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('index-')), [], 'the first format\'s files go once the index is rewritten');
  await second.close();
  const third = await openStore(t, dir);
  assert.deepEqual([third.diskStats().loaded, third.diskStats().indexed], [5, 5]);
  await third.close();
  await rm(join(dir, INDEX_DIR), { recursive: true });
  await writeFile(join(dir, 'index-4.snapshot'), Buffer.from('[[ not an index'));
  const fourth = await openStore(t, dir);
  assert.deepEqual([fourth.diskStats().loaded, fourth.diskStats().indexed], [5, 0]);
  for (let i = 0; i < 5; i++) assert.equal(await served(fourth, entry(i)), `"body ${i}" body ${i}`);
});

test('after a clean close too, an entry the store refuses on load (maxBytes lowered) goes with its body file', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  for (let i = 0; i < 3; i++) first.insert(contractInput(entry(i)));
  await first.close();
  const small = await DiskStore.open({ path: dir, maxBytes: 100, normalize: normalizeVaryValue });
  t.after(() => small.close());
  assert.equal(small.diskStats().loaded, 0);
  await small.flush();
  assert.deepEqual(await entryFileNames(dir), []);
  assert.deepEqual(await readdir(join(dir, 'bodies')), [], 'no body file is left behind');
});

test('a close with a fill still open does not vouch for the files (the fill\'s body file may come after): the next open lists them', async (t) => {
  const dir = await tempDir(t);
  const first = await openStore(t, dir);
  first.insert(contractInput(entry(1)));
  const done = first.beginFill()!;
  done.append(Buffer.from('abc'), () => {});
  await done.abort();
  await first.close();
  await writeFile(join(dir, entryNameOf(10 ** 9)), 'not an entry');
  const second = await openStore(t, dir);
  assert.equal(second.diskStats().corrupt, 0, 'a fill aborted before the close: the close vouched for the files');
  const open = second.beginFill()!;
  open.append(Buffer.from('abc'), () => {});
  await second.close();
  const third = await openStore(t, dir);
  assert.equal(third.diskStats().corrupt, 1, 'the entry files were listed');
  assert.equal(await served(third, entry(1)), '"body 1" body 1');
  await open.abort();
});

test('a crash image where an entry read from its file shares its body file with an indexed sibling: one body, kept while either is', async (t) => {
  const dir = await tempDir(t);
  const body = Buffer.from('the same bytes for both origins');
  const a: ContractEntry = { path: '/shared', req: { origin: 'https://a.example' }, body, headers: [['etag', '"a"']] };
  const b: ContractEntry = { path: '/shared', req: { origin: 'https://b.example' }, body, headers: [['etag', '"b"']] };
  const first = await openStore(t, dir);
  first.insert(contractInput(a));
  await first.flush();
  await new Promise((r) => setImmediate(r));
  const old = new Map<string, Buffer>();
  for (const n of await indexFiles(dir)) old.set(n, await readFile(join(dir, INDEX_DIR, n)));
  first.insert(contractInput(b));
  await first.close();
  assert.equal((await readdir(join(dir, 'bodies'))).length, 1, 'one body file for both');
  // The crash came before b's record reached the index: b is read from its entry file.
  await rm(join(dir, INDEX_DIR), { recursive: true });
  await mkdir(join(dir, INDEX_DIR));
  for (const [n, buf] of old) await writeFile(join(dir, INDEX_DIR, n), buf);
  const second = await openStore(t, dir);
  assert.deepEqual([second.diskStats().loaded, second.diskStats().indexed], [2, 1]);
  second.remove(second.lookup(contractInput(a).objectKey, a.req!)!);
  await second.close(); // a's body record goes; the file stays for b
  const third = await openStore(t, dir);
  const v = third.lookup(contractInput(b).objectKey, b.req!);
  assert.ok(v);
  assert.equal((await bodyOf(v)).toString(), body.toString());
});

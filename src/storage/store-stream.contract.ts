// The contract cases on what a store streams (part of the one suite, run by runCacheStoreContract): fills written as
// they arrive (in progress, completed, cut midway, overtaken by a purge), a body write that fails, and byte ranges read
// from a stored body. A store that does not stream says so, and the suite checks that it indeed offers no fill.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { bodyOf, type StoredVariant } from './store.js';
import { cacheStoreCases, contractInput, objectTarget, type ContractEntry, type OpenedCacheStore } from './store.contract.js';

/** What a store declares about streaming: fills into body files (its OpenedCacheStore then has breakWrites), or none and why. */
export type StreamCapability = { fills: true } | { fills: false; why: string };

/** Bytes `start`..`end` (inclusive) of a stored body: from its file when it has one (as the edge reads a range), else from memory. */
export async function rangeOf(v: StoredVariant, start: number, end: number): Promise<Buffer> {
  if (v.bodyFile === undefined) return v.body!.subarray(start, end + 1);
  const chunks: Buffer[] = [];
  for await (const c of v.bodyFile.stream(start, end)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const NO_BODY = Buffer.alloc(0);

export function runStreamContract(name: string, open: () => Promise<OpenedCacheStore>, cap: StreamCapability): void {
  const { withStore, find } = cacheStoreCases(name, open);

  withStore('ranges: any byte range of a stored body reads back exactly (first byte, last byte, across read buffers, whole)', async ({ store, settle }) => {
    const body = randomBytes(300_000);
    const e: ContractEntry = { path: '/range.bin', body };
    assert.ok(store.insert(contractInput(e)));
    await settle?.();
    const v = find(store, e);
    assert.ok(v, 'stored');
    assert.equal(v.bodyLength, body.length);
    for (const [start, end] of [[0, 0], [body.length - 1, body.length - 1], [1000, 70_000], [65_535, 65_536 * 3], [0, body.length - 1]] as const) {
      assert.ok((await rangeOf(v, start, end)).equals(body.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    if (cap.fills) assert.ok(v.bodyFile, 'a store that streams keeps the body in a file too, once written: the ranges above were read from it');
  });

  if (!cap.fills) {
    withStore(`streaming fills and failing body writes: not offered (${cap.why})`, async ({ store }) => {
      assert.equal(store.beginFill, undefined, 'a store declared not to stream offers no beginFill');
    });
    return;
  }

  withStore('a fill in progress: its file holds the bytes written so far; nothing is visible until it is stored; then a hit, ranges and reopen', async ({ store, reopen, current, settle }) => {
    const e: ContractEntry = { path: '/fill.bin' };
    const older: ContractEntry = { path: '/replace.bin', body: Buffer.from('the older complete body') };
    assert.ok(store.insert(contractInput(older)));
    const body = randomBytes(200_000);
    const w = store.beginFill!();
    assert.ok(w, 'a fill starts');
    const other = store.beginFill!()!;
    w.append(body.subarray(0, 70_000), () => {});
    other.append(body.subarray(0, 10), () => {});
    await w.queued;
    assert.equal(w.written, 70_000);
    assert.ok((await readFile(w.path)).subarray(0, w.written).equals(body.subarray(0, 70_000)), 'readers of the growing file see what was written');
    assert.equal(find(store, e), undefined, 'a fill in progress is not a stored variant');
    w.append(body.subarray(70_000), () => {});
    const file = await w.commit(body.length);
    assert.equal(file.length, body.length);
    assert.equal(find(store, e), undefined, 'committed but not yet inserted: still not visible');
    const v = store.insert({ ...contractInput(e), headers: [['content-length', String(body.length)]], body: NO_BODY, bodyFile: file });
    assert.ok(v, 'stored');
    assert.equal(find(store, e)?.id, v.id);
    assert.equal(v.bodyLength, body.length);
    assert.ok((await bodyOf(v)).equals(body), 'the whole body');
    assert.ok((await rangeOf(v, 199_990, 199_999)).equals(body.subarray(199_990)), 'a range of the filled body, from its file');
    // A second fill of another variant, abandoned: the first one's body is untouched.
    await other.abort();
    assert.equal((await bodyOf(find(store, older)!)).toString(), 'the older complete body', 'other entries untouched');
    if (reopen) {
      await settle?.();
      await reopen();
      const again = find(current(), e);
      assert.ok(again, 'a stored fill survives a reopen');
      assert.ok((await bodyOf(again)).equals(body));
    }
  });

  withStore('readers open a fill at any moment: at once (before its file exists) and while it commits (across the rename)', async ({ store }) => {
    // Each race is narrow (two thread-pool operations): repeated, a reader that opened the path itself failed here.
    const body = randomBytes(4096);
    const readBack = async (opening: Promise<import('node:fs/promises').FileHandle>, what: string): Promise<void> => {
      const fh = await opening;
      try {
        const buf = Buffer.alloc(body.length);
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        assert.ok(bytesRead === 0 || buf.subarray(0, bytesRead).equals(body.subarray(0, bytesRead)), `${what}: the fill's bytes`);
      } finally { await fh.close(); }
    };
    for (let i = 0; i < 300; i++) {
      const w = store.beginFill!()!;
      const early = readBack(w.openForRead(), 'opened at once');
      w.append(body, () => {});
      const committed = w.commit(body.length);
      const during = (async () => { await new Promise((r) => setImmediate(r)); await readBack(w.openForRead(), 'opened during the commit'); })();
      await Promise.all([early, committed, during]);
      await readBack(w.openForRead(), 'opened after the commit');
    }
  });

  withStore('a fill cut midway is never visible as complete: aborted, or committed short, its file goes and the older variant stays', async ({ store, reopen, current, settle }) => {
    const e: ContractEntry = { path: '/cut.bin', body: Buffer.from('complete older body') };
    assert.ok(store.insert(contractInput(e)));
    const body = randomBytes(100_000);
    const aborted = store.beginFill!()!;
    aborted.append(body.subarray(0, 40_000), () => {});
    await aborted.queued;
    await aborted.abort();
    assert.equal(existsSync(aborted.path), false, 'an aborted fill leaves no file');
    const short = store.beginFill!()!;
    short.append(body.subarray(0, 60_000), () => {});
    await assert.rejects(short.commit(body.length), 'committing fewer bytes than declared fails');
    assert.equal(existsSync(short.path), false, 'a short fill leaves no file');
    assert.equal((await bodyOf(find(store, e)!)).toString(), 'complete older body', 'the complete older body is still what is served');
    assert.equal(find(store, { path: '/never.bin' }), undefined);
    if (reopen) {
      await settle?.();
      await reopen();
      assert.equal((await bodyOf(find(current(), e)!)).toString(), 'complete older body', 'and after a reopen');
    }
  });

  withStore('a fill overtaken by a purge of its URL is not stored (insert with the epoch its fetch started at)', async ({ store }) => {
    const e: ContractEntry = { path: '/purged-fill.bin' };
    const started = store.epoch();
    const body = randomBytes(50_000);
    const w = store.beginFill!()!;
    w.append(body, () => {});
    store.purge(objectTarget(e), false);
    const file = await w.commit(body.length);
    assert.equal(store.insert({ ...contractInput(e), body: NO_BODY, bodyFile: file }, started), undefined, 'purged while it was filled: not stored');
    assert.equal(find(store, e), undefined);
  });

  withStore('a body write that fails: a fill fails to commit and is never visible; a plain insert is served, and after a reopen is whole or absent', async ({ store, reopen, current, settle, breakWrites }) => {
    assert.ok(breakWrites, 'a store that streams provides breakWrites() to show what a failing write does');
    const kept: ContractEntry = { path: '/kept.bin', body: randomBytes(20_000) };
    assert.ok(store.insert(contractInput(kept)));
    await settle?.();
    const restore = await breakWrites();
    let restored = false;
    try {
      const body = randomBytes(80_000);
      const w = store.beginFill!();
      if (w !== undefined) {
        w.append(body, () => {});
        await assert.rejects(w.commit(body.length), 'a fill whose writes failed does not commit');
      }
      assert.equal(find(store, { path: '/failed-fill.bin' }), undefined);
      const plain: ContractEntry = { path: '/unwritten.bin', body: randomBytes(30_000) };
      const v = store.insert(contractInput(plain));
      assert.ok(v, 'stored in memory even though its file cannot be written');
      assert.ok((await bodyOf(v)).equals(plain.body!), 'and served whole');
      await settle?.();
      await restore();
      restored = true;
      if (reopen) {
        await reopen();
        const again = find(current(), plain);
        assert.ok(again === undefined || (await bodyOf(again)).equals(plain.body!), 'never torn: whole or absent');
        const k = find(current(), kept);
        assert.ok(k && (await bodyOf(k)).equals(kept.body!), 'what was written before the failure is intact');
      }
    } finally {
      if (!restored) await restore();
    }
  });
}

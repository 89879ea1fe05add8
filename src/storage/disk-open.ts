// DiskStore.open()'s load: the entries found on disk (disk-load.ts) become variants in write order, with the purge journal
// replayed between them; purged, refused and torn entries and unnamed body files are deleted; the index is brought up to date.
import { join } from 'node:path';
import { DiskBody } from './disk-body.js';
import type { BodyFiles } from './disk-bodies.js';
import { indexRecordOf, type DiskIndex } from './disk-index.js';
import { entryName, foundEntries, hasId, scanDirectory, unnamed, type FoundMeta } from './disk-load.js';
import type { DiskStats, DiskStoreLogger } from './disk-options.js';
import { fsyncDir, type PurgeLog } from './disk-purge-log.js';
import type { MemoryStore } from './memory.js';
import type { MemoryVariant } from './variant.js';

const NO_FIELDS: [string, string][] = [];

/** The parts of the DiskStore being opened that its load reads and fills (lent by the store for the load). */
export interface LoadTarget {
  readonly dir: string;
  readonly logger: DiskStoreLogger | undefined;
  readonly mem: MemoryStore;
  readonly log: PurgeLog;
  readonly index: DiskIndex;
  readonly bodies: BodyFiles;
  readonly stats: DiskStats;
  /** Entry files of the older naming, by seq: filled by the load. */
  readonly legacy: Map<number, string>;
  /** The store's sequence number from now on: above every file, record and marker found. */
  setSeq(seq: number): void;
  track(p: Promise<void>): Promise<void>;
  unlinkEntry(seq: number): Promise<void>;
  persist(v: MemoryVariant): void;
  compact(): Promise<void>;
  flush(): Promise<void>;
}

/** The body files the load tells apart: those loaded that more than one entry may name, the indexed ones, the shared ones. */
interface LoadIds { bodies: Map<number, DiskBody>; indexed: Float64Array; shared: Set<number> }

/**
 * Fills `t.mem` from the directory: from the index alone after a clean close, else from a scan of the entry and body
 * files too; a purge journalled on disk applies to exactly the files written before it, so a purged response never
 * comes back after a restart.
 */
export async function loadStore(t: LoadTarget): Promise<void> {
  const dir = t.dir;
  const image = t.index.read();
  // After a clean close the index names exactly the entry and body files there are: neither is listed (two million names).
  const scan = image.clean ? { files: [], bodyIds: undefined, legacy: new Map<number, string>() } : await scanDirectory(dir);
  for (const [seq, name] of scan.legacy) t.legacy.set(seq, name);
  const { files, bodyIds } = scan;
  const journal = t.log.readJournal();
  let max = Math.max(files.length > 0 ? files[files.length - 1]! : 0, image.maxSeq);
  if (bodyIds !== undefined && bodyIds.length > 0) max = Math.max(max, bodyIds[bodyIds.length - 1]!);
  for (const r of journal) max = Math.max(max, r.seq);
  const markers = t.log.readMarkers();
  if (markers === undefined) {
    // Written atomically, so this is damage from outside: purges may be lost, so nothing on disk is trusted.
    t.logger?.error({ path: dir }, 'disk cache: purge markers unreadable; dropping the whole disk cache');
    t.log.markers = { cleared: max, zones: {} };
    t.log.saveMarkers();
  } else {
    t.log.markers = markers;
    max = Math.max(max, markers.cleared);
    for (const m of Object.values(markers.zones)) max = Math.max(max, m.hard, m.soft);
  }
  t.setSeq(max);
  // Before any file changes: the clean close's record is no longer the newest, and what changes is journalled.
  t.index.openJournal();

  // One record per body file, whichever variants name it (shared bodies stay shared): the files named more than once
  // are told first, so only they (and those of entries read from their files) go through a map.
  const fileIds = image.records.fileIds();
  const ids: LoadIds = { bodies: new Map(), indexed: fileIds.sorted, shared: fileIds.shared };
  const migrate: MemoryVariant[] = [];
  const unindexed: MemoryVariant[] = [];
  const gone: number[] = [];
  /** Body files of the entries dropped while loading (purged, refused). */
  const dropped: number[] = [];
  let j = 0;
  for await (const batch of foundEntries(dir, scan, image.clean ? undefined : files, image.records, gone)) for (const found of batch) {
    const seq = found.seq;
    // Targeted purges replay in order with the files: one covers exactly the files written before it.
    while (j < journal.length && journal[j]!.seq < seq) { const r = journal[j++]!; t.mem.purge(r.target, r.soft); }
    if (found.reason !== undefined) {
      t.stats.corrupt++;
      t.logger?.warn({ file: join(dir, entryName(seq, t.legacy)), reason: found.reason }, 'disk cache: a torn or corrupt entry was skipped and deleted');
      void t.track(t.unlinkEntry(seq));
      continue;
    }
    const { meta, body } = found;
    const zone = t.log.markers.zones[meta.zoneId];
    if (seq <= t.log.markers.cleared || (zone && seq <= zone.hard)) { skip(t, seq, meta.file, dropped); continue; }
    const v = loadEntry(t, meta, body, bodyFile(t, meta, found.indexed, ids), zone !== undefined && seq <= zone.soft);
    if (!v) { skip(t, seq, meta.file, dropped); continue; }
    v.entry = seq;
    // An entry of the older format (body after its meta): rewritten as a body file and a meta file.
    if (meta.file === undefined) migrate.push(v);
    else if (!found.indexed) unindexed.push(v);
    else { v.dropFields(); t.stats.indexed++; }
    t.stats.loaded++;
  }
  image.records.release();
  while (j < journal.length) { const r = journal[j++]!; t.mem.purge(r.target, r.soft); }
  // Body files no entry names (a crash between a body's write and its entry's, or during a purge) are deleted.
  if (bodyIds !== undefined) {
    const live = t.mem.allVariants();
    const named = new Float64Array(live.length); // 0 (no body file of its own yet) is no file's id
    live.forEach((v, i) => { named[i] = v.fileId ?? 0; }); // parked bodies too (their variant holds the id)
    for (const id of unnamed(bodyIds, named)) void t.track(t.bodies.unlink(id));
  } else for (const id of dropped) {
    // Not listed (a clean close): the body files of the entries dropped above go unless a loaded variant shares one.
    const f = ids.shared.has(id) ? ids.bodies.get(id) : undefined;
    if (f === undefined || f.record === undefined || f.record.refs === 0) void t.track(t.bodies.unlink(id));
  }
  // The journal's purges are now applied and their files gone: start it afresh.
  await t.flush();
  await fsyncDir(dir);
  t.log.openJournal();
  // Records whose files are gone (left in the index by a crash) go; entries read from their files get records.
  for (const seq of gone) t.index.delete(seq);
  for (const v of unindexed) if (t.mem.holds(v)) { t.index.put(indexRecordOf(v, v.entry)); v.dropFields(); }
  for (const v of migrate) if (t.mem.holds(v)) t.persist(v);
  t.bodies.boundDisk();
  // One snapshot of what was loaded replaces the files read, in the background.
  if (image.journalLines > 0 || image.torn > 0 || image.legacy || gone.length > 0 || unindexed.length > 0) void t.compact();
}

/**
 * The one body file object of the file an entry names, whichever variants name it: those more than one index
 * record names, and those of entries read from their files, are kept in `ids.bodies`. An entry read from its file
 * (after a crash) whose file an index record names too finds it on the sibling variant loaded from that record.
 */
function bodyFile(t: LoadTarget, meta: FoundMeta, indexed: boolean, ids: LoadIds): DiskBody | undefined {
  const id = meta.file;
  if (id === undefined) return undefined;
  let file = ids.bodies.get(id);
  if (file !== undefined) return file;
  if (!indexed && hasId(ids.indexed, id)) {
    for (const s of t.mem.variantsOf(meta.objectKey)) {
      const f = (s as MemoryVariant).bodyRecord?.file; // a parked sibling: insert() gives it this file (unparkAs)
      if (f instanceof DiskBody && f.id === id) file = f;
    }
  }
  file ??= new DiskBody(t.bodies, id, meta.bodyLength);
  if (!indexed || ids.shared.has(id)) ids.bodies.set(id, file);
  return file;
}

/** An entry found on disk is not loaded (purged, refused): its file goes, and its body file's id is noted. */
function skip(t: LoadTarget, seq: number, file: number | undefined, dropped: number[]): void {
  void t.track(t.unlinkEntry(seq));
  if (file !== undefined) dropped.push(file);
}

/**
 * The variant an entry found on disk stands for, inserted in the index (undefined when the store refuses it): the
 * one place a record becomes a variant, with its body file (`#bodyFile`).
 */
function loadEntry(t: LoadTarget, meta: FoundMeta, body: Buffer, file: DiskBody | undefined, purgedSoft: boolean): MemoryVariant | undefined {
  const v = t.mem.insert({
    zoneId: meta.zoneId, host: meta.host, path: meta.path, query: meta.query, objectKey: meta.objectKey,
    keyNames: meta.keyNames, selector: meta.selector, status: meta.status, headers: meta.headers ?? NO_FIELDS, body, bodyFile: file,
    freshness: meta.freshness, tags: meta.tags, soft: meta.forcedStale || purgedSoft, storedAt: meta.storedAt,
  }) as MemoryVariant | undefined;
  if (v !== undefined && file !== undefined && file.record === undefined) t.bodies.adopt(file, v.bodyRecord!);
  return v;
}

// The disk tier's index at scale: N small objects only on disk (default 1,000,000): open() time, and the JS heap the
// index holds per object after GC, beside nginx's keys_zone (about 8,000 keys per MiB: ~128 B per key).
//
//   node --expose-gc --import tsx bench/index-1m.ts [--objects N] [--dir DIR] [--keep] [--crashed]
//
// The directory is filled at store level, not through HTTP (1M fills would take far longer than the figure is worth):
// for each object a body file (100 bytes), an entry file (disk-format.ts, with the fields an edge stores for a
// `Vary: Origin` response) and its index record, as a DiskStore writes them, without an fsync per file. Then
// DiskStore.open() is timed, the heap measured (GC'd before and after), one object's fields loaded as a hit would.
// The directory is as a clean close leaves it (the index trusted, the entry files not listed); with --crashed, as a
// run killed after its start leaves it (every entry file listed and checked against the index).
// With --keep the directory stays (a second run with --dir reuses it and skips the fill).
import v8 from 'node:v8';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { primaryKey, selectorOf } from '../src/cache/key.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import type { Freshness } from '../src/cache/policy/types.js';
import { DiskStore } from '../src/storage/disk.js';
import { encodeEntry, type EntryMeta } from '../src/storage/disk-format.js';
import { DiskIndex, markCrashed, type IndexRecord } from '../src/storage/disk-index.js';
import { bodyPath, BODIES_DIR } from '../src/storage/disk-body.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) { process.stderr.write('run with: node --expose-gc --import tsx bench/index-1m.ts\n'); process.exit(2); }
const collect = (): void => { for (let i = 0; i < 6; i++) gc!(); };

const objects = Number(arg('objects') ?? 1_000_000);
const given = arg('dir');
const dir = given ?? mkdtempSync(join(tmpdir(), 'edgecache-index-1m-'));
const keep = process.argv.includes('--keep') || given !== undefined;
const crashed = process.argv.includes('--crashed');
const HOST = '127.0.0.1:9103';
const NOW = Date.UTC(2026, 5, 1, 12);
const BODY = Buffer.alloc(100, 7);

function meta(i: number): EntryMeta {
  const path = `/unique/mem-abcdef-edgecache-${i}`;
  const origin = `https://app${i % 4}.example`;
  const keyNames = ['origin'];
  const freshness: Freshness = {
    lifetime: 86_400, correctedInitialAge: 0, responseTime: NOW + Math.floor(i / 250) * 1000, staleWhileRevalidate: 0, staleIfError: 0,
    noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
  };
  return {
    seq: 2 * i + 2, zoneId: 'default', host: HOST, path, query: '', objectKey: primaryKey('default', HOST, path, ''), keyNames,
    selector: selectorOf(keyNames, { origin }, normalizeVaryValue), status: 200,
    headers: [
      ['content-type', 'application/javascript'], ['cache-control', 'public, max-age=86400'], ['vary', 'Origin'],
      ['etag', `"${i.toString(16)}-64"`], ['last-modified', new Date(Date.UTC(2026, 0, 1)).toUTCString()],
      ['date', new Date(freshness.responseTime).toUTCString()], ['access-control-allow-origin', origin], ['content-length', String(BODY.length)],
    ],
    freshness, tags: [], forcedStale: false, storedAt: freshness.responseTime, bodyLength: BODY.length, file: 2 * i + 1,
  };
}

async function fill(): Promise<void> {
  mkdirSync(join(dir, BODIES_DIR), { recursive: true });
  const t0 = performance.now();
  for (let i = 0; i < objects; i++) {
    const m = meta(i);
    writeFileSync(bodyPath(dir, m.file!), BODY);
    writeFileSync(join(dir, `${m.seq.toString(36).padStart(11, '0')}.entry`), Buffer.concat(await encodeEntry(Buffer.from(JSON.stringify(m)), Buffer.alloc(0))));
  }
  const index = new DiskIndex(dir, (err) => { throw err; });
  index.openJournal();
  await index.compact(function* records(): Generator<IndexRecord> {
    for (let i = 0; i < objects; i++) { const { headers: _, ...r } = meta(i); yield r as IndexRecord; }
  });
  index.close(2 * objects + 2); // as a store's clean close leaves it
  process.stderr.write(`filled ${objects} objects in ${Math.round(performance.now() - t0)} ms\n`);
}

try {
  if (!existsSync(join(dir, BODIES_DIR))) await fill();
  if (crashed) markCrashed(dir);
  collect();
  const before = v8.getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const store = await DiskStore.open({ path: dir, maxBytes: 64 * 1024 ** 3, memoryMaxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue });
  const openMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const openCpuMs = (cpu.user + cpu.system) / 1000; // the machine may be shared: CPU time is the figure load does not inflate
  const stats = store.diskStats();
  await store.flush(); // a compaction the open started, if any
  collect();
  const after = v8.getHeapStatistics().used_heap_size;
  const perObject = (after - before) / stats.loaded;
  // One object served as a hit would be: its fields read from its entry file.
  const m = meta(objects >> 1);
  const v = store.lookup(m.objectKey, { origin: `https://app${(objects >> 1) % 4}.example` });
  const loaded = v !== undefined && (await store.loadFields(v)) !== false && v.fieldMap.etag === m.headers[3]![1];
  await store.close();
  const out = {
    objects, crashed, loaded: stats.loaded, indexed: stats.indexed, openMs: Math.round(openMs), openCpuMs: Math.round(openCpuMs), heapPerObject: Math.round(perObject),
    nginxKeysZonePerKey: 128, fieldsLoadedOnHit: loaded,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.stdout.write(
    `open() loaded ${stats.loaded} entries (${stats.indexed} from the index) in ${(openMs / 1000).toFixed(1)} s (${(openCpuMs / 1000).toFixed(1)} s of CPU); ` +
    `index heap ${out.heapPerObject} B per object only on disk (nginx keys_zone: ~128 B per key; target ≤ 400 B)\n`,
  );
  if (!loaded) process.exitCode = 1;
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

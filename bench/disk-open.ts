// Start-up time of the disk tier: writes N small entries (a body file and an entry file each) into a fresh directory,
// closes the store, then times DiskStore.open, which rebuilds the index from the entry files without reading bodies.
//
//   node --import tsx bench/disk-open.ts [--objects N] [--dir DIR]   (DIR: default a temp dir under /dev/shm or tmp)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DiskStore } from '../src/storage/disk.js';
import { contractInput } from '../src/storage/store.contract.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const objects = Number(arg('objects') ?? 10_000);
const dir = arg('dir') ?? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'edgecache-disk-open-'));
const open = (): Promise<DiskStore> => DiskStore.open({ path: dir, maxBytes: 4 * 1024 ** 3, memoryMaxBytes: 1, normalize: normalizeVaryValue });
try {
  const first = await open();
  for (let i = 0; i < objects; i++) {
    first.insert(contractInput({ path: `/o/${i}`, body: Buffer.alloc(100, i & 0xff) }));
    if (i % 1000 === 999) await first.flush();
  }
  await first.close();
  const t0 = performance.now();
  const second = await open();
  const ms = performance.now() - t0;
  const loaded = second.diskStats().loaded;
  await second.close();
  process.stdout.write(`${JSON.stringify({ objects, loaded, openMs: Math.round(ms), perObjectUs: Math.round((ms * 1000) / objects) })}\n`);
  process.stdout.write(`open() rebuilt the index of ${loaded} entries in ${Math.round(ms)} ms (${((ms * 1000) / objects).toFixed(0)} us per entry)\n`);
} finally {
  if (arg('dir') === undefined) rmSync(dir, { recursive: true, force: true });
}

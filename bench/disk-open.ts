// Start-up time of the disk tier: writes N small entries (a body file and an entry file each) into a fresh directory,
// closes the store, then times DiskStore.open, which rebuilds the index from the index files without reading bodies:
// after that clean close (the index trusted as it is), then after a crash (the entry and body files listed and checked).
//
//   node --import tsx bench/disk-open.ts [--objects N] [--dir DIR]   (DIR: default a temp dir under /dev/shm or tmp)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DiskStore } from '../src/storage/disk.js';
import { contractInput } from '../src/storage/store.contract.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import { markCrashed } from '../src/storage/disk-index.js';

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
  // After a clean close (the index trusted), then as a run killed after its start leaves it (every file listed).
  const timed = async (): Promise<{ ms: number; cpuMs: number; loaded: number }> => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const store = await open();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const loaded = store.diskStats().loaded;
    await store.close();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, loaded };
  };
  const clean = await timed();
  markCrashed(dir);
  const crashed = await timed();
  const us = (ms: number): number => Math.round((ms * 1000) / objects);
  process.stdout.write(`${JSON.stringify({ objects, loaded: clean.loaded, openMs: Math.round(clean.ms), openCpuMs: Math.round(clean.cpuMs), perObjectUs: us(clean.ms),
    crashedOpenMs: Math.round(crashed.ms), crashedOpenCpuMs: Math.round(crashed.cpuMs), crashedPerObjectUs: us(crashed.ms) })}\n`);
  process.stdout.write(`open() rebuilt the index of ${clean.loaded} entries in ${Math.round(clean.ms)} ms (${us(clean.ms)} us per entry, ${Math.round(clean.cpuMs)} ms of CPU) after a clean close; ` +
    `${Math.round(crashed.ms)} ms (${us(crashed.ms)} us per entry, ${Math.round(crashed.cpuMs)} ms of CPU) after a crash\n`);
} finally {
  if (arg('dir') === undefined) rmSync(dir, { recursive: true, force: true });
}

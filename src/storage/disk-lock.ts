// Disk store directory lock: one store per cache directory, across processes (pid file) and within this one.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DiskStoreError } from './disk-format.js';

const LOCK_FILE = 'lock';

/** Directories this process holds: a lock with our own pid that is not among them was left by an earlier process. */
const held = new Set<string>();

/** One store per cache directory: two stores on one directory would delete each other's files. */
export function takeLock(dir: string): void {
  const file = join(dir, LOCK_FILE);
  if (held.has(resolve(dir))) throw new DiskStoreError('DISK_STORE_LOCKED', `cache.path ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try { writeFileSync(file, String(process.pid), { flag: 'wx' }); held.add(resolve(dir)); return; } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    try { pid = Number(readFileSync(file, 'utf8').trim()); } catch { continue; }
    if (pid !== process.pid && isAlive(pid)) { // our own pid here: a restarted container (pid 1 again), say
      throw new DiskStoreError('DISK_STORE_LOCKED', `cache.path ${dir} is in use by process ${pid}: give each node (and each worker) its own directory`);
    }
    try { unlinkSync(file); } catch { /* another process took it over: try again */ }
  }
  throw new DiskStoreError('DISK_STORE_LOCKED', `cannot take the lock on cache.path ${dir}`);
}

export function releaseLock(dir: string): void {
  held.delete(resolve(dir));
  try { if (readFileSync(join(dir, LOCK_FILE), 'utf8').trim() === String(process.pid)) unlinkSync(join(dir, LOCK_FILE)); } catch { /* already gone */ }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

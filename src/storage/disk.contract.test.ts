// The store contract suites on DiskStore (the async interface through asAsyncStore, and the synchronous CacheStore), each test in its own temporary directory.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCacheStoreContract, runStoreContract } from './store.contract.js';
import { DiskStore } from './disk.js';
import { asAsyncStore, type AsyncStore } from './store.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';

runStoreContract('disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-contract-'));
  const open = async (): Promise<AsyncStore> => asAsyncStore(await DiskStore.open({ path: dir, maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue }));
  let current = await open();
  return {
    store: current,
    reopen: async () => { await current.close(); current = await open(); return current; },
    cleanup: async () => { await current.close(); await rm(dir, { recursive: true, force: true }); },
  };
});

runCacheStoreContract('disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-disk-contract-'));
  const open = (): Promise<DiskStore> => DiskStore.open({ path: dir, maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue });
  let current = await open();
  return {
    store: current,
    reopen: async () => { await current.close(); current = await open(); return current; },
    cleanup: async () => { await current.close(); await rm(dir, { recursive: true, force: true }); },
    settle: () => current.flush(),
    // A file where the bodies directory was: every body file open fails (ENOTDIR), whoever runs the test (root too).
    breakWrites: async () => {
      const bodies = join(dir, 'bodies');
      await rename(bodies, `${bodies}.away`);
      await writeFile(bodies, 'not a directory');
      return async () => { await rm(bodies, { force: true }); await rename(`${bodies}.away`, bodies); };
    },
  };
}, { fills: true });

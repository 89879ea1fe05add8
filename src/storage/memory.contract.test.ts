// The store contract suites on MemoryStore: the async interface (through asAsyncStore) and the synchronous CacheStore.
import { runCacheStoreContract, runStoreContract } from './store.contract.js';
import { MemoryStore } from './memory.js';
import { asAsyncStore } from './store.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';

runStoreContract('memory', async () => {
  const store = asAsyncStore(new MemoryStore({ maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue }));
  return { store, cleanup: () => store.close() };
}, { persistent: false });

runCacheStoreContract('memory', async () => {
  const store = new MemoryStore({ maxBytes: 64 * 1024 * 1024, normalize: normalizeVaryValue });
  return { store, cleanup: () => store.close() };
}, { fills: false, why: 'the memory store keeps whole bodies; the edge buffers a fill for it (shared-body.ts)' });

// cache.maxBytes bounds real memory: a memory store filled past its bound with many small variants holds
// at most 1.5× maxBytes of heap. Measured in a child process started with --expose-gc (bench/store-heap.ts --max-bytes),
// so a full garbage collection comes before each reading; the shapes are the ones whose cost the old charge missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_BYTES = 8 * 1024 * 1024;

interface Filled { maxBytes: number; charged: number; grown: number; grownOverMaxBytes: number; variants: number; evictions: number }

/** Fills a store bounded to MAX_BYTES with `objects` inserts of `shape` (about twice what fits). */
function fill(objects: number, shape: string[]): Promise<Filled> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/store-heap.ts', '--objects', String(objects), '--max-bytes', String(MAX_BYTES), ...shape],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.split('\n')[0]!) as Filled);
      });
  });
}

const SHAPES: Record<string, [number, string[]]> = {
  'one URL per variant, a 2-byte body each, three fields': [16_000, ['--body', '2', '--few-fields']],
  '64 Origins per URL, one shared body': [24_000, ['--body', '32', '--per-url', '64', '--unique-origins', '--same-body', '--few-fields']],
  'edge-like: eight fields, 1 KiB bodies': [8_000, ['--body', '1024']],
};

for (const [name, [objects, shape]] of Object.entries(SHAPES)) {
  test(`a store full of small variants holds at most 1.5× maxBytes of heap: ${name}`, async () => {
    const r = await fill(objects, shape);
    assert.ok(r.evictions > 0, 'more was inserted than fits: the store is at its bound');
    assert.ok(r.charged <= MAX_BYTES && r.charged > MAX_BYTES * 0.95, `charged ${r.charged} of ${MAX_BYTES}`);
    assert.ok(r.grown <= 1.5 * MAX_BYTES, `the heap grew by ${r.grown} B for a ${MAX_BYTES} B bound (×${r.grownOverMaxBytes}) with ${r.variants} variants`);
    // The charge follows the cost instead of over-charging it: the bound is not wasted either.
    assert.ok(r.grown >= 0.6 * MAX_BYTES, `the heap grew by only ${r.grown} B: charges are far above real costs`);
  });
}

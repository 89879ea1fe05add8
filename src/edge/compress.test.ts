// Compression's hold on bodies: an identity representation serves the body the variant has in memory now, and lets go
// of one that left the memory tier (a disk tier demoted it), so no body stays in memory outside the tier's accounting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { IncomingMessage } from 'node:http';
import { createCompression } from './compress.js';
import { zoneSchema } from '../config/schema.js';
import type { StoredVariant } from '../storage/store.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const zone = zoneSchema.parse({ id: 'z', origin: 'http://127.0.0.1:9', compress: { enabled: true } });
const ranged = { headers: { range: 'bytes=0-1', 'accept-encoding': 'gzip' } } as unknown as IncomingMessage;
const plain = { headers: { 'accept-encoding': 'identity' } } as unknown as IncomingMessage;

/** A variant whose body a test moves in and out of memory, as a disk tier's memory tier does. */
function variant(length: number): StoredVariant & { body: Buffer | undefined } {
  const headers: [string, string][] = [['content-type', 'text/plain'], ['content-length', String(length)]];
  return {
    id: 1, seq: 1, zoneId: 'z', host: 'h', path: '/p', query: '', objectKey: 'k', keyNames: [], selector: '', status: 200, headers,
    flatHeaders: headers.flat(), fieldMap: Object.fromEntries(headers), body: undefined, bodyLength: length, bodyFile: undefined,
    freshness: { lifetime: 60, correctedInitialAge: 0, responseTime: 0, staleWhileRevalidate: 0, staleIfError: 0, noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control' },
    tags: [], forcedStale: false, storedAt: 0, size: 0,
  } as unknown as StoredVariant & { body: Buffer | undefined };
}

test('the identity representation serves the body in memory now: a body read back into memory replaces the old one', () => {
  const c = createCompression(1 << 20);
  const v = variant(50_000);
  const first = Buffer.alloc(50_000, 'a');
  v.body = first;
  assert.equal(c.represent(ranged, zone, v).body, first);
  v.body = undefined;
  assert.equal(c.represent(ranged, zone, v), v, 'a body only on disk is served as stored');
  const again = Buffer.alloc(50_000, 'a');
  v.body = again;
  assert.equal(c.represent(ranged, zone, v).body, again, 'not the Buffer the variant had before');
});

test('a body that left the memory tier is not kept alive by its identity representation', async () => {
  const c = createCompression(1 << 20);
  const v = variant(200_000);
  let body: Buffer | undefined = Buffer.alloc(200_000, 'b');
  const ref = new WeakRef(body);
  v.body = body;
  assert.equal(c.represent(ranged, zone, v).bodyLength, 200_000);
  body = undefined;
  v.body = undefined;       // demoted: the variant is still indexed, its body only on disk
  assert.equal(c.represent(plain, zone, v), v);
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(ref.deref(), undefined, 'the demoted body was collected');
});

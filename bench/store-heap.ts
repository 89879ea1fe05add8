// Heap cost per cached object in MemoryStore (the target: at most 2 KiB beyond the body): inserts N edge-like variants, prints bytes/object beyond the body,
// and what the store charged for them against cache.maxBytes (the charge must follow the real cost).
//
//   node --expose-gc --import tsx bench/store-heap.ts [--objects N] [--lookups N] [--body BYTES] [--per-url K] [--unique-origins] [--snapshot FILE]
//
// --body: body bytes (default 1024); --per-url K: K variants (Origins) per URL (default 1); --unique-origins: every
// variant's Origin is new (a flood), else Origins repeat across URLs (app0..app{K-1}); --same-body: every body has the
// same bytes (held once), as one representation served to many Origins; --few-fields: only Content-Type, Date and
// Content-Length (the smallest responses an origin sends). --disk-only: every body is a file of a disk tier (the
// index of a DiskStore after open, nothing in the memory tier): what the index costs per object only on disk, the
// figure nginx's keys_zone (about 128 B per key) is compared with. --max-bytes B bounds the store (cache.maxBytes):
// insert more than fits and compare what the heap grew by with B (real memory within 1.5× maxBytes).
//
// Each insert is built the way src/edge/flight.ts builds a VariantInput for a 1 KiB `/unique/...` response carrying
// `Vary: Origin`: key names ['origin'], the selector from the request's Origin, the origin's fields (content-type,
// cache-control, vary, etag, last-modified, date, access-control-allow-origin, content-length) and the host, path and
// header values as fresh strings every time (as the HTTP parser hands them over), so interning is really exercised.
// Prints one line of JSON, then a readable line. `--snapshot FILE` also writes a heap snapshot (open it in Chrome DevTools, Memory tab).
import v8 from 'node:v8';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { primaryKey, selectorOf } from '../src/cache/key.js';
import { normalizeVaryValue } from '../src/cache/policy/vary.js';
import type { Freshness } from '../src/cache/policy/types.js';
import { MemoryStore } from '../src/storage/memory.js';
import { DiskBody, type BodyHome } from '../src/storage/disk-body.js';
import type { VariantInput } from '../src/storage/store.js';

const BODY_BYTES = Number(arg('body') ?? 1024);
const PER_URL = Number(arg('per-url') ?? 1);
const UNIQUE_ORIGINS = process.argv.includes('--unique-origins');
const SAME_BODY = process.argv.includes('--same-body');
const FEW_FIELDS = process.argv.includes('--few-fields');
const DISK_ONLY = process.argv.includes('--disk-only');
const HOME: BodyHome = { dir: '/nonexistent', promote: () => {}, readInto: (_f, _b, _a, done) => done(new Error('no files here')) };
const NO_BODY = Buffer.alloc(0);
const ORIGINS = Math.max(4, PER_URL);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with: node --expose-gc --import tsx bench/store-heap.ts\n');
  process.exit(2);
}

/** A copy that shares no memory with `s`: what the HTTP parser hands over for every request. */
function fresh(s: string): string { return Buffer.from(s, 'latin1').toString('latin1'); }

function collect(): void { for (let i = 0; i < 6; i++) gc!(); }

function heap(): { used: number; external: number } {
  const h = v8.getHeapStatistics();
  return { used: h.used_heap_size, external: h.external_memory };
}

const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();

/** One response as the edge stores it, for the i-th unique URL, at wall-clock `now`. */
function makeInput(i: number, now: number): { input: VariantInput; req: Record<string, string> } {
  const port = 9103;
  const host = fresh(`127.0.0.1:${port}`);
  const path = fresh(`/unique/mem-abcdef-edgecache-${Math.floor(i / PER_URL)}`);
  const origin = fresh(UNIQUE_ORIGINS ? `https://attacker-${i}.example` : `https://app${i % ORIGINS}.example`);
  const req = { host, origin, accept: fresh('*/*') };
  const keyNames = ['origin'].filter((n) => n !== 'x'); // a fresh array each time, as mergeNames builds it
  const body = DISK_ONLY ? Buffer.alloc(4, i) : Buffer.allocUnsafeSlow(BODY_BYTES); // flight.ts ownedCopy: its own ArrayBuffer
  if (DISK_ONLY) { /* the body is a file */ } else if (SAME_BODY) body.fill(7); else randomFillSync(body);
  const headers: [string, string][] = [
    [fresh('content-type'), fresh('application/javascript')],
    [fresh('cache-control'), fresh('public, max-age=3600')],
    [fresh('vary'), fresh('Origin')],
    [fresh('etag'), fresh(`"${i.toString(16)}-${(BODY_BYTES >= 4 ? body.readUInt32BE(0) : i).toString(16)}"`)],
    [fresh('last-modified'), fresh(LAST_MODIFIED)],
    [fresh('date'), fresh(new Date(now).toUTCString())],
    [fresh('access-control-allow-origin'), fresh(origin)],
    ['content-length', String(BODY_BYTES)],
  ].filter(([n]) => !FEW_FIELDS || n === 'content-type' || n === 'content-length' || n === 'date') as [string, string][];
  const freshness: Freshness = {
    lifetime: 3600, correctedInitialAge: 0, responseTime: now, staleWhileRevalidate: 0, staleIfError: 0,
    noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
  };
  const zoneId = 'default';
  const query = '';
  const input: VariantInput = {
    zoneId, host, path, query, objectKey: primaryKey(zoneId, host, path, query), keyNames,
    selector: selectorOf(keyNames, req, normalizeVaryValue), status: 200, headers, body, freshness, tags: [],
  };
  if (DISK_ONLY) { input.body = NO_BODY; input.bodyFile = new DiskBody(HOME, i + 1, BODY_BYTES); }
  return { input, req };
}

function main(): void {
  const objects = Number(arg('objects') ?? 10_000);
  if (arg('max-bytes') !== undefined && !(Number(arg('max-bytes')) > 0)) throw new Error('--max-bytes must be a positive number');
  const lookups = Number(arg('lookups') ?? 1_000_000);
  const snapshot = arg('snapshot');
  if (!Number.isInteger(objects) || objects <= 0) throw new Error('--objects must be a positive integer');

  const maxBytes = arg('max-bytes') === undefined ? undefined : Number(arg('max-bytes'));
  const store = new MemoryStore({ maxBytes: maxBytes ?? 1024 ** 4, normalize: normalizeVaryValue, maxVariants: Math.max(64, PER_URL), chargeBodies: !DISK_ONLY });
  collect();
  const before = heap();

  // About 250 inserts per wall-clock second, as a busy edge filling itself: Date values repeat within a second.
  // Nothing of an input is kept here: what stays on the heap after the inserts is the store's.
  const t0 = Date.UTC(2026, 5, 1, 12);
  let insertMs = 0; // the store's own time: building each input is left out
  for (let i = 0; i < objects; i++) {
    const { input } = makeInput(i, t0 + Math.floor(i / 250) * 1000);
    const start = performance.now();
    const stored = store.insert(input);
    insertMs += performance.now() - start;
    if (stored === undefined && maxBytes === undefined) throw new Error(`insert ${i} was refused`);
  }
  const insertNs = (insertMs * 1e6) / objects;
  if (maxBytes === undefined && store.stats().variants !== objects) throw new Error(`expected ${objects} variants, have ${store.stats().variants}`);
  collect();
  const after = heap();
  if (maxBytes !== undefined) {
    // Bounded: what the heap grew by against the bound, with the store full (evicting) after more inserts than fit.
    const grown = after.used - before.used + after.external - before.external;
    const stats = store.stats();
    const out = {
      maxBytes, charged: store.chargedBytes(), grown, grownOverMaxBytes: Math.round((grown / maxBytes) * 100) / 100,
      variants: stats.variants, evictions: stats.evictions, bodies: stats.bodies, bodyBytes: stats.bodyBytes,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.stdout.write(`${stats.variants} variants held in ${maxBytes} B (charged ${out.charged} B): the heap grew by ${grown} B (×${out.grownOverMaxBytes} maxBytes)\n`);
    return;
  }
  const usedPerObject = (after.used - before.used) / objects;
  const externalPerObject = (after.external - before.external) / objects - (SAME_BODY || DISK_ONLY ? 0 : BODY_BYTES);
  const realPerObject = (after.used - before.used + after.external - before.external) / objects;
  const chargedPerObject = store.chargedBytes() / objects;

  // Hit path: the request's own key and Origin strings (not the stored ones), as each request brings them.
  const reqs = Array.from({ length: objects }, (_, i) => {
    const { input, req } = makeInput(i, t0);
    return { objectKey: input.objectKey, req: { origin: req.origin } };
  });
  let hits = 0;
  const lookupStart = performance.now();
  for (let n = 0; n < lookups; n++) {
    const k = reqs[(n * 7919) % objects]!;
    if (store.lookup(k.objectKey, k.req) !== undefined) hits++;
  }
  const lookupNs = ((performance.now() - lookupStart) * 1e6) / lookups;
  // A hot object: the same one hit again and again (already the most recently used).
  const hot = reqs[0]!;
  const hotStart = performance.now();
  for (let n = 0; n < lookups; n++) if (store.lookup(hot.objectKey, { origin: hot.req.origin }) !== undefined) hits++;
  const hotNs = ((performance.now() - hotStart) * 1e6) / lookups;
  if (hits !== 2 * lookups) throw new Error(`expected every lookup to hit, ${2 * lookups - hits} missed`);

  if (snapshot) v8.writeHeapSnapshot(snapshot);
  const result = {
    objects, bodyBytes: BODY_BYTES, diskOnly: DISK_ONLY,
    perUrl: PER_URL, uniqueOrigins: UNIQUE_ORIGINS,
    heapUsedPerObject: Math.round(usedPerObject), externalOverheadPerObject: Math.round(externalPerObject),
    realPerObject: Math.round(realPerObject), chargedPerObject: Math.round(chargedPerObject),
    realOverCharged: Math.round((realPerObject / chargedPerObject) * 100) / 100,
    insertNsPerObject: Math.round(insertNs), lookupNsPerHit: Math.round(lookupNs * 10) / 10,
    hotLookupNsPerHit: Math.round(hotNs * 10) / 10,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    `${objects} objects: ${result.heapUsedPerObject} B of JS heap per object, ${result.externalOverheadPerObject} B external beyond the ${BODY_BYTES} B body; ` +
    `charged ${result.chargedPerObject} B, real ${result.realPerObject} B (×${result.realOverCharged}); ` +
    `insert ${result.insertNsPerObject} ns (GC pauses included), hit ${result.lookupNsPerHit} ns (spread over all), ` +
    `${result.hotLookupNsPerHit} ns (one hot object)\n`,
  );
  void store.close();
}

main();

// Tests for a cold variant's packed numbers: every number and freshness comes back exactly, whatever its size or kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { coldFreshness, coldNumbers, packCold, type ColdNumbers } from './packed-freshness.js';
import type { Freshness } from '../cache/policy/types.js';

const FRESH: Freshness = {
  lifetime: 86_400, correctedInitialAge: 0, responseTime: Date.UTC(2026, 5, 1, 12), staleWhileRevalidate: 0, staleIfError: 0,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
};

test('the usual numbers (whole, small; ms dates) take a few units: 18 for a cold variant with a parked body', () => {
  const n: ColdNumbers = { storedAt: FRESH.responseTime, size: 974, entry: 2_000_002, file: 2_000_001, length: 100 };
  const s = packCold(n, FRESH)!;
  assert.equal(s.length, 18); // 16 + 2 × 18 = 52 bytes of heap (56 with rounding)
  assert.deepEqual(coldNumbers(s), n);
  assert.deepEqual(coldFreshness(s), FRESH);
});

test('any doubles, flags and known sources come back exactly (property)', () => {
  const num = fc.oneof(fc.double(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    fc.constantFrom(0, -0, 2 ** 32, 2 ** 48 - 1, 2 ** 48, -1, 0.5, Infinity, NaN));
  fc.assert(fc.property(
    fc.array(num, { minLength: 10, maxLength: 10 }), fc.boolean(), fc.boolean(), fc.boolean(),
    fc.constantFrom('s-maxage', 'max-age', 'expires', 'heuristic', 'default-ttl', 'none'),
    fc.constantFrom('cloudflare-cdn-cache-control', 'cdn-cache-control', 'surrogate-control', 'cache-control'),
    (x, noStaleServing, alwaysRevalidate, heuristic, lifetimeSource, directivesSource) => {
      const n: ColdNumbers = { storedAt: x[0]!, size: x[1]!, entry: x[2]!, file: x[3]!, length: x[4]! };
      const f: Freshness = {
        lifetime: x[5]!, correctedInitialAge: x[6]!, responseTime: x[7]!, staleWhileRevalidate: x[8]!, staleIfError: x[9]!,
        noStaleServing, alwaysRevalidate, heuristic, lifetimeSource: lifetimeSource as Freshness['lifetimeSource'],
        directivesSource: directivesSource as Freshness['directivesSource'],
      };
      const s = packCold(n, f)!;
      const back = coldNumbers(s);
      for (const k of Object.keys(n) as (keyof ColdNumbers)[]) assert.ok(Object.is(back[k], n[k]), `${k}: ${back[k]} for ${n[k]}`);
      const bf = coldFreshness(s);
      for (const k of Object.keys(f) as (keyof Freshness)[]) assert.ok(Object.is(bf[k], f[k]), `${k}: ${String(bf[k])} for ${String(f[k])}`);
    },
  ), { numRuns: 2000 });
});

test('a source the packing does not know is not packed (the variant keeps its fields then)', () => {
  assert.equal(packCold({ storedAt: 1, size: 1, entry: 1, file: 0, length: 0 }, { ...FRESH, lifetimeSource: 'other' as Freshness['lifetimeSource'] }), undefined);
});

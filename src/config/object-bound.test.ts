// Config `cache.maxObjectBytes`: 1 GiB by default with a disk tier, up to 16 GiB and beyond; bounded by cache.maxBytes without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from './load.js';

const ZONE = { id: 'z', origin: 'http://127.0.0.1:9000' };
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

test('with a disk tier: maxObjectBytes defaults to 1 GiB; 16 GiB and 40 GiB are kept (bounded only by disk.maxBytes)', () => {
  assert.equal(validateConfig({ cache: { disk: { path: '/var/cache/e' } }, zones: [ZONE] }, 't').cache.maxObjectBytes, GiB);
  assert.equal(validateConfig({ cache: { disk: { path: '/var/cache/e' }, maxObjectBytes: 16 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 16 * GiB);
  assert.equal(validateConfig({ cache: { store: 'disk', path: '/var/cache/e', maxObjectBytes: 40 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 40 * GiB);
  assert.equal(validateConfig({ cache: { disk: { path: '/d', maxBytes: 2 * GiB }, maxObjectBytes: 16 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 2 * GiB, 'not above the disk tier');
});

test('without a disk tier: the default is an eighth of cache.maxBytes (one object never evicts the store), an explicit value at most maxBytes', () => {
  assert.equal(validateConfig({ zones: [ZONE] }, 't').cache.maxObjectBytes, 32 * MiB, 'an eighth of the default 256 MiB: as before');
  assert.equal(validateConfig({ cache: { maxBytes: 4 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 512 * MiB);
  assert.equal(validateConfig({ cache: { maxBytes: 64 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, GiB, 'the 1 GiB default still applies');
  assert.equal(validateConfig({ cache: { maxObjectBytes: 100 * MiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 100 * MiB, 'explicit: the operator\'s choice');
  assert.equal(validateConfig({ cache: { maxObjectBytes: 16 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 256 * MiB, 'explicit: at most maxBytes');
  assert.equal(validateConfig({ cache: { maxBytes: 64 * GiB, maxObjectBytes: 16 * GiB }, zones: [ZONE] }, 't').cache.maxObjectBytes, 4 * GiB, 'never past Node\'s largest Buffer (a fill is buffered whole)');
  assert.equal(validateConfig({ cache: { maxBytes: 1000, maxObjectBytes: 10 }, zones: [ZONE] }, 't').cache.maxObjectBytes, 10);
});

test('maxObjectBytes: not an integer, zero, negative or beyond a safe integer is refused', () => {
  for (const bad of [0, -1, 1.5, 2 ** 60, '1g']) {
    assert.throws(() => validateConfig({ cache: { maxObjectBytes: bad }, zones: [ZONE] }, 't'), /maxObjectBytes/, String(bad));
  }
});

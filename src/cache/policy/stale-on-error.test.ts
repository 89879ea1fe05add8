// Tests for serving a stored response in place of a failed origin: stale-if-error (RFC 5861 §4) and a disconnected
// cache (RFC 9111 §4.2.4), with what forbids each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeFreshness } from './freshness.js';
import { isStaleIfErrorStatus, mayServeOnError, staleOnError } from './stale-on-error.js';
import { DEFAULT_POLICY_OPTIONS, type Freshness } from './types.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const fresh = (cacheControl: string): Freshness =>
  computeFreshness({ headers: {} }, { status: 200, headers: { date: new Date(T0).toUTCString(), 'cache-control': cacheControl } }, T0, T0, DEFAULT_POLICY_OPTIONS);
const stored = (cacheControl: string, forcedStale = false) => ({ freshness: fresh(cacheControl), forcedStale });

test('only 500, 502, 503 and 504 are errors stale-if-error covers (RFC 5861 §4)', () => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4
  assert.deepEqual([500, 501, 502, 503, 504, 505, 404, 200].map(isStaleIfErrorStatus), [true, false, true, true, true, false, false, false]);
});

test('the lookup\'s verdict: within the response\'s window, or the request\'s unless must-revalidate; never with no-cache', () => {
  // https://www.rfc-editor.org/rfc/rfc5861#section-4 and https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2
  const f = fresh('max-age=10, stale-if-error=60');
  assert.equal(mayServeOnError(f, 30, false, {}), true, 'stale by 20 s, window 60 s');
  assert.equal(mayServeOnError(f, 80, false, {}), false, 'stale by 70 s');
  assert.equal(mayServeOnError(fresh('max-age=10'), 30, false, { staleIfError: 60 }), true, 'the request allows it');
  assert.equal(mayServeOnError(fresh('max-age=10, must-revalidate'), 30, false, { staleIfError: 60 }), false, 'must-revalidate forbids it');
  assert.equal(mayServeOnError(fresh('max-age=10'), 5, true, {}), true, 'a fresh response can stand in');
  assert.equal(mayServeOnError(fresh('no-cache, max-age=10, stale-if-error=60'), 5, true, {}), false, 'no-cache: never');
});

test('an error status: the stored response answers only within stale-if-error and only for 500, 502, 503, 504', () => {
  const v = stored('max-age=0, stale-if-error=600');
  assert.equal(staleOnError(v, true, { status: 503 }), 'stale-if-error');
  assert.equal(staleOnError(v, true, { status: 404 }), undefined);
  assert.equal(staleOnError(v, true, { status: 501 }), undefined);
  assert.equal(staleOnError(v, false, { status: 503 }), undefined, 'outside the window');
});

test('no answer at all: stale-if-error, or a disconnected cache unless something forbids stale serving (RFC 9111 §4.2.4)', () => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4
  assert.equal(staleOnError(stored('max-age=0, must-revalidate'), true, { disconnected: false }), 'stale-if-error');
  assert.equal(staleOnError(stored('max-age=0'), false, { disconnected: true }), 'origin-unreachable');
  assert.equal(staleOnError(stored('max-age=0'), false, { disconnected: false }), undefined, 'a broken answer is no disconnection');
  for (const cc of ['max-age=0, must-revalidate', 'max-age=0, proxy-revalidate', 's-maxage=0', 'no-cache']) {
    assert.equal(staleOnError(stored(cc), false, { disconnected: true }), undefined, cc);
  }
  assert.equal(staleOnError(stored('max-age=0', true), false, { disconnected: true }), undefined, 'a soft purge asked for revalidation');
});

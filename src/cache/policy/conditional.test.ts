// Tests for conditional.ts: RFC 9110 §13 preconditions evaluated by a cache against a stored response, and the 304 field set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateConditionals, notModifiedHeaders } from './conditional.js';
import type { Headers } from './types.js';

const LM = 'Sun, 06 Nov 1994 08:49:37 GMT';
const LM_MS = Date.UTC(1994, 10, 6, 8, 49, 37);
const BEFORE_LM = 'Sat, 05 Nov 1994 08:49:37 GMT';
const AFTER_LM = 'Mon, 07 Nov 1994 08:49:37 GMT';
const DATE = 'Tue, 08 Nov 1994 08:49:37 GMT';

function stored(headers: Headers, status = 200) {
  return { status, headers };
}

// ---------------------------------------------------------------- If-None-Match, RFC 9110 §13.1.2

test('RFC 9110 §13.1.2: If-None-Match matching the stored strong ETag → 304 (GET and HEAD)', () => {
  const s = stored({ etag: '"abcdef"' });
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef"' }, s), 'not-modified');
  assert.equal(evaluateConditionals('HEAD', { 'if-none-match': '"abcdef"' }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"other"' }, s), 'none');
});

test('RFC 9110 §13.1.2: If-None-Match lists — first, middle, last member; several field lines', () => {
  const s = stored({ etag: '"abcdef"' });
  for (const inm of ['"abcdef", "1234", "5678"', '"1234", "abcdef", "5678"', '"1234","5678" ,\t"abcdef"']) {
    assert.equal(evaluateConditionals('GET', { 'if-none-match': inm }, s), 'not-modified', inm);
  }
  assert.equal(evaluateConditionals('GET', { 'if-none-match': ['"1234"', '"abcdef"'] }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"1234", "5678"' }, s), 'none');
});

test('RFC 9110 §8.8.3: a comma inside an opaque-tag does not split the If-None-Match list', () => {
  const s = stored({ etag: '"a,b"' });
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"x", "a,b"' }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"a", "b"' }, s), 'none');
});

test('RFC 9110 §13.1.2: If-None-Match uses weak comparison (W/ on either side still matches)', () => {
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'W/"abcdef"' }, stored({ etag: 'W/"abcdef"' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef"' }, stored({ etag: 'W/"abcdef"' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'W/"abcdef"' }, stored({ etag: '"abcdef"' })), 'not-modified');
});

test('RFC 9110 §13.1.2: If-None-Match: * → 304 when the cache holds a representation; no stored ETag → no match', () => {
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '*' }, stored({})), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef"' }, stored({})), 'none');
});

test('cache-tests conditional-etag-*-unquoted / obs-text checks: lenient weak comparison of malformed tags', () => {
  // Unquoted tags are read as quoted; an identical malformed validator matches itself.
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'abcdef' }, stored({ etag: '"abcdef"' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef"' }, stored({ etag: 'abcdef' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'abcdef' }, stored({ etag: 'abcdef' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'W\\"abcdef"' }, stored({ etag: 'W\\"abcdef"' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef\u00fc"' }, stored({ etag: '"abcdef\u00fc"' })), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': 'abcdeg' }, stored({ etag: '"abcdef"' })), 'none');
});

// ---------------------------------------------------------------- If-Modified-Since, RFC 9110 §13.1.3 / RFC 9111 §4.3.2

test('RFC 9110 §13.1.3: If-Modified-Since equal to or after Last-Modified → 304; before → none', () => {
  const s = stored({ 'last-modified': LM, date: DATE });
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': LM }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': AFTER_LM }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': BEFORE_LM }, s), 'none');
});

test('RFC 9110 §13.1.3: If-Modified-Since as an equivalent rfc850 or asctime date', () => {
  const s = stored({ 'last-modified': LM });
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': 'Sunday, 06-Nov-94 08:49:37 GMT' }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': 'Sun Nov  6 08:49:37 1994' }, s), 'not-modified');
});

test('RFC 9111 §4.3.2: without Last-Modified, If-Modified-Since is evaluated against Date, then the time received', () => {
  // Date after IMS: modified since → full response. (cache-tests conditional-lm-fresh-no-lm expects 304 here; we follow the RFC.)
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': LM }, stored({ date: DATE })), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': DATE }, stored({ date: DATE })), 'not-modified');
  assert.equal(
    evaluateConditionals('GET', { 'if-modified-since': DATE }, { status: 200, headers: {}, receivedAt: LM_MS }),
    'not-modified',
  );
  assert.equal(
    evaluateConditionals('GET', { 'if-modified-since': BEFORE_LM }, { status: 200, headers: {}, receivedAt: LM_MS }),
    'none',
  );
  // No modification date at all: IMS ignored (RFC 9110 §13.1.3).
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': DATE }, stored({})), 'none');
});

test('RFC 9110 §13.1.3: invalid, multi-member or non-GET If-Modified-Since is ignored', () => {
  const s = stored({ 'last-modified': LM });
  for (const ims of ['yesterday', 'Sun, 06 Nov 1994 08:49:37 gmt', `${AFTER_LM}, ${AFTER_LM}`, '']) {
    assert.equal(evaluateConditionals('GET', { 'if-modified-since': ims }, s), 'none', ims);
  }
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': [AFTER_LM, AFTER_LM] }, s), 'none');
  assert.equal(evaluateConditionals('POST', { 'if-modified-since': AFTER_LM }, s), 'none');
});

test('RFC 9111 §4.2: the stored Last-Modified is read in any case; the request date in the exact case', () => {
  const s = stored({ 'last-modified': 'SUN, 06 NOV 1994 08:49:37 gmt' });
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': LM }, s), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': BEFORE_LM }, s), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': BEFORE_LM }, s), 'precondition-failed');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': 'sat, 05 nov 1994 08:49:37 gmt' }, s), 'none');
});

test('RFC 9110 §5.6.7: an rfc850 If-Modified-Since is placed with the clock passed in', () => {
  const s = stored({ 'last-modified': 'Sun, 06 Nov 2095 08:49:37 GMT' });
  const ims = 'Sunday, 06-Nov-95 08:49:37 GMT';
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': ims }, s, { now: Date.UTC(2090, 0, 1) }), 'not-modified');
  assert.equal(evaluateConditionals('GET', { 'if-modified-since': ims }, s, { now: Date.UTC(2025, 0, 1) }), 'none', '1995');
});

test('RFC 9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since (cache-tests conditional-etag-precedence)', () => {
  const s = stored({ etag: '"abcdef"', 'last-modified': LM });
  // Matching INM + IMS that alone would give 200 → 304.
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abcdef"', 'if-modified-since': BEFORE_LM }, s), 'not-modified');
  // Non-matching INM + IMS that alone would give 304 → IMS is ignored → none.
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"nope"', 'if-modified-since': AFTER_LM }, s), 'none');
});

// ---------------------------------------------------------------- If-Match / If-Unmodified-Since, RFC 9110 §13.1.1, §13.1.4

test('RFC 9110 §13.1.1: If-Match uses strong comparison; false → 412 even for GET', () => {
  assert.equal(evaluateConditionals('GET', { 'if-match': '"abc"' }, stored({ etag: '"abc"' })), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-match': '"x", "abc"' }, stored({ etag: '"abc"' })), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-match': '"xyz"' }, stored({ etag: '"abc"' })), 'precondition-failed');
  assert.equal(evaluateConditionals('HEAD', { 'if-match': 'W/"abc"' }, stored({ etag: 'W/"abc"' })), 'precondition-failed');
  assert.equal(evaluateConditionals('GET', { 'if-match': '"abc"' }, stored({})), 'precondition-failed');
  assert.equal(evaluateConditionals('GET', { 'if-match': '*' }, stored({})), 'none');
});

test('RFC 9110 §13.1.4: If-Unmodified-Since earlier than Last-Modified → 412; ignored with If-Match, invalid, or no Last-Modified', () => {
  const s = stored({ 'last-modified': LM, etag: '"abc"' });
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': BEFORE_LM }, s), 'precondition-failed');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': LM }, s), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': BEFORE_LM, 'if-match': '"abc"' }, s), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': 'garbage' }, s), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-unmodified-since': BEFORE_LM }, stored({ date: DATE })), 'none');
});

test('RFC 9110 §13.2.2: If-Match is evaluated before If-None-Match', () => {
  const s = stored({ etag: '"abc"' });
  assert.equal(evaluateConditionals('GET', { 'if-match': '"zzz"', 'if-none-match': '"abc"' }, s), 'precondition-failed');
  assert.equal(evaluateConditionals('GET', { 'if-match': '"abc"', 'if-none-match': '"abc"' }, s), 'not-modified');
});

test('RFC 9111 §4.3.2: evaluateOriginPreconditions:false ignores If-Match / If-Unmodified-Since', () => {
  const s = stored({ etag: '"abc"', 'last-modified': LM });
  const req = { 'if-match': '"zzz"', 'if-unmodified-since': BEFORE_LM };
  assert.equal(evaluateConditionals('GET', req, s, { evaluateOriginPreconditions: false }), 'none');
});

test('RFC 9110 §13.2.1 / RFC 9111 §4.3.2: nothing is evaluated for a non-2xx stored response or a non-GET/HEAD method', () => {
  const req = { 'if-none-match': '*', 'if-match': '"zzz"' };
  assert.equal(evaluateConditionals('GET', req, stored({ etag: '"abc"' }, 404)), 'none');
  assert.equal(evaluateConditionals('GET', req, stored({ etag: '"abc"' }, 301)), 'none');
  assert.equal(evaluateConditionals('PUT', req, stored({ etag: '"abc"' })), 'none');
  assert.equal(evaluateConditionals('GET', { 'if-none-match': '"abc"' }, stored({ etag: '"abc"' }, 203)), 'not-modified');
  assert.equal(evaluateConditionals('GET', {}, stored({ etag: '"abc"' })), 'none');
});

// ---------------------------------------------------------------- 304 fields, RFC 9110 §15.4.5

test('RFC 9110 §15.4.5: a 304 carries Cache-Control, Content-Location, Date, ETag, Expires, Vary and no other metadata', () => {
  const h = notModifiedHeaders({
    'cache-control': 'max-age=60',
    'content-location': '/a',
    date: DATE,
    etag: '"abc"',
    expires: DATE,
    vary: ['Origin', 'Accept-Encoding'],
    'last-modified': LM,
    'content-type': 'text/plain',
    'content-length': '10',
    'content-encoding': 'gzip',
    'set-cookie': ['a=b'],
    'x-custom': '1',
  });
  assert.deepEqual(h, {
    'cache-control': 'max-age=60',
    'content-location': '/a',
    date: DATE,
    etag: '"abc"',
    expires: DATE,
    vary: ['Origin', 'Accept-Encoding'],
  });
});

test('RFC 9110 §15.4.5: Last-Modified is included when there is no ETag; arrays are copied, not shared', () => {
  const vary = ['Origin'];
  const h = notModifiedHeaders({ 'last-modified': LM, vary });
  assert.deepEqual(h, { 'last-modified': LM, vary: ['Origin'] });
  assert.notEqual(h['vary'], vary);
});

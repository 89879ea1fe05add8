// Tests for the table from each way of answering to cf-cache-status and RFC 9211 Cache-Status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANSWER_STATUS, answerStatus, cacheStatus, hitStatus, notStoredKind, type AnswerKind } from './cache-status.js';

test('every answer kind has its cf-cache-status (the values Cloudflare\'s users know, NONE for the edge\'s own)', () => {
  const cf = Object.fromEntries(Object.entries(ANSWER_STATUS).map(([k, v]) => [k, v.cf]));
  assert.deepEqual(cf, {
    hit: 'HIT', updating: 'UPDATING', stale: 'STALE', revalidated: 'REVALIDATED', 'tier-hit': 'HIT', miss: 'MISS',
    expired: 'EXPIRED', bypass: 'BYPASS', dynamic: 'DYNAMIC', 'only-if-cached': 'NONE', 'origin-error': 'NONE',
    preflight: 'NONE', 'edge-error': 'NONE',
  });
});

test('Cache-Status: the row\'s members, then the answer\'s own, in RFC 9211 order (https://www.rfc-editor.org/rfc/rfc9211#section-2)', () => {
  const cases: [AnswerKind, Parameters<typeof answerStatus>[1], string][] = [
    ['hit', { ttl: 90 }, 'edgecache; hit; ttl=90'],
    ['updating', { ttl: -5 }, 'edgecache; hit; ttl=-5; detail=stale-while-revalidate'],
    ['stale', { fwdStatus: 503, detail: 'stale-if-error' }, 'edgecache; hit; fwd=stale; fwd-status=503; detail=stale-if-error'],
    ['stale', { detail: 'origin-unreachable' }, 'edgecache; hit; fwd=stale; detail=origin-unreachable'],
    ['revalidated', { fwd: 'stale', fwdStatus: 304, collapsed: true }, 'edgecache; fwd=stale; fwd-status=304; collapsed'],
    ['tier-hit', { ttl: 30 }, 'edgecache; hit; ttl=30; detail=shared-tier'],
    ['miss', { fwd: 'uri-miss', fwdStatus: 200 }, 'edgecache; fwd=uri-miss; fwd-status=200; stored'],
    ['expired', { fwd: 'stale', fwdStatus: 200, collapsed: true }, 'edgecache; fwd=stale; fwd-status=200; stored; collapsed'],
    ['bypass', { fwd: 'uri-miss', fwdStatus: 200, detail: 'set-cookie' }, 'edgecache; fwd=uri-miss; fwd-status=200; detail=set-cookie'],
    ['dynamic', { fwd: 'method', fwdStatus: 201 }, 'edgecache; fwd=method; fwd-status=201'],
    ['only-if-cached', undefined, 'edgecache; fwd=miss; detail=only-if-cached'],
    ['origin-error', { detail: 'origin_timeout' }, 'edgecache; fwd=miss; detail=origin_timeout'],
    ['preflight', undefined, 'edgecache; detail=cors-preflight'],
  ];
  for (const [kind, own, expected] of cases) assert.equal(answerStatus(kind, own), expected, kind);
  assert.equal(hitStatus(42), answerStatus('hit', { ttl: 42 }));
  assert.equal(hitStatus(42), hitStatus(42));
  assert.equal(cacheStatus({ detail: 'a b' }), 'edgecache; detail="a b"', 'a detail that is no token is quoted');
});

test('an answer not stored: BYPASS when the origin said not to store it, DYNAMIC when it was never eligible', () => {
  for (const r of ['set-cookie', 'no-store', 'private', 'authorization', 'vary-star', 'no-cache']) assert.equal(notStoredKind(r), 'bypass', r);
  for (const r of ['status', 'no-freshness', 'too-large', 'method']) assert.equal(notStoredKind(r), 'dynamic', r);
});

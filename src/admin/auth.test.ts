// Tests for the admin bearer-token checker: right / wrong / other-zone tokens, header forms, zone wildcards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenChecker, readBearerToken } from './auth.js';

const check = createTokenChecker([
  { token: 'alpha-secret-token', zones: ['shop', 'blog'] },
  { token: 'root-token', zones: ['*'] },
  { token: 'docs-only', zones: ['docs'] },
]);

test('right token for the zone is ok; a "*" token is ok for every zone', () => {
  assert.equal(check('Bearer alpha-secret-token', 'shop'), 'ok');
  assert.equal(check('Bearer alpha-secret-token', 'blog'), 'ok');
  assert.equal(check('Bearer root-token', 'shop'), 'ok');
  assert.equal(check('Bearer root-token', 'anything-at-all'), 'ok');
});

test('a known token used for another zone is forbidden', () => {
  assert.equal(check('Bearer alpha-secret-token', 'docs'), 'forbidden');
  assert.equal(check('Bearer docs-only', 'shop'), 'forbidden');
  assert.equal(check('Bearer docs-only', 'Docs'), 'forbidden'); // zone ids are exact
});

test('wrong tokens are unauthenticated, including prefixes, extensions and case changes of real ones', () => {
  for (const token of ['nope', 'alpha-secret-toke', 'alpha-secret-tokenX', 'ALPHA-SECRET-TOKEN', 'root', 'x'.repeat(4096)]) {
    assert.equal(check(`Bearer ${token}`, 'shop'), 'unauthenticated', token);
  }
});

test('only "Authorization: Bearer <token>" is accepted', () => {
  assert.equal(check(undefined, 'shop'), 'unauthenticated');
  assert.equal(check('', 'shop'), 'unauthenticated');
  assert.equal(check('Bearer', 'shop'), 'unauthenticated');
  assert.equal(check('Bearer ', 'shop'), 'unauthenticated');
  assert.equal(check('alpha-secret-token', 'shop'), 'unauthenticated');
  assert.equal(check('Basic alpha-secret-token', 'shop'), 'unauthenticated');
  assert.equal(check(`Basic ${Buffer.from('u:alpha-secret-token').toString('base64')}`, 'shop'), 'unauthenticated');
  assert.equal(check('Token alpha-secret-token', 'shop'), 'unauthenticated');
  assert.equal(check('Bearer alpha-secret-token extra', 'shop'), 'unauthenticated');
  // The scheme is case-insensitive (RFC 9110 §11.1); extra spaces are tolerated.
  assert.equal(check('bearer alpha-secret-token', 'shop'), 'ok');
  assert.equal(check('BEARER  alpha-secret-token ', 'shop'), 'ok');
});

test('readBearerToken extracts the token or nothing', () => {
  assert.equal(readBearerToken('Bearer abc.def~+/=='), 'abc.def~+/==');
  assert.equal(readBearerToken('Basic abc'), undefined);
  assert.equal(readBearerToken(undefined), undefined);
});

test('every configured token is compared: a token listed twice gets the union of its zones', () => {
  const dup = createTokenChecker([
    { token: 'same', zones: ['a'] },
    { token: 'same', zones: ['b'] },
  ]);
  assert.equal(dup('Bearer same', 'a'), 'ok');
  assert.equal(dup('Bearer same', 'b'), 'ok');
  assert.equal(dup('Bearer same', 'c'), 'forbidden');
});

test('empty configured tokens never match; no tokens means nobody gets in', () => {
  const empty = createTokenChecker([{ token: '', zones: ['*'] }]);
  assert.equal(empty('Bearer ', 'a'), 'unauthenticated');
  assert.equal(empty(undefined, 'a'), 'unauthenticated');
  const none = createTokenChecker([]);
  assert.equal(none('Bearer anything', 'a'), 'unauthenticated');
});

test('tokens of any length are compared without throwing (digests are fixed-length)', () => {
  const c = createTokenChecker([{ token: 'k'.repeat(300), zones: ['*'] }]);
  assert.equal(c(`Bearer ${'k'.repeat(300)}`, 'z'), 'ok');
  assert.equal(c('Bearer k', 'z'), 'unauthenticated');
  assert.equal(c(`Bearer ${'k'.repeat(301)}`, 'z'), 'unauthenticated');
});

test('tokens with punctuation outside b64token still work', () => {
  const c = createTokenChecker([{ token: 's3cr3t!#$%', zones: ['*'] }]);
  assert.equal(c('Bearer s3cr3t!#$%', 'z'), 'ok');
});

// The pool of buffers disk-tier bodies are read into: reuse by size class, bounds, foreign buffers refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { giveReadBuffer, takeReadBuffer } from './read-buffers.js';

test('read buffers: a class is a power of two at least the size asked; a buffer given back is taken again', () => {
  const a = takeReadBuffer(100 * 1024 + 4097);
  assert.equal(a.length, 128 * 1024);
  giveReadBuffer(a);
  const b = takeReadBuffer(70 * 1024);
  assert.equal(b, a, 'the same buffer, reused');
  assert.notEqual(takeReadBuffer(70 * 1024), a, 'taken once only');
  assert.equal(takeReadBuffer(10).length, 16 * 1024);
  assert.equal(takeReadBuffer(3 * 1024 * 1024).length, 3 * 1024 * 1024, 'past the largest class: a buffer of its own');
});

test('read buffers: at most 8 MiB kept free per class; buffers not of a class are never pooled', () => {
  const many = Array.from({ length: 100 }, () => takeReadBuffer(128 * 1024));
  for (const b of many) giveReadBuffer(b);
  const back = new Set<Buffer>();
  for (let i = 0; i < 100; i++) back.add(takeReadBuffer(128 * 1024));
  assert.equal([...back].filter((b) => many.includes(b)).length, 64, '64 of 128 KiB kept, the rest left to the GC');
  const odd = Buffer.allocUnsafe(100 * 1024);
  giveReadBuffer(odd);
  assert.notEqual(takeReadBuffer(100 * 1024), odd);
});

// The fast parser's interned strings (src/edge/fast-parse.ts): a string kept for some bytes is only ever given for those
// bytes, whatever collides in its slot, and repeated heads parse the same each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFastHead } from './fast-parse.js';

function parse(head: string): { url: string; rawHeaders: string[]; headers: Record<string, string> } {
  const buf = Buffer.from(head, 'latin1');
  const r = parseFastHead(buf, 0, buf.length, 16384);
  assert.equal(r.kind, 'request', head);
  if (r.kind !== 'request') throw new Error('unreachable');
  assert.equal(r.end, buf.length);
  return r.req;
}

test('fast parser: thousands of distinct targets, names and values (more than the intern slots) each parse to their own bytes', () => {
  const seen: Array<{ head: string; url: string; name: string; value: string }> = [];
  for (let i = 0; i < 5000; i++) {
    // Same lengths, differing bytes: slot collisions and near-equal strings are the cases that must not mix up.
    const url = `/p/${(i * 7919).toString(36).padStart(6, '0')}`;
    const name = `X-F${(i % 1300).toString(36).padStart(3, '0')}`;
    const value = `v${(i * 104729).toString(36).padStart(8, '0')}`;
    const head = `GET ${url} HTTP/1.1\r\nHost: h${i % 97}.example\r\n${name}: ${value}\r\n\r\n`;
    seen.push({ head, url, name, value });
  }
  // Twice over: the second pass finds what the first one interned (or what replaced it).
  for (let pass = 0; pass < 2; pass++) {
    for (const s of seen) {
      const req = parse(s.head);
      assert.equal(req.url, s.url);
      assert.deepEqual(req.rawHeaders, ['Host', req.headers.host, s.name, s.value]);
      assert.equal(req.headers[s.name.toLowerCase()], s.value);
      assert.match(req.headers.host!, /^h\d+\.example$/);
    }
  }
});

test('fast parser: the same name in other cases keeps its case in rawHeaders and is lowercased in headers', () => {
  for (const host of ['Host', 'host', 'HOST', 'hOsT', 'Host']) {
    const req = parse(`GET / HTTP/1.1\r\n${host}: a.example\r\n\r\n`);
    assert.deepEqual(req.rawHeaders, [host, 'a.example']);
    assert.deepEqual(req.headers, { host: 'a.example' });
  }
});

// Tests for purge body parsing: kinds, Cloudflare error codes, URL/host/prefix normalisation, headers, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonNestsDeeper, MAX_JSON_DEPTH, parsePurgeBody, PurgeError, type PurgeRequest, type FileTarget } from './request.js';
import { ERROR_CODES } from './api-errors.js';

const opts = { maxItems: 500 };

function parse(body: unknown, o = opts): PurgeRequest | PurgeError {
  return parsePurgeBody(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), o);
}

function ok(body: unknown, o = opts): PurgeRequest {
  const r = parse(body, o);
  if (r instanceof PurgeError) assert.fail(`expected success, got ${r.code}: ${r.message}`);
  return r;
}

function err(body: unknown, code: number, o = opts): PurgeError {
  const r = parse(body, o);
  assert.ok(r instanceof PurgeError, `expected a PurgeError, got ${JSON.stringify(r)}`);
  assert.equal(r.status, 400);
  assert.equal(r.code, code, r.message);
  return r;
}

function files(body: unknown): FileTarget[] {
  const r = ok(body);
  assert.equal(r.kind, 'files');
  return (r as Extract<PurgeRequest, { kind: 'files' }>).files;
}

function oneFile(url: unknown): FileTarget {
  const [f] = files({ files: [url] });
  assert.ok(f);
  return f;
}

test('each purge kind parses; soft defaults to false', () => {
  assert.deepEqual(ok({ purge_everything: true }), { kind: 'everything', soft: false });
  assert.deepEqual(ok({ files: ['https://cdn.example.com/app.js'] }), {
    kind: 'files',
    files: [{ host: 'cdn.example.com', path: '/app.js', query: '' }],
    soft: false,
  });
  assert.deepEqual(ok({ tags: [' Release-42 ', 'a'] }), { kind: 'tags', tags: ['release-42', 'a'], soft: false });
  assert.deepEqual(ok({ hosts: ['CDN.Example.com', 'cdn.example.com:8443'] }), { kind: 'hosts', hosts: ['cdn.example.com', 'cdn.example.com:8443'], soft: false });
  assert.deepEqual(ok({ prefixes: ['cdn.example.com/assets/', 'Img.Example.com'] }), {
    kind: 'prefixes',
    prefixes: [
      { host: 'cdn.example.com', pathPrefix: '/assets/' },
      { host: 'img.example.com', pathPrefix: '/' },
    ],
    soft: false,
  });
});

test('soft: true/false accepted, anything else is 1016', () => {
  assert.deepEqual(ok({ purge_everything: true, soft: true }), { kind: 'everything', soft: true });
  assert.deepEqual(ok({ tags: ['a'], soft: false }), { kind: 'tags', tags: ['a'], soft: false });
  for (const soft of ['true', 1, {}, []]) {
    const e = err({ tags: ['a'], soft }, ERROR_CODES.invalidSoft);
    assert.match(e.message, /soft/);
  }
});

test('1012: no kind, several kinds, or purge_everything not true', () => {
  assert.equal(ERROR_CODES.noSingleKind, 1012);
  const none = err({}, 1012);
  assert.match(none.message, /purge_everything.*files.*tags.*hosts.*prefixes/);
  err({ file: ['https://x/'] }, 1012); // a typo names no kind
  const two = err({ files: ['https://x/'], tags: ['a'] }, 1012);
  assert.match(two.message, /"files" and "tags"/);
  err({ purge_everything: true, hosts: ['x'] }, 1012);
  err({ purge_everything: false }, 1012);
  err({ purge_everything: 'true' }, 1012);
  err({ purge_everything: 1 }, 1012);
});

test('purge_everything: false beside another kind is ignored; null counts as absent', () => {
  assert.equal(ok({ purge_everything: false, tags: ['a'] }).kind, 'tags');
  assert.equal(ok({ files: null, tags: ['a'], soft: null }).kind, 'tags');
});

test('1014: a field that must be a list is not', () => {
  assert.equal(ERROR_CODES.notAList, 1014);
  for (const field of ['files', 'tags', 'hosts', 'prefixes']) {
    for (const value of ['https://x/', { a: 1 }, 3, true]) {
      const e = err({ [field]: value }, 1014);
      assert.match(e.message, new RegExp(`"${field}" must be a list`));
    }
  }
  err({ tags: null }, 1014); // only null lists: say which
});

test('6007: malformed JSON, non-object bodies, empty or non-UTF-8 bodies', () => {
  for (const body of ['{"files": [', 'nope', '[]', '[{"files":[]}]', 'null', '"x"', '42', '', '   ']) {
    const e = err(body, ERROR_CODES.malformedJson);
    assert.match(e.message, /Malformed JSON/);
  }
  const bad = parsePurgeBody(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), opts);
  assert.ok(bad instanceof PurgeError && bad.code === 6007);
});

test('6007: bodies nested deeper than MAX_JSON_DEPTH, wherever the nesting is, before any recursive walk sees them', () => {
  const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  for (const body of [`{"files":${deep(200_000)}}`, `{"files":[${deep(100)}]}`, `{"soft":${deep(100_000)},"tags":["a"]}`,
    `{"purge_everything":${deep(100_000)}}`, `{"x":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)},"tags":["a"]}`, deep(100_000)]) {
    const e = err(body, ERROR_CODES.malformedJson);
    assert.match(e.message, new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
    assert.ok(e.message.length < 300, 'the message does not quote the body');
  }
  // Exactly at the limit is fine (the answer is about the item, not the depth).
  const atLimit = err(`{"files":[${deep(MAX_JSON_DEPTH - 2)}]}`, ERROR_CODES.invalidItem);
  assert.doesNotMatch(atLimit.message, /nested/);
});

test('jsonNestsDeeper: brackets inside strings (and escaped quotes) do not count', () => {
  assert.equal(jsonNestsDeeper(`{"tags":["${'['.repeat(100)}"]}`, 3), false);
  assert.equal(jsonNestsDeeper(`{"tags":["a\\\"${'{'.repeat(100)}"]}`, 3), false);
  assert.equal(jsonNestsDeeper('[[[[]]]]', 3), true);
  assert.equal(jsonNestsDeeper('[[[]]]', 3), false);
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
    const text = JSON.stringify(v);
    const depth = (x: unknown): number => (typeof x === 'object' && x !== null ? 1 + Math.max(0, ...Object.values(x).map(depth)) : 0);
    assert.equal(jsonNestsDeeper(text, 3), depth(v) > 3, text);
  }));
});

test('unknown extra fields are ignored (as Cloudflare does)', () => {
  assert.deepEqual(ok({ tags: ['a'], comment: 'deploy 42', zone: 'x' }), { kind: 'tags', tags: ['a'], soft: false });
});

test('empty lists are refused with 1013', () => {
  for (const field of ['files', 'tags', 'hosts', 'prefixes']) err({ [field]: [] }, ERROR_CODES.invalidItem);
});

test('item limit: exactly maxItems passes, one more is 1015 stating the limit', () => {
  const small = { maxItems: 3 };
  assert.equal(ok({ tags: ['a', 'b', 'c'] }, small).kind, 'tags');
  for (const [field, item] of [['tags', 'a'], ['hosts', 'x.example'], ['prefixes', 'x.example/a'], ['files', 'https://x.example/']] as const) {
    const e = err({ [field]: Array(4).fill(item) }, ERROR_CODES.tooManyItems, small);
    assert.match(e.message, /limit is 3/);
    assert.match(e.message, /4 items/);
  }
  // The default config limit: 500.
  assert.equal(ok({ tags: Array.from({ length: 500 }, (_, i) => `t${i}`) }).kind, 'tags');
  err({ tags: Array.from({ length: 501 }, (_, i) => `t${i}`) }, 1015);
});

test('URL: the scheme is ignored; both default ports are dropped whatever the scheme; other ports kept', () => {
  const want = { host: 'cdn.example.com', path: '/app.js', query: '' };
  for (const url of [
    'https://cdn.example.com/app.js',
    'http://cdn.example.com/app.js',
    'HTTPS://CDN.Example.COM/app.js',
    'https://cdn.example.com:443/app.js',
    'http://cdn.example.com:80/app.js',
    'http://cdn.example.com:443/app.js',
    'https://cdn.example.com:80/app.js',
  ]) {
    assert.deepEqual(oneFile(url), want, url);
  }
  assert.deepEqual(oneFile('https://cdn.example.com:8443/app.js'), { host: 'cdn.example.com:8443', path: '/app.js', query: '' });
  assert.deepEqual(oneFile('http://127.0.0.1:8080/x'), { host: '127.0.0.1:8080', path: '/x', query: '' });
  assert.deepEqual(oneFile('http://[::1]:443/x'), { host: '[::1]', path: '/x', query: '' });
  assert.deepEqual(oneFile('https://bücher.example/x'), { host: 'xn--bcher-kva.example', path: '/x', query: '' });
});

test('URL: path kept raw (no decoding, no dot-segment removal, case kept); "/" when empty', () => {
  assert.equal(oneFile('https://x.example/a%2Fb/%41%7e').path, '/a%2Fb/%41%7e');
  assert.equal(oneFile('https://x.example/a/../b/./c').path, '/a/../b/./c');
  assert.equal(oneFile('https://x.example/App.JS').path, '/App.JS');
  assert.equal(oneFile('https://x.example//double//slash').path, '//double//slash');
  assert.equal(oneFile('https://x.example').path, '/');
  assert.equal(oneFile('https://x.example?a=1').path, '/');
});

test('URL: query kept raw without "?"; empty when none; fragment dropped', () => {
  assert.deepEqual(oneFile('https://x.example/p?b=2&a=1&a=%20+x'), { host: 'x.example', path: '/p', query: 'b=2&a=1&a=%20+x' });
  assert.equal(oneFile('https://x.example/p?').query, '');
  assert.equal(oneFile('https://x.example/p').query, '');
  assert.deepEqual(oneFile('https://x.example/p?q=1#frag?x'), { host: 'x.example', path: '/p', query: 'q=1' });
  assert.deepEqual(oneFile('https://x.example/p#f'), { host: 'x.example', path: '/p', query: '' });
});

test('URL: not absolute or unparsable is 1013 naming the index and the value', () => {
  const cases = [
    'cdn.example.com/app.js',
    '/app.js',
    'localhost:8080/app.js',
    '//cdn.example.com/app.js',
    'https:/cdn.example.com/app.js',
    'https:cdn.example.com/app.js',
    'ftp://cdn.example.com/app.js',
    'https:///app.js',
    'https://cdn.example.com:99999/x',
    'https://cdn exa.com/x',
    'https://user:pw@cdn.example.com/x',
    'https://cdn.example.com/a b',
    'https://cdn.example.com/é',
    'https://cdn.example.com/a\nb',
    ' https://cdn.example.com/x',
    'https://cdn.example.com\\x',
    '',
  ];
  for (const url of cases) {
    const e = err({ files: ['https://ok.example/', url] }, ERROR_CODES.invalidItem);
    assert.match(e.message, /files\[1\]/, url);
    assert.ok(e.message.includes(JSON.stringify(url).slice(0, 20)), `${url}: ${e.message}`);
  }
  const e = err({ files: ['cdn.example.com/app.js'] }, 1013);
  assert.match(e.message, /scheme and a host/);
  err({ files: [42] }, 1013);
  err({ files: [{ headers: { origin: 'https://a.example' } }] }, 1013);
  err({ files: [['https://x/']] }, 1013);
});

test('file headers: names lowercased, values as given, mixed with plain URLs', () => {
  const got = files({
    files: [
      'https://cdn.example.com/a.js',
      { url: 'https://cdn.example.com/a.js', headers: { Origin: 'https://WWW.Example.com', 'Accept-Encoding': ' gzip ' } },
      { url: 'https://cdn.example.com/b.js' },
    ],
  });
  assert.deepEqual(got, [
    { host: 'cdn.example.com', path: '/a.js', query: '' },
    { host: 'cdn.example.com', path: '/a.js', query: '', headers: { origin: 'https://WWW.Example.com', 'accept-encoding': ' gzip ' } },
    { host: 'cdn.example.com', path: '/b.js', query: '' },
  ]);
  // ORIGIN, origin and Origin name the same header.
  for (const name of ['ORIGIN', 'origin', 'oRiGiN']) {
    assert.deepEqual(oneFile({ url: 'https://x.example/', headers: { [name]: 'https://a.example' } }).headers, { origin: 'https://a.example' });
  }
});

test('file headers: an empty object or null purges every variant, like a bare URL', () => {
  assert.deepEqual(oneFile({ url: 'https://x.example/', headers: {} }), { host: 'x.example', path: '/', query: '' });
  assert.deepEqual(oneFile({ url: 'https://x.example/', headers: null }), { host: 'x.example', path: '/', query: '' });
});

test('file headers: non-string values, invalid names, duplicates and non-objects are 1013 naming the item', () => {
  const cases: [unknown, RegExp][] = [
    [{ Origin: 5 }, /files\[0\]\.headers\["Origin"\] must be a string/],
    [{ Origin: ['a'] }, /must be a string/],
    [{ Origin: null }, /must be a string/],
    [{ 'Bad Name': 'x' }, /"Bad Name" is not a valid header name/],
    [{ 'x:y': 'x' }, /not a valid header name/],
    [{ '': 'x' }, /not a valid header name/],
    [{ Origin: 'a\r\nX-Evil: 1' }, /control character/],
    [{ Origin: 'a', origin: 'b' }, /twice/],
    [['Origin: a'], /must be an object/],
    ['Origin: a', /must be an object/],
  ];
  for (const [headers, re] of cases) {
    const e = err({ files: [{ url: 'https://x.example/', headers }] }, ERROR_CODES.invalidItem);
    assert.match(e.message, re);
    assert.match(e.message, /files\[0\]/);
  }
});

test('a header named __proto__ is kept as a plain own property', () => {
  const f = oneFile({ url: 'https://x.example/', headers: JSON.parse('{"__proto__": "v"}') });
  assert.ok(f.headers && Object.hasOwn(f.headers, '__proto__'));
  assert.equal(Object.getPrototypeOf(f.headers), Object.prototype);
});

test('tags: trimmed and lowercased; empty, non-string, comma and over-long tags are 1013', () => {
  assert.deepEqual(ok({ tags: ['  A-Tag\t', 'B'] }), { kind: 'tags', tags: ['a-tag', 'b'], soft: false });
  for (const tag of ['', '   ', 5, null, 'a,b', 'a\nb', 'x'.repeat(1025)]) {
    const e = err({ tags: ['ok', tag] }, ERROR_CODES.invalidItem);
    assert.match(e.message, /tags\[1\]/);
  }
  assert.equal(ok({ tags: ['x'.repeat(1024)] }).kind, 'tags');
});

test('hosts: lowercased, default ports dropped, other ports kept, http(s) scheme tolerated; junk is 1013', () => {
  const r = ok({ hosts: ['CDN.example.com', 'a.example:443', 'b.example:80', 'c.example:8080', 'https://D.example/', '[::1]:9000'] });
  assert.deepEqual(r, { kind: 'hosts', hosts: ['cdn.example.com', 'a.example', 'b.example', 'c.example:8080', 'd.example', '[::1]:9000'], soft: false });
  for (const host of ['cdn.example.com/app.js', 'ftp://x.example', 'a b', '', 'x.example:port', 'user@x.example', 7]) {
    const e = err({ hosts: [host] }, ERROR_CODES.invalidItem);
    assert.match(e.message, /hosts\[0\]/);
  }
});

test('prefixes: host lowercased, path case and encoding kept, scheme tolerated; query/fragment/junk is 1013', () => {
  const r = ok({ prefixes: ['CDN.Example.com:443/Assets/%2Fx', 'https://cdn.example.com/blog/', 'cdn.example.com:8080/a'] });
  assert.deepEqual(r, {
    kind: 'prefixes',
    prefixes: [
      { host: 'cdn.example.com', pathPrefix: '/Assets/%2Fx' },
      { host: 'cdn.example.com', pathPrefix: '/blog/' },
      { host: 'cdn.example.com:8080', pathPrefix: '/a' },
    ],
    soft: false,
  });
  for (const prefix of ['/assets/', 'cdn.example.com/a?b=1', 'cdn.example.com/a#x', 'ftp://cdn.example.com/a', 'cdn.example.com/a b', '', 3]) {
    const e = err({ prefixes: [prefix] }, ERROR_CODES.invalidItem);
    assert.match(e.message, /prefixes\[0\]/);
  }
});

test('property: any http(s) URL keeps its path and query byte-for-byte and its host lowercased', () => {
  const pchar = fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@%2F%41'.split(''));
  const segment = fc.array(pchar, { maxLength: 6 }).map((cs) => cs.join(''));
  const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((ss) => `/${ss.join('/')}`);
  const query = fc.option(fc.array(fc.constantFrom(...'ab=&+%20/?:'.split('')), { maxLength: 8 }).map((cs) => cs.join('')), { nil: undefined });
  const host = fc.domain();
  const scheme = fc.constantFrom('http', 'https', 'HTTP');
  fc.assert(
    fc.property(scheme, host, path, query, (s, h, p, q) => {
      const url = `${s}://${h.toUpperCase()}${p}${q === undefined ? '' : `?${q}`}`;
      const f = oneFile(url);
      assert.equal(f.path, p);
      assert.equal(f.query, q ?? '');
      assert.equal(f.host, new URL(`http://${h}/`).hostname);
      assert.equal(f.host, f.host.toLowerCase());
    }),
  );
});

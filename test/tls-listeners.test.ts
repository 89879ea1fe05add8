// TLS listeners with real sockets and a test CA: SNI picks the certificate by its names, curl over HTTP/2 and HTTP/1.1
// gets one cached answer, SNI and Host cannot lead to two zones (421), the origin learns the scheme, http→https
// redirects, certificate reload keeps connections and refuses bad files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { request as httpsRequest, Agent } from 'node:https';
import { copyFileSync, writeFileSync } from 'node:fs';
import { metric, startOrigin, startTestEdge, send } from './helpers/http.js';
import { createTestPki, type TestPki } from './helpers/tls.js';

const run = promisify(execFile);

async function setup(t: import('node:test').TestContext, extraZone: Record<string, unknown> = {}) {
  const pki = await createTestPki(t);
  const a = await pki.issue('a', ['a.test']);
  const b = await pki.issue('b', ['*.b.test', 'b.test']);
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', 'x-seen-proto': String(req.headers['x-forwarded-proto']) });
    res.end(`body of ${req.headers.host}${req.url}`);
  });
  // Copies the edge reads (the test rewrites them for reloads).
  const aCert = `${pki.dir}/edge-a.pem`; const aKey = `${pki.dir}/edge-a.key`;
  copyFileSync(a.cert, aCert); copyFileSync(a.key, aKey);
  const edge = await startTestEdge(t, {
    listen: [
      { address: '127.0.0.1:0', tls: { certificates: [{ cert: aCert, key: aKey }, { cert: b.cert, key: b.key }] } },
      '127.0.0.1:0',
    ],
    zones: [
      { id: 'a', hosts: ['a.test'], origin: origin.url, ...extraZone },
      { id: 'b', hosts: ['*.b.test', 'b.test'], origin: origin.url },
    ],
  });
  const tlsPort = edge.listeners[0]!.address()!.port;
  const plainPort = edge.listeners[1]!.address()!.port;
  return { pki, a, b, origin, edge, tlsPort, plainPort, aCert, aKey };
}

function peerCert(port: number, servername: string | undefined, ca: string): Promise<{ cert: PeerCertificate; alpn: string | false | null; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false }, () => {
      const out = { cert: s.getPeerCertificate(), alpn: s.alpnProtocol, protocol: s.getProtocol() };
      s.end();
      resolve(out);
    });
    s.on('error', reject);
  });
}

async function curl(pki: TestPki, port: number, host: string, path: string, version: '--http2' | '--http1.1', extra: string[] = []) {
  const { stdout } = await run('curl', ['-s', '-i', version, '--cacert', pki.caFile, '--resolve', `${host}:${port}:127.0.0.1`, ...extra, `https://${host}:${port}${path}`]);
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
  return { statusLine: lines[0]!, headers, body: rest.join('\r\n\r\n') };
}

test('SNI picks the certificate whose names cover it; no SNI gets the first; TLS 1.2 is the least offered', async (t) => {
  const { pki, a, b, tlsPort } = await setup(t);
  assert.equal((await peerCert(tlsPort, 'a.test', pki.ca)).cert.fingerprint256, a.fingerprint256);
  assert.equal((await peerCert(tlsPort, 'www.b.test', pki.ca)).cert.fingerprint256, b.fingerprint256, 'wildcard name');
  assert.equal((await peerCert(tlsPort, 'B.TEST', pki.ca)).cert.fingerprint256, b.fingerprint256, 'names compare without case');
  assert.equal((await peerCert(tlsPort, 'x.y.b.test', pki.ca)).cert.fingerprint256, a.fingerprint256, 'a wildcard covers one label only');
  assert.equal((await peerCert(tlsPort, undefined, pki.ca)).cert.fingerprint256, a.fingerprint256, 'no SNI: the default');
  const h = await peerCert(tlsPort, 'a.test', pki.ca);
  assert.equal(h.alpn, 'h2');
  await assert.rejects(new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'a.test', ca: pki.ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => { s.end(); resolve(s.getProtocol()); });
    s.on('error', reject);
  }), 'TLS 1.1 is refused');
});

test('curl over HTTP/2 and HTTP/1.1 gets one cached answer; the origin learns https; the plain listener says http', async (t) => {
  const { pki, origin, tlsPort, plainPort } = await setup(t);
  const first = await curl(pki, tlsPort, 'a.test', '/asset.js', '--http2');
  assert.match(first.statusLine, /^HTTP\/2 200/);
  assert.equal(first.headers['cf-cache-status'], 'MISS');
  assert.equal(first.headers['x-seen-proto'], 'https');
  assert.equal(first.headers.connection, undefined, 'no connection-specific fields over HTTP/2');
  assert.equal(first.headers['keep-alive'], undefined);
  const second = await curl(pki, tlsPort, 'a.test', '/asset.js', '--http1.1');
  assert.match(second.statusLine, /^HTTP\/1\.1 200/);
  assert.equal(second.headers['cf-cache-status'], 'HIT');
  assert.equal(second.body, first.body);
  assert.equal(second.body, `body of a.test:${tlsPort}/asset.js`);
  const third = await curl(pki, tlsPort, 'a.test', '/asset.js', '--http2');
  assert.equal(third.headers['cf-cache-status'], 'HIT');
  assert.match(third.headers['cache-status']!, /edgecache; hit/);
  assert.equal(origin.count('/asset.js'), 1, 'one origin fetch for all three');
  const fwd = origin.requests[0]!.headers;
  assert.equal(fwd['x-forwarded-proto'], 'https');
  assert.match(String(fwd.forwarded), /;proto=https$/);
  assert.equal(fwd[':authority'], undefined, 'no pseudo-fields reach the origin');

  const plain = await send(`http://127.0.0.1:${plainPort}/plain.js`, { headers: { host: 'a.test' } });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['x-seen-proto'], 'http');
});

test('a request whose Host leads to another zone than the SNI name is 421, over HTTP/1.1 and HTTP/2; same zone is served', async (t) => {
  const { pki, tlsPort, edge } = await setup(t);
  const h1 = (servername: string, host: string) => new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: tlsPort, servername, ca: pki.ca, path: '/x', headers: { host }, agent: new Agent({ maxSockets: 1 }) }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(await h1('a.test', 'www.b.test'), 421);
  assert.equal(await h1('www.b.test', 'b.test'), 200, 'one zone: served');
  // HTTP/1.1 over TLS starts on the fast path: a hit is answered there, but never across zones (SNI a, Host b → 421).
  const fastBefore = await metric(edge, 'edgecache_fast_path_answers_total');
  assert.equal(await h1('a.test', 'b.test'), 421, 'a stored answer of zone b is not served on a connection for a.test');
  assert.equal(await h1('b.test', 'b.test'), 200);
  assert.equal(await metric(edge, 'edgecache_fast_path_answers_total'), fastBefore + 1, 'the TLS hit was answered by the fast path');
  const session = h2Connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.test', ca: pki.ca });
  t.after(() => session.close());
  const h2 = (authority: string) => new Promise<number>((resolve, reject) => {
    const s = session.request({ ':path': '/y', ':authority': authority });
    s.on('response', (h) => { s.resume(); resolve(Number(h[':status'])); });
    s.on('error', reject);
    s.end();
  });
  assert.equal(await h2('x.b.test'), 421);
  assert.equal(await h2('a.test'), 200, 'the same connection still serves its own zone');
});

test('redirectHttp answers plain HTTP with 308 to https at the TLS listener port; https is served', async (t) => {
  const { pki, tlsPort, plainPort } = await setup(t, { redirectHttp: true });
  const r = await send(`http://127.0.0.1:${plainPort}/p/q?x=1`, { headers: { host: 'a.test' } });
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, `https://a.test:${tlsPort}/p/q?x=1`);
  const other = await send(`http://127.0.0.1:${plainPort}/p`, { headers: { host: 'b.test' } });
  assert.equal(other.status, 200, 'a zone without redirectHttp is served over http');
  assert.equal((await curl(pki, tlsPort, 'a.test', '/p/q?x=1', '--http2')).headers['cf-cache-status'], 'MISS');
});

test('reload: new certificates for new connections, open connections kept, a bad file keeps the old certificate', async (t) => {
  const { pki, a, edge, tlsPort, aCert, aKey } = await setup(t);
  const session = h2Connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.test', ca: pki.ca });
  t.after(() => session.close());
  const get = (path: string) => new Promise<number>((resolve, reject) => {
    const s = session.request({ ':path': path, ':authority': 'a.test' });
    s.on('response', (h) => { s.resume(); resolve(Number(h[':status'])); });
    s.on('error', reject);
    s.end();
  });
  assert.equal(await get('/before'), 200);

  const a2 = await pki.issue('a2', ['a.test']);
  copyFileSync(a2.cert, aCert); copyFileSync(a2.key, aKey);
  const ok = await edge.reload();
  assert.deepEqual(ok.problems, []);
  assert.equal((await peerCert(tlsPort, 'a.test', pki.ca)).cert.fingerprint256, a2.fingerprint256, 'new connections get the new certificate');
  assert.equal((await peerCert(tlsPort, undefined, pki.ca)).cert.fingerprint256, a2.fingerprint256, 'and it is the default');
  assert.equal(await get('/after'), 200, 'the open session goes on');
  assert.notEqual(a.fingerprint256, a2.fingerprint256);

  writeFileSync(aCert, 'not a certificate');
  const bad = await edge.reload();
  assert.equal(bad.problems.length, 1);
  assert.match(bad.problems[0]!.message, /edge-a\.pem is not a PEM certificate/);
  assert.equal((await peerCert(tlsPort, 'a.test', pki.ca)).cert.fingerprint256, a2.fingerprint256, 'the previous certificate stays');

  const b3 = await pki.issue('mismatch', ['a.test']);
  copyFileSync(b3.cert, aCert); copyFileSync(a2.key, aKey);
  const mismatch = await edge.reload();
  assert.match(mismatch.problems[0]!.message, /is not the key of the certificate/);
  assert.equal((await peerCert(tlsPort, 'a.test', pki.ca)).cert.fingerprint256, a2.fingerprint256);
});

test('a certificate that cannot be used stops the start with a message naming the file', async (t) => {
  const pki = await createTestPki(t);
  const a = await pki.issue('a', ['a.test']);
  const b = await pki.issue('b', ['b.test']);
  const start = (certificates: { cert: string; key: string }[]) => startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates } }], origin: 'http://127.0.0.1:9',
  });
  await assert.rejects(start([{ cert: `${pki.dir}/missing.pem`, key: a.key }]), (e: Error & { code?: string }) => e.code === 'ECERT' && /cannot read certificate file .*missing\.pem: ENOENT/.test(e.message));
  await assert.rejects(start([{ cert: a.cert, key: b.key }]), /b\.key is not the key of the certificate in .*a\.pem/);
});

// OCSP stapling against a real `openssl ocsp` responder: a client asking for status gets a response naming its
// certificate's serial (good, or revoked), read by openssl itself; a responder that is down costs no handshake; a
// reloaded certificate gets its own response; `ocspStapling: false` staples nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { createServer } from 'node:net';
import { copyFileSync } from 'node:fs';
import { startOrigin, startTestEdge } from './helpers/http.js';
import { createTestPki, type TestPki } from './helpers/tls.js';
import { describeResponse, startOcspResponder } from './helpers/ocsp-responder.js';
import { captureLogs } from './helpers/capture-logger.js';

/** node's client option for status_request (missing from @types/node 20's ConnectionOptions). */
const statusRequest = (o: ConnectionOptions): ConnectionOptions => ({ ...o, requestOCSP: true } as ConnectionOptions);

interface Handshake { staple: Buffer | undefined; authorized: boolean; protocol: string | null }

/** A TLS handshake asking for certificate status (status_request, RFC 6066 §8); what was stapled, if anything. */
function handshake(port: number, servername: string, pki: TestPki): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let staple: Buffer | undefined;
    const s = tlsConnect(statusRequest({ host: '127.0.0.1', port, servername, ca: pki.ca }), () => {
      const out = { staple, authorized: s.authorized, protocol: s.getProtocol() };
      s.end();
      resolve(out);
    });
    s.on('OCSPResponse', (r: Buffer | null) => { if (r && r.length > 0) staple = r; }); // null: nothing stapled
    s.on('error', reject);
  });
}

const serialHex = (n: bigint): string => { const h = n.toString(16).toUpperCase(); return h.length % 2 ? `0${h}` : h; };

const captureLogger = () => captureLogs<{ level: number; msg: string }>('info');

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function origin(t: import('node:test').TestContext) {
  return startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('ok'); });
}

test('a good and a revoked certificate: each handshake staples the responder\'s answer for its own serial', async (t) => {
  const pki = await createTestPki(t);
  const good = 0x51a7e1n; const revoked = 0x0bad5e11n;
  const responder = await startOcspResponder(t, pki, [{ serial: good }, { serial: revoked, revoked: true }]);
  const a = await pki.issue('good', ['good.test'], { serial: good, ocspUrl: responder.url, chain: true });
  const r = await pki.issue('revoked', ['revoked.test'], { serial: revoked, ocspUrl: responder.url, chain: true });
  const o = await origin(t);
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }, { cert: r.cert, key: r.key }] } }],
    zones: [{ id: 'z', hosts: ['good.test', 'revoked.test'], origin: o.url }],
  });
  const l = edge.listeners[0]!;
  await l.stapler!.settled();
  const port = l.address()!.port;

  const h1 = await handshake(port, 'good.test', pki);
  assert.ok(h1.authorized);
  assert.ok(h1.staple, 'a response is stapled');
  const text = await describeResponse(pki.dir, h1.staple, pki);
  assert.match(text, /Response verify OK/);
  assert.match(text, new RegExp(`Serial Number: ${serialHex(good)}\\b`));
  assert.match(text, /Cert Status: good/);
  assert.doesNotMatch(text, /Cert Status: revoked/);

  const h2 = await handshake(port, 'revoked.test', pki);
  assert.ok(h2.staple, 'a revoked response is stapled too: the client learns it');
  const rtext = await describeResponse(pki.dir, h2.staple, pki);
  assert.match(rtext, new RegExp(`Serial Number: ${serialHex(revoked)}\\b`));
  assert.match(rtext, /Cert Status: revoked/);

  // TLS 1.2 carries the staple in CertificateStatus, TLS 1.3 in the Certificate message: both get it.
  const h12 = await new Promise<Buffer | undefined>((resolve, reject) => {
    let staple: Buffer | undefined;
    const s = tlsConnect(statusRequest({ host: '127.0.0.1', port, servername: 'good.test', ca: pki.ca, maxVersion: 'TLSv1.2' }), () => { s.end(); resolve(staple); });
    s.on('OCSPResponse', (b: Buffer | null) => { if (b && b.length > 0) staple = b; });
    s.on('error', reject);
  });
  assert.ok(h12 && h12.equals(h1.staple), 'TLS 1.2 gets the same cached response');
});

test('responder down: handshakes succeed without a staple, one warning per failure streak; back: stapled again; a reloaded certificate gets its own', async (t) => {
  const pki = await createTestPki(t);
  const downPort = await closedPort();
  const first = await pki.issue('down', ['down.test'], { serial: 0xd0e5n, ocspUrl: `http://127.0.0.1:${downPort}`, chain: true });
  const file = { cert: `${pki.dir}/edge.pem`, key: `${pki.dir}/edge.key` };
  copyFileSync(first.cert, file.cert); copyFileSync(first.key, file.key);
  const o = await origin(t);
  const log = captureLogger();
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [file] } }],
    zones: [{ id: 'z', hosts: ['down.test'], origin: o.url }],
  }, { logger: log.logger });
  const l = edge.listeners[0]!;
  await l.stapler!.settled();
  const port = l.address()!.port;
  for (let i = 0; i < 3; i++) {
    const h = await handshake(port, 'down.test', pki);
    assert.ok(h.authorized, 'the handshake completes');
    assert.equal(h.staple, undefined, 'nothing is stapled');
  }
  const warnings = () => log.lines.filter((x) => x.level === 40 && /OCSP response not fetched/.test(x.msg));
  assert.equal(warnings().length, 1);
  // A reload fetches again: still down, still one warning for the streak.
  await edge.reload();
  await l.stapler!.settled();
  assert.equal(warnings().length, 1, 'no second warning within one failure streak');

  // The responder comes up where the certificate says; the next fetch (here: the one a reload starts) staples again.
  await startOcspResponder(t, pki, [{ serial: 0xd0e5n }, { serial: 0x7e57n }], { port: downPort });
  await edge.reload();
  await l.stapler!.settled();
  const back = await handshake(port, 'down.test', pki);
  assert.ok(back.staple, 'stapled once the responder answers');
  assert.match(await describeResponse(pki.dir, back.staple, pki), /Serial Number: D0E5\b[\s\S]*Cert Status: good/);
  assert.ok(log.lines.some((x) => x.level === 30 && /stapling resumed/.test(x.msg)), 'the end of the streak is logged');

  // The certificate file is replaced: the reload fetches the new certificate's response at once.
  const next = await pki.issue('next', ['down.test'], { serial: 0x7e57n, ocspUrl: `http://127.0.0.1:${downPort}`, chain: true });
  copyFileSync(next.cert, file.cert); copyFileSync(next.key, file.key);
  await edge.reload();
  await l.stapler!.settled();
  const h = await handshake(port, 'down.test', pki);
  assert.ok(h.staple, 'stapled after the reload');
  assert.match(await describeResponse(pki.dir, h.staple, pki), /Serial Number: 7E57\b[\s\S]*Cert Status: good/);
});

test('the responder stops answering: the cached response keeps being stapled until its nextUpdate', async (t) => {
  const pki = await createTestPki(t);
  const responder = await startOcspResponder(t, pki, [{ serial: 0xcafen }]);
  const c = await pki.issue('c', ['c.test'], { serial: 0xcafen, ocspUrl: responder.url, chain: true });
  const o = await origin(t);
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: c.cert, key: c.key }] } }],
    zones: [{ id: 'z', hosts: ['c.test'], origin: o.url }],
  });
  const l = edge.listeners[0]!;
  await l.stapler!.settled();
  const before = (await handshake(l.address()!.port, 'c.test', pki)).staple;
  assert.ok(before);
  await responder.stop();
  await edge.reload(); // a refresh that fails
  await l.stapler!.settled();
  const after = (await handshake(l.address()!.port, 'c.test', pki)).staple;
  assert.ok(after && after.equals(before), 'the still-current response is kept');
});

test('tls.ocspStapling: false staples nothing even when the responder answers', async (t) => {
  const pki = await createTestPki(t);
  const responder = await startOcspResponder(t, pki, [{ serial: 0xf00dn }]);
  const c = await pki.issue('off', ['off.test'], { serial: 0xf00dn, ocspUrl: responder.url, chain: true });
  const o = await origin(t);
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: c.cert, key: c.key }], ocspStapling: false } }],
    zones: [{ id: 'z', hosts: ['off.test'], origin: o.url }],
  });
  const l = edge.listeners[0]!;
  assert.equal(l.stapler, undefined);
  const h = await handshake(l.address()!.port, 'off.test', pki);
  assert.ok(h.authorized);
  assert.equal(h.staple, undefined);
});

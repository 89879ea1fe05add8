// OCSP messages checked against openssl: the request is byte for byte what `openssl ocsp -no_nonce` sends; responses
// made by `openssl ocsp` (offline, -reqin/-respout) are read, and damaged, foreign, stale or mis-signed ones refused.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../../test/helpers/tls.js';
import { buildOcspRequest, ocspSubject, OcspError, readOcspResponse, type OcspSubject } from './ocsp.js';
import { DerError, oid, oidString, readElement, readOne } from './ocsp-der.js';
import { refreshDelay, DEFAULT_STAPLER_TIMING } from './ocsp-stapler.js';

const run = promisify(execFile);

/** openssl ca's index line for a serial (V good, R revoked). */
function indexLine(serial: bigint, revoked: boolean): string {
  let hex = serial.toString(16).toUpperCase();
  if (hex.length % 2) hex = `0${hex}`;
  return [revoked ? 'R' : 'V', '301231235959Z', revoked ? '240101000000Z' : '', hex, 'unknown', `/CN=${hex}`].join('\t');
}

interface Fixture { pki: TestPki; subject: OcspSubject; leafFile: string }

async function fixture(t: TestContext, serial = 0x1234n): Promise<Fixture> {
  const pki = await createTestPki(t);
  const leaf = await pki.issue('leaf', ['leaf.test'], { serial, ocspUrl: 'http://127.0.0.1:9/ocsp', chain: true });
  const subject = ocspSubject(readFileSync(leaf.cert));
  assert.ok(subject);
  return { pki, subject, leafFile: leaf.cert };
}

/** openssl's offline responder: answers our request from an index, signed by `signer` (default the CA). */
async function respond(f: Fixture, index: { serial: bigint; revoked?: boolean }[], extra: string[] = [], signer?: { cert: string; key: string }): Promise<Buffer> {
  const dir = f.pki.dir;
  const tag = Math.random().toString(36).slice(2);
  const idx = join(dir, `idx-${tag}.txt`);
  writeFileSync(idx, index.map((e) => `${indexLine(e.serial, e.revoked ?? false)}\n`).join(''));
  writeFileSync(join(dir, `req-${tag}.der`), buildOcspRequest(f.subject));
  await run('openssl', ['ocsp', '-index', idx, '-rsigner', signer?.cert ?? f.pki.caFile, '-rkey', signer?.key ?? f.pki.caKeyFile, '-CA', f.pki.caFile,
    '-reqin', join(dir, `req-${tag}.der`), '-respout', join(dir, `resp-${tag}.der`), ...extra]);
  return readFileSync(join(dir, `resp-${tag}.der`));
}

test('the request is what openssl ocsp -no_nonce builds for the same certificate and issuer', async (t) => {
  const f = await fixture(t);
  const out = join(f.pki.dir, 'openssl-req.der');
  await run('openssl', ['ocsp', '-issuer', f.pki.caFile, '-cert', f.leafFile, '-no_nonce', '-reqout', out]);
  assert.deepEqual(buildOcspRequest(f.subject), readFileSync(out));
  assert.equal(f.subject.url, 'http://127.0.0.1:9/ocsp');
});

test('a certificate without a responder, or without its issuer in the file, is not stapled', async (t) => {
  const pki = await createTestPki(t);
  const plain = await pki.issue('plain', ['p.test'], { chain: true });
  assert.equal(ocspSubject(readFileSync(plain.cert)), undefined, 'no Authority Information Access');
  const lone = await pki.issue('lone', ['l.test'], { ocspUrl: 'http://127.0.0.1:9/' });
  assert.equal(ocspSubject(readFileSync(lone.cert)), undefined, 'no issuer certificate after the leaf');
});

test('good, revoked and unknown answers are read with their times', async (t) => {
  const f = await fixture(t);
  const now = Date.now();
  const good = readOcspResponse(f.subject, await respond(f, [{ serial: 0x1234n }], ['-nmin', '30']));
  assert.equal(good.status, 'good');
  assert.ok(Math.abs(good.thisUpdate - now) < 120_000);
  assert.ok(good.nextUpdate !== undefined && Math.abs(good.nextUpdate - good.thisUpdate - 30 * 60_000) < 2_000);
  const revoked = readOcspResponse(f.subject, await respond(f, [{ serial: 0x1234n, revoked: true }]));
  assert.equal(revoked.status, 'revoked');
  assert.equal(revoked.revokedAt, Date.UTC(2024, 0, 1));
  assert.equal(revoked.nextUpdate, undefined, 'no -nmin/-ndays: no nextUpdate');
  assert.equal(readOcspResponse(f.subject, await respond(f, [{ serial: 0x9999n }])).status, 'unknown');
});

test('refused: another certificate\'s answer, a stale one, a wrong signer, a responder error, damaged bytes', async (t) => {
  const f = await fixture(t);
  const other = await fixture(t, 0x1234n); // same serial, another CA: the issuer hashes differ
  const foreign = await respond(other, [{ serial: 0x1234n }]);
  assert.throws(() => readOcspResponse(f.subject, foreign), (e: OcspError) => e.code === 'EOCSP' && /signed|does not answer/.test(e.message));

  const der = await respond(f, [{ serial: 0x1234n }], ['-nmin', '1']);
  assert.throws(() => readOcspResponse(f.subject, der, Date.now() + 2 * 60_000), /past its nextUpdate/);
  assert.throws(() => readOcspResponse(f.subject, der, Date.now() - 60 * 60_000), /thisUpdate is in the future/);

  // Signed by a certificate the CA issued, but not for OCSP signing (no id-kp-OCSPSigning): refused.
  const rogue = await f.pki.issue('rogue', ['rogue.test']);
  const bySigner = await respond(f, [{ serial: 0x1234n }], [], rogue);
  assert.throws(() => readOcspResponse(f.subject, bySigner), /not signed by the issuer/);

  // One flipped bit in the signed data.
  const flipped = Buffer.from(der);
  const at = flipped.indexOf(f.subject.serial);
  flipped[at + f.subject.serial.length - 1]! ^= 1;
  assert.throws(() => readOcspResponse(f.subject, flipped), OcspError);

  assert.throws(() => readOcspResponse(f.subject, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01])), /status 1/); // malformedRequest
  for (let cut = 0; cut < der.length; cut += 7) assert.throws(() => readOcspResponse(f.subject, der.subarray(0, cut)), OcspError);
  assert.throws(() => readOcspResponse(f.subject, Buffer.from('not der at all')), OcspError);
});

test('a responder the issuer delegated to (id-kp-OCSPSigning) is trusted', async (t) => {
  const f = await fixture(t);
  const ext = join(f.pki.dir, 'responder.ext');
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n');
  const key = join(f.pki.dir, 'responder.key'); const csr = join(f.pki.dir, 'responder.csr'); const cert = join(f.pki.dir, 'responder.pem');
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=responder']);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', f.pki.caFile, '-CAkey', f.pki.caKeyFile, '-set_serial', '77', '-days', '1', '-extfile', ext, '-out', cert]);
  const r = readOcspResponse(f.subject, await respond(f, [{ serial: 0x1234n }], [], { cert, key }));
  assert.equal(r.status, 'good');
});

test('DER reader: lengths past the buffer and indefinite lengths are DerErrors; OIDs round-trip', () => {
  assert.throws(() => readElement(Buffer.from([0x30, 0x05, 0x01])), DerError);
  assert.throws(() => readElement(Buffer.from([0x30, 0x80, 0x00, 0x00])), DerError);
  assert.throws(() => readElement(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1])), DerError);
  assert.throws(() => readOne(Buffer.from([0x05, 0x00, 0x05])), DerError);
  for (const o of ['1.3.6.1.5.5.7.48.1.1', '1.3.14.3.2.26', '2.16.840.1.101.3.4.2.1', '1.2.840.113549.1.1.11']) assert.equal(oidString(readOne(oid(o))), o);
});

test('refresh: halfway to nextUpdate, an hour without one, never sooner than a minute', () => {
  const now = 1_000_000_000;
  assert.equal(refreshDelay({ thisUpdate: now, nextUpdate: now + 4 * 3600_000 }, now), 2 * 3600_000);
  assert.equal(refreshDelay({ thisUpdate: now, nextUpdate: undefined }, now), DEFAULT_STAPLER_TIMING.defaultRefreshMs);
  assert.equal(refreshDelay({ thisUpdate: now - 3600_000, nextUpdate: now + 10_000 }, now), DEFAULT_STAPLER_TIMING.minRefreshMs);
});

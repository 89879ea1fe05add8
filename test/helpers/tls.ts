// Test PKI made at test time with openssl: a CA and leaf certificates with the names asked for, in a temporary directory.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import type { TestContext } from 'node:test';

const run = promisify(execFile);

export interface Issued { cert: string; key: string; spki: string; fingerprint256: string; serial: bigint }

export interface IssueOptions {
  /** The serial number (default: a fresh one). */
  serial?: bigint;
  /** An OCSP responder named in Authority Information Access (RFC 5280 §4.2.2.1). */
  ocspUrl?: string;
  /** Appends the CA certificate to the certificate file (a chain file, as OCSP stapling needs). */
  chain?: boolean;
}

export interface TestPki {
  dir: string;
  /** The CA certificate file (for curl --cacert, node's `ca`). */
  caFile: string;
  caKeyFile: string;
  ca: string;
  /** A leaf certificate for `names` (DNS names, or IP addresses), signed by the CA; `file` names its files. */
  issue(file: string, names: string[], options?: IssueOptions): Promise<Issued>;
}

/** base64(sha256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list takes. */
export function spkiHash(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createTestPki(t: TestContext): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  await run('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=edgecache test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 1;
  return {
    dir, caFile, caKeyFile: caKey, ca: readFileSync(caFile, 'utf8'),
    async issue(file, names, options = {}) {
      const key = join(dir, `${file}.key`);
      const csr = join(dir, `${file}.csr`);
      const cert = join(dir, `${file}.pem`);
      const ext = join(dir, `${file}.ext`);
      const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      const aia = options.ocspUrl ? `authorityInfoAccess=OCSP;URI:${options.ocspUrl}\n` : '';
      writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n${aia}`);
      const sn = options.serial ?? BigInt(serial++ + Date.now());
      await run('openssl', ['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${names[0]}`]);
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(sn), '-days', '2', '-extfile', ext, '-out', cert]);
      const pem = readFileSync(cert, 'utf8');
      if (options.chain) writeFileSync(cert, pem + readFileSync(caFile, 'utf8'));
      return { cert, key, spki: spkiHash(pem), fingerprint256: new X509Certificate(pem).fingerprint256, serial: sn };
    },
  };
}

// TLS certificates of a listener: read from PEM files, chosen by SNI from their own subjectAltName names (RFC 6066 §3,
// RFC 9110 §4.3.4), re-read on demand (SIGHUP) keeping the old certificate when a file is bad.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface CertificateFiles { cert: string; key: string }

/** A certificate file that cannot be used: unreadable, not PEM, or a key that does not match. */
export class CertificateError extends Error {
  readonly code = 'ECERT';
  constructor(message: string) { super(message); this.name = 'CertificateError'; }
}

/**
 * TLS settings every listener uses: TLS 1.2 at least; ciphers, groups and session tickets are Node's defaults
 * (modern AEAD suites, tickets on). https://nodejs.org/api/tls.html#modifying-the-default-tls-cipher-suite
 */
export const TLS_MIN_VERSION = 'TLSv1.2';

export interface LoadedCertificate {
  readonly files: CertificateFiles;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** DNS names and IP addresses of the subjectAltName, lowercased (`*.example.com` kept as written). */
  readonly names: readonly string[];
  readonly validTo: string;
  readonly fingerprint256: string;
  readonly context: SecureContext;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CertificateError(`cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The subjectAltName entries as Node prints them ("DNS:a.example, IP Address:127.0.0.1"), as names. */
export function altNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (!san) return [];
  const out: string[] = [];
  for (const part of san.split(/,\s*/)) {
    const m = /^(DNS|IP Address):"?([^"]*)"?$/.exec(part.trim());
    if (m) out.push(m[2]!.toLowerCase());
  }
  return out;
}

/** Reads and checks one certificate (chain) and its key; throws CertificateError naming the file and the problem. */
export function loadCertificate(files: CertificateFiles): LoadedCertificate {
  const cert = readPem(files.cert, 'certificate');
  const key = readPem(files.key, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(`${files.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw new CertificateError(`${files.key} is not a PEM private key (or it is encrypted): ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(keyObject)) throw new CertificateError(`${files.key} is not the key of the certificate in ${files.cert}`);
  const names = altNames(x509);
  if (names.length === 0) throw new CertificateError(`${files.cert} has no subjectAltName names (browsers ignore the common name)`);
  let context: SecureContext;
  try {
    context = createSecureContext({ cert, key, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    throw new CertificateError(`${files.cert}: ${(err as Error).message}`);
  }
  return { files, cert, key, names, validTo: x509.validTo, fingerprint256: x509.fingerprint256, context };
}

/** SNI name → certificate: exact names first, then `*.suffix` wildcards (one label, RFC 6125 §6.4.3); else the default. */
export class CertificateSet {
  readonly #exact = new Map<string, LoadedCertificate>();
  readonly #wildcard = new Map<string, LoadedCertificate>();

  constructor(readonly certificates: readonly LoadedCertificate[]) {
    for (const c of certificates) {
      for (const name of c.names) {
        if (name.startsWith('*.')) { if (!this.#wildcard.has(name.slice(1))) this.#wildcard.set(name.slice(1), c); }
        else if (!this.#exact.has(name)) this.#exact.set(name, c);
      }
    }
  }

  /** The first certificate: for clients that send no SNI name, or one no certificate names. */
  get default(): LoadedCertificate { return this.certificates[0]!; }

  /** The certificate whose names cover `servername` (undefined: none does). */
  match(servername: string): LoadedCertificate | undefined {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return dot > 0 ? this.#wildcard.get(name.slice(dot)) : undefined;
  }
}

export interface ReloadProblem { files: CertificateFiles; message: string }
export interface ReloadResult { loaded: number; problems: ReloadProblem[]; defaultChanged: boolean }

/** A listener's certificates: loaded at start (a bad file stops the start), swapped whole on reload. */
export class ListenerCertificates {
  #set: CertificateSet;
  #files: readonly CertificateFiles[];

  constructor(files: readonly CertificateFiles[]) {
    this.#files = files;
    this.#set = new CertificateSet(files.map(loadCertificate));
  }

  get files(): readonly CertificateFiles[] { return this.#files; }

  get current(): CertificateSet { return this.#set; }

  /** tls SNICallback: the named certificate's context, or the server's own (default) one. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const set = this.#set;
    const c = set.match(servername);
    cb(null, c === undefined || c === set.default ? undefined : c.context);
  };

  /**
   * Re-reads every file (`files`: a reloaded config's list, else the current one); an entry whose files are bad keeps
   * the certificate it had at that position (none: it is left out) and is reported.
   */
  reload(files: readonly CertificateFiles[] = this.#files): ReloadResult {
    const old = this.#set;
    const problems: ReloadProblem[] = [];
    const next = files.flatMap((f, i) => {
      try {
        return [loadCertificate(f)];
      } catch (err) {
        problems.push({ files: f, message: (err as Error).message });
        const kept = old.certificates[i];
        return kept ? [kept] : [];
      }
    });
    if (next.length === 0) return { loaded: 0, problems, defaultChanged: false };
    this.#files = files;
    this.#set = new CertificateSet(next);
    return { loaded: next.length - problems.length, problems, defaultChanged: next[0] !== old.default };
  }
}

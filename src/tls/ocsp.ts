// OCSP messages for stapling (RFC 6960): the request for one certificate, and the response read, matched to that
// certificate and checked (signed by its issuer or a responder the issuer delegated to, current) before it is stapled.
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { children, contextTag, DerError, derNull, expect, generalizedTime, octetString, oid, oidString, readOne, sequence, TAG, type Der } from './ocsp-der.js';

/** An OCSP response that cannot be stapled: refused by the responder, malformed, not about this certificate, unsigned or stale. */
export class OcspError extends Error {
  readonly code = 'EOCSP';
  constructor(message: string) { super(message); this.name = 'OcspError'; }
}

const ID_PKIX_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1'; // RFC 6960 §4.2.1
const ID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'; // RFC 6960 §4.2.2.2
const SHA1 = '1.3.14.3.2.26';
const HASHES: Readonly<Record<string, string>> = { [SHA1]: 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512' };
/** Signature algorithm OID → the digest crypto.verify takes (null: the key type implies it). */
const SIGNATURES: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512', '1.3.101.112': null, '1.3.101.113': null,
};
/** Clock difference allowed between the responder and this node for thisUpdate. */
const SKEW_MS = 5 * 60_000;

/** The certificate an OCSP request asks about, with what identifies it (RFC 6960 §4.1.1 CertID). */
export interface OcspSubject {
  leaf: X509Certificate;
  issuer: X509Certificate;
  /** The responder named in the certificate's Authority Information Access (RFC 5280 §4.2.2.1). */
  url: string;
  /** The serial number as its DER INTEGER. */
  serial: Buffer;
  /** The issuer's Name as DER (from the leaf: what the issuer name hash is over). */
  issuerName: Buffer;
  /** The issuer's subjectPublicKey bits (what the issuer key hash is over). */
  issuerKey: Buffer;
}

export type CertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspResponse {
  der: Buffer;
  status: CertStatus;
  thisUpdate: number;
  /** Absent: the responder promises nothing about when newer information exists. */
  nextUpdate: number | undefined;
  revokedAt: number | undefined;
}

/** The PEM certificates of a file, in order. */
export function pemCertificates(pem: Buffer | string): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/** The first OCSP responder URL (http or https) of a certificate's Authority Information Access, if any. */
export function ocspUrl(cert: X509Certificate): string | undefined {
  for (const m of (cert.infoAccess ?? '').matchAll(/^OCSP - URI:(\S+)$/gm)) if (/^https?:\/\//i.test(m[1]!)) return m[1];
  return undefined;
}

/**
 * What OCSP needs of a certificate file (leaf first, then its chain): undefined when the leaf names no responder or its
 * issuer is not in the file (a chain file such as Let's Encrypt's fullchain.pem has it).
 */
export function ocspSubject(chainPem: Buffer | string): OcspSubject | undefined {
  const [leaf, ...chain] = pemCertificates(chainPem);
  if (!leaf) return undefined;
  const url = ocspUrl(leaf);
  const issuer = chain.find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey));
  if (!url || !issuer) return undefined;
  const tbs = children(children(readOne(leaf.raw))[0]!);
  const at = tbs[0]?.tag === contextTag(0, true) ? 1 : 0; // [0] EXPLICIT version
  const serial = expect(tbs[at], TAG.INTEGER, 'serialNumber').raw;
  const issuerName = expect(tbs[at + 2], TAG.SEQUENCE, 'issuer Name').raw;
  const spki = children(readOne(issuer.publicKey.export({ type: 'spki', format: 'der' })));
  const issuerKey = expect(spki[1], TAG.BIT_STRING, 'subjectPublicKey').content.subarray(1);
  return { leaf, issuer, url, serial, issuerName, issuerKey };
}

function certId(s: OcspSubject, hashOid: string): Buffer {
  const h = (b: Buffer): Buffer => createHash(HASHES[hashOid]!).update(b).digest();
  return sequence(sequence(oid(hashOid), derNull()), octetString(h(s.issuerName)), octetString(h(s.issuerKey)), s.serial);
}

/** OCSPRequest for one certificate, SHA-1 CertID as responders expect (RFC 6960 §4.1.1, RFC 5019 §2.1.1), no nonce. */
export function buildOcspRequest(s: OcspSubject): Buffer {
  return sequence(sequence(sequence(sequence(certId(s, SHA1)))));
}

/** Checks the signature over ResponseData: by the issuer itself, or by a certificate the issuer signed for OCSP. */
function isSignedFor(s: OcspSubject, tbs: Der, sigAlg: Der, signature: Buffer, certs: X509Certificate[], now: number): boolean {
  const algOid = oidString(expect(children(sigAlg)[0], TAG.OID, 'signature algorithm'));
  if (!(algOid in SIGNATURES)) throw new OcspError(`signature algorithm ${algOid} is not supported`);
  const digest = SIGNATURES[algOid]!;
  const check = (key: KeyObject): boolean => { try { return verify(digest, tbs.raw, key, signature); } catch { return false; } };
  if (check(s.issuer.publicKey)) return true;
  return certs.some((c) => c.checkIssued(s.issuer) && c.verify(s.issuer.publicKey) && (c.keyUsage ?? []).includes(ID_KP_OCSP_SIGNING)
    && Date.parse(c.validFrom) <= now && now < Date.parse(c.validTo) && check(c.publicKey));
}

/** Reads an OCSPResponse and returns its answer about `s`; OcspError when it cannot be stapled. */
export function readOcspResponse(s: OcspSubject, der: Buffer, now = Date.now()): OcspResponse {
  try {
    const [status, bytes] = children(readOne(der));
    const code = expect(status, TAG.ENUMERATED, 'responseStatus').content[0];
    if (code !== 0) throw new OcspError(`the responder answered status ${code} (RFC 6960 §4.2.1: not successful)`);
    const [type, inner] = children(expect(children(expect(bytes, contextTag(0, true), 'responseBytes'))[0], TAG.SEQUENCE, 'ResponseBytes'));
    if (oidString(expect(type, TAG.OID, 'responseType')) !== ID_PKIX_OCSP_BASIC) throw new OcspError('not a basic OCSP response');
    const [tbs, sigAlg, sig, certsEl] = children(readOne(expect(inner, TAG.OCTET_STRING, 'response').content));
    const data = children(expect(tbs, TAG.SEQUENCE, 'ResponseData'));
    const certs = certsEl?.tag === contextTag(0, true)
      ? children(expect(children(certsEl)[0], TAG.SEQUENCE, 'certs')).map((c) => new X509Certificate(c.raw))
      : [];
    const signature = expect(sig, TAG.BIT_STRING, 'signature').content.subarray(1);
    if (!isSignedFor(s, tbs!, expect(sigAlg, TAG.SEQUENCE, 'signatureAlgorithm'), signature, certs, now)) throw new OcspError('the response is not signed by the issuer or a responder it delegated to');
    const at = data[0]?.tag === contextTag(0, true) ? 1 : 0;
    const responses = children(expect(data[at + 2], TAG.SEQUENCE, 'responses'));
    for (const r of responses) {
      const [id, certStatus, thisUpdateEl, ...rest] = children(r);
      const idParts = children(expect(id, TAG.SEQUENCE, 'CertID'));
      const hashOid = oidString(expect(children(idParts[0]!)[0], TAG.OID, 'hash algorithm'));
      if (!(hashOid in HASHES) || !certId(s, hashOid).equals(id!.raw)) continue;
      const thisUpdate = generalizedTime(thisUpdateEl!);
      const next = rest.find((e) => e.tag === contextTag(0, true));
      const nextUpdate = next ? generalizedTime(children(next)[0]!) : undefined;
      if (thisUpdate > now + SKEW_MS) throw new OcspError('thisUpdate is in the future');
      if (nextUpdate !== undefined && nextUpdate <= now) throw new OcspError('the response is past its nextUpdate');
      const tag = certStatus!.tag;
      if (tag === contextTag(0, false)) return { der, status: 'good', thisUpdate, nextUpdate, revokedAt: undefined };
      if (tag === contextTag(1, true)) return { der, status: 'revoked', thisUpdate, nextUpdate, revokedAt: generalizedTime(children(certStatus!)[0]!) };
      if (tag === contextTag(2, false)) return { der, status: 'unknown', thisUpdate, nextUpdate, revokedAt: undefined };
      throw new OcspError('malformed certStatus');
    }
    throw new OcspError('the response does not answer for this certificate');
  } catch (err) {
    if (err instanceof DerError) throw new OcspError(`malformed OCSP response: ${err.message}`);
    if (err instanceof OcspError) throw err;
    throw new OcspError(`unreadable OCSP response: ${(err as Error).message}`);
  }
}

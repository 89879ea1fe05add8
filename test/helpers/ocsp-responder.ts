// A real OCSP responder for tests: `openssl ocsp` serving an index of good and revoked serials, signed by the test CA.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { TestPki } from './tls.js';

const run = promisify(execFile);

export interface OcspResponder {
  url: string;
  port: number;
  /** Stops the responder (it is stopped after the test anyway). */
  stop(): Promise<void>;
}

/** openssl ca's index line: V (valid) or R (revoked), expiry, revocation time, serial in hex, file, subject. */
function indexLine(serial: bigint, revoked: boolean): string {
  let hex = serial.toString(16).toUpperCase();
  if (hex.length % 2) hex = `0${hex}`;
  return [revoked ? 'R' : 'V', '301231235959Z', revoked ? '240101000000Z' : '', hex, 'unknown', `/CN=serial-${hex}`].join('\t');
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Starts `openssl ocsp` on an ephemeral port (it prints the one it bound) or `port`, answering for `serials` (revoked ones as
 * revoked), responses valid `validMinutes` (nextUpdate, default 60), signed with the CA's own key.
 */
export async function startOcspResponder(t: TestContext, pki: TestPki, serials: { serial: bigint; revoked?: boolean }[], opts: { validMinutes?: number; port?: number } = {}): Promise<OcspResponder> {
  const index = join(pki.dir, `ocsp-index-${Date.now()}.txt`);
  writeFileSync(index, serials.map((s) => `${indexLine(s.serial, s.revoked ?? false)}\n`).join(''));
  writeFileSync(`${index}.attr`, 'unique_subject = no\n');
  const child = spawn('openssl', ['ocsp', '-index', index, '-port', String(opts.port ?? 0), '-rsigner', pki.caFile, '-rkey', pki.caKeyFile, '-CA', pki.caFile, '-nmin', String(opts.validMinutes ?? 60)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => stopChild(child));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /ACCEPT \S*:(\d+)/.exec(out);
      if (m) { child.stdout!.off('data', onData); child.stderr!.off('data', onData); resolve(Number(m[1])); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`openssl ocsp exited (${code}): ${out}`)));
    setTimeout(() => reject(new Error(`openssl ocsp did not start: ${out}`)), 10_000).unref();
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { url: `http://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

/** What `openssl ocsp -respin -resp_text` reads in a DER response (an independent reader): serial and status lines. */
export async function describeResponse(dir: string, der: Buffer, pki: TestPki): Promise<string> {
  const file = join(dir, `resp-${Date.now()}-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, der);
  const { stdout, stderr } = await run('openssl', ['ocsp', '-respin', file, '-resp_text', '-CAfile', pki.caFile]);
  return `${stdout}\n${stderr}`;
}

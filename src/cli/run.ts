// What every CLI command shares: CliError and exit codes, output through commander, flag helpers, safe printing.
import { isToken } from '../http/fields.js';
import type { Command } from 'commander';

/** Exit codes: 0 success, 1 the API refused or could not be reached, 2 bad flags or config. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: 'EUSAGE' | 'ECONFIG' | 'EADMIN',
    message: string,
  ) {
    super(message);
  }
  get exitCode(): number {
    return this.code === 'EADMIN' ? EXIT_FAILED : EXIT_USAGE;
  }
}

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

/** Writes through the root program's configured output, so tests and embedders can capture it. */
export function outputOf(cmd: Command): CliOutput {
  let root = cmd;
  while (root.parent) root = root.parent;
  const cfg = root.configureOutput();
  const writeOut = cfg.writeOut ?? ((s: string) => process.stdout.write(s));
  const writeErr = cfg.writeErr ?? ((s: string) => process.stderr.write(s));
  return { out: (line) => writeOut(`${line}\n`), err: (line) => writeErr(`${line}\n`) };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// RFC 9110 §5.1: field-name = token (https://www.rfc-editor.org/rfc/rfc9110#section-5.1)

/** Parses repeated `--header 'Name: value'` flags into an object with lowercased names. */
export function parseHeaderFlags(flags: readonly string[] | undefined): Record<string, string> {
  const headers = new Map<string, string>();
  for (const flag of flags ?? []) {
    const colon = flag.indexOf(':');
    const name = (colon === -1 ? flag : flag.slice(0, colon)).trim();
    if (colon === -1 || !isToken(name)) throw new CliError('EUSAGE', `--header ${JSON.stringify(flag)} is not "Name: value"`);
    const lower = name.toLowerCase();
    if (headers.has(lower)) throw new CliError('EUSAGE', `--header ${JSON.stringify(name)} is given twice`);
    headers.set(lower, flag.slice(colon + 1).trim()); // RFC 9110 §5.5: surrounding whitespace is not part of the value
  }
  return Object.fromEntries(headers);
}

/** Shows control characters from the network as escapes so they cannot drive the terminal. */
export function printable(value: string): string {
  return value.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Runs an action body, turning CliErrors into a message and process.exitCode (never process.exit). */
export async function runCli(cmd: Command, body: (io: CliOutput) => Promise<number>): Promise<void> {
  const io = outputOf(cmd);
  try {
    const code = await body(io);
    if (code !== 0) process.exitCode = code;
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    io.err(`edgecache: ${err.message}`);
    process.exitCode = err.exitCode;
  }
}

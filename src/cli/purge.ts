// `edgecache purge`: builds a Cloudflare-shaped purge body from flags and sends it to the admin API; also holds the
// admin-API client helpers (target resolution from flags/env/config, header flags, calls, output) that inspect uses.
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { isToken } from '../http/fields.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8788';
export const DEFAULT_ZONE = 'default';
export const TOKEN_ENV = 'EDGECACHE_ADMIN_TOKEN';
const REQUEST_TIMEOUT_MS = 30_000;

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

export interface AdminTargetFlags {
  admin?: string;
  token?: string;
  zone?: string;
  config?: string;
}

export interface AdminTarget {
  adminUrl: URL;
  token: string;
  zone: string;
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

/** Adds --admin/--token/--zone/--config to a command. */
export function addAdminTargetOptions(cmd: Command): Command {
  return cmd
    .option('--admin <url>', `admin API base URL (default: the config's admin.listen, else ${DEFAULT_ADMIN_URL})`)
    .option('--token <token>', `admin token (default: $${TOKEN_ENV}, else the config's token for the zone)`)
    .option('--zone <id>', 'zone id', DEFAULT_ZONE)
    .option('--config <file>', 'edgecache config file to take the admin address and token from');
}

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

function adminUrlFromListen(listen: { host: string; port: number }): string {
  let host = listen.host;
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${listen.port}`;
}

/** Admin URL: --admin, else config admin.listen, else the default. Token: --token, else $EDGECACHE_ADMIN_TOKEN, else config. */
export function resolveAdminTarget(flags: AdminTargetFlags): AdminTarget {
  const zone = flags.zone ?? DEFAULT_ZONE;
  if (zone === '') throw new CliError('EUSAGE', '--zone must not be empty');
  let config: Config | undefined;
  if (flags.config !== undefined) {
    try {
      config = loadConfigFile(flags.config);
    } catch (err) {
      throw new CliError('ECONFIG', err instanceof Error ? err.message : `cannot load config ${flags.config}`);
    }
  }
  const rawUrl = flags.admin ?? (config ? adminUrlFromListen(config.admin.listen) : DEFAULT_ADMIN_URL);
  let adminUrl: URL;
  try {
    adminUrl = new URL(rawUrl);
  } catch {
    throw new CliError('EUSAGE', `--admin ${JSON.stringify(rawUrl)} is not a URL (e.g. ${DEFAULT_ADMIN_URL})`);
  }
  if (adminUrl.protocol !== 'http:' && adminUrl.protocol !== 'https:') throw new CliError('EUSAGE', `--admin ${JSON.stringify(rawUrl)} must be an http(s) URL`);
  if (!adminUrl.pathname.endsWith('/')) adminUrl.pathname += '/';

  const envToken = process.env[TOKEN_ENV];
  const tokens = config?.admin.tokens ?? [];
  const configToken = (tokens.find((t) => t.zones.includes('*') || t.zones.includes(zone)) ?? tokens[0])?.token;
  const token = flags.token ?? (envToken !== undefined && envToken !== '' ? envToken : configToken);
  if (token === undefined || token === '') {
    throw new CliError('EUSAGE', `no admin token: pass --token, set ${TOKEN_ENV}, or point --config at a config with admin.tokens`);
  }
  return { adminUrl, token, zone };
}

export interface CfEnvelope<R = unknown> {
  success: boolean;
  errors: { code: number; message: string }[];
  messages: unknown[];
  result: R;
}

export interface AdminReply<R = unknown> {
  status: number;
  envelope: CfEnvelope<R> | undefined;
  text: string;
}

/** POSTs JSON to `path` under the admin URL with bearer auth. Network failures become CliError('EADMIN'). */
export async function postAdmin<R>(target: AdminTarget, path: string, body: unknown): Promise<AdminReply<R>> {
  const url = new URL(path, target.adminUrl);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      redirect: 'error',
    });
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000}s` : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new CliError('EADMIN', `cannot reach the admin API at ${url.origin}: ${why}`);
  }
  let envelope: CfEnvelope<R> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as CfEnvelope).success === 'boolean') envelope = parsed as CfEnvelope<R>;
  } catch {
    envelope = undefined;
  }
  return { status: res.status, envelope, text };
}

/** Shows control characters from the network as escapes so they cannot drive the terminal. */
export function printable(value: string): string {
  return value.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Prints a refusal from the admin API (its Cloudflare errors, or the raw status) to stderr. */
export function reportFailure(io: CliOutput, what: string, reply: AdminReply): void {
  io.err(`edgecache: ${what} failed (HTTP ${reply.status})`);
  const errors = Array.isArray(reply.envelope?.errors) ? reply.envelope.errors : [];
  for (const e of errors) io.err(`  error ${printable(String(e.code))}: ${printable(String(e.message))}`);
  if (errors.length === 0) io.err(`  ${printable(reply.text.slice(0, 300)) || '(empty reply)'}`);
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

interface PurgeFlags extends AdminTargetFlags {
  url?: string[];
  header?: string[];
  tag?: string[];
  host?: string[];
  prefix?: string[];
  everything?: boolean;
  soft?: boolean;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Turns the flags into the purge body and a description of it; throws CliError('EUSAGE') for bad combinations. */
export function buildPurgeBody(flags: PurgeFlags): { body: Record<string, unknown>; what: string } {
  const kinds = [
    flags.url?.length ? '--url' : undefined,
    flags.tag?.length ? '--tag' : undefined,
    flags.host?.length ? '--host' : undefined,
    flags.prefix?.length ? '--prefix' : undefined,
    flags.everything ? '--everything' : undefined,
  ].filter((k) => k !== undefined);
  if (kinds.length !== 1) {
    const got = kinds.length === 0 ? 'none' : kinds.join(' and ');
    throw new CliError('EUSAGE', `choose exactly one of --url, --tag, --host, --prefix or --everything (got ${got})`);
  }
  if (flags.header?.length && !flags.url?.length) throw new CliError('EUSAGE', '--header applies to --url only');
  const soft = flags.soft ? { soft: true } : {};
  if (flags.everything) return { body: { purge_everything: true, ...soft }, what: 'everything' };
  if (flags.url?.length) {
    const headers = parseHeaderFlags(flags.header);
    const names = Object.keys(headers);
    const files = names.length === 0 ? flags.url : flags.url.map((url) => ({ url, headers }));
    const variant = names.length === 0 ? '' : ` (the variant selected by ${names.join(', ')})`;
    return { body: { files, ...soft }, what: `${plural(flags.url.length, 'file', 'files')}${variant}` };
  }
  if (flags.tag?.length) return { body: { tags: flags.tag, ...soft }, what: plural(flags.tag.length, 'tag', 'tags') };
  if (flags.host?.length) return { body: { hosts: flags.host, ...soft }, what: plural(flags.host.length, 'host', 'hosts') };
  const prefixes = flags.prefix ?? [];
  return { body: { prefixes, ...soft }, what: plural(prefixes.length, 'prefix', 'prefixes') };
}

/** Registers `edgecache purge`. */
export function addPurgeCommand(program: Command): Command {
  const cmd = program
    .command('purge')
    .description('purge cached content through the admin API (exactly one of --url, --tag, --host, --prefix, --everything)')
    .option('--url <url>', 'absolute URL to purge, every variant unless --header is given (repeatable)', collect)
    .option('--header <header>', "'Name: value' request header selecting one variant of each --url (repeatable)", collect)
    .option('--tag <tag>', 'Cache-Tag to purge (repeatable)', collect)
    .option('--host <host>', 'host name to purge (repeatable)', collect)
    .option('--prefix <prefix>', 'host/path prefix to purge, no scheme, e.g. cdn.example.com/assets/ (repeatable)', collect)
    .option('--everything', 'purge the whole zone')
    .option('--soft', 'mark entries stale so they revalidate instead of deleting them');
  addAdminTargetOptions(cmd);
  cmd.action(async (flags: PurgeFlags, self: Command) => {
    await runCli(self, async (io) => {
      const { body, what } = buildPurgeBody(flags);
      const target = resolveAdminTarget(flags);
      const reply = await postAdmin<{ id?: string }>(target, `client/v4/zones/${encodeURIComponent(target.zone)}/purge_cache`, body);
      if (reply.status !== 200 || reply.envelope?.success !== true) {
        reportFailure(io, 'purge', reply);
        return EXIT_FAILED;
      }
      const id = reply.envelope.result?.id;
      const verb = flags.soft ? 'soft-purged (marked stale)' : 'purged';
      io.out(`${verb} ${what} in zone ${printable(target.zone)}${id ? ` (id ${printable(String(id))})` : ''}`);
      return 0;
    });
  });
  return cmd;
}

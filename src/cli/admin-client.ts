// The CLI's admin-API client: which admin API and token to use (flags, environment, config) and the calls it makes.
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CliError, printable, type CliOutput } from './run.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8788';
export const DEFAULT_ZONE = 'default';
export const TOKEN_ENV = 'EDGECACHE_ADMIN_TOKEN';
const REQUEST_TIMEOUT_MS = 30_000;

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

/** Adds --admin/--token/--zone/--config to a command. */
export function addAdminTargetOptions(cmd: Command): Command {
  return cmd
    .option('--admin <url>', `admin API base URL (default: the config's admin.listen, else ${DEFAULT_ADMIN_URL})`)
    .option('--token <token>', `admin token (default: $${TOKEN_ENV}, else the config's token for the zone)`)
    .option('--zone <id>', 'zone id', DEFAULT_ZONE)
    .option('--config <file>', 'edgecache config file to take the admin address and token from');
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

/** One cached variant as the inspect API reports it. */
export interface InspectVariant {
  selector: Record<string, string | null>;
  status: number;
  age: number;
  ttl: number;
  tags: string[];
  bytes: number;
  stale: boolean;
  /** True for the variant a request with the given headers would get. */
  selected: boolean;
}

export interface InspectResult {
  url: string;
  variants: InspectVariant[];
}

/** POST /client/v4/zones/{zone}/purge_cache with a Cloudflare-shaped purge body. */
export function purgeCache(target: AdminTarget, body: Record<string, unknown>): Promise<AdminReply<{ id?: string }>> {
  return postAdmin(target, `client/v4/zones/${encodeURIComponent(target.zone)}/purge_cache`, body);
}

/** POST /edgecache/v1/zones/{zone}/inspect: the cached variants of `url`, and which one `headers` would select. */
export function inspectUrl(target: AdminTarget, url: string, headers: Record<string, string>): Promise<AdminReply<InspectResult>> {
  return postAdmin(target, `edgecache/v1/zones/${encodeURIComponent(target.zone)}/inspect`, { url, headers });
}

/** Prints a refusal from the admin API (its Cloudflare errors, or the raw status) to stderr. */
export function reportFailure(io: CliOutput, what: string, reply: AdminReply): void {
  io.err(`edgecache: ${what} failed (HTTP ${reply.status})`);
  const errors = Array.isArray(reply.envelope?.errors) ? reply.envelope.errors : [];
  for (const e of errors) io.err(`  error ${printable(String(e.code))}: ${printable(String(e.message))}`);
  if (errors.length === 0) io.err(`  ${printable(reply.text.slice(0, 300)) || '(empty reply)'}`);
}

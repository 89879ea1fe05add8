// The CLI's admin-API client: which admin API and token to use (flags, environment, config) and the calls it makes.
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { compileZoneKeyRules } from '../cache/zone-keys.js';
import { ADMIN_PROBE_PATH, notAdminApiReason } from '../admin/identity.js';
import { API_ERRORS } from '../purge/api-errors.js';
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
    .option('--zone <id>', `zone id (default: with --config, the zone serving the URLs' or hosts' host, else ${DEFAULT_ZONE})`)
    .option('--config <file>', 'edgecache config file to take the admin address and token from');
}

function adminUrlFromListen(listen: { host: string; port: number }): string {
  let host = listen.host;
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${listen.port}`;
}

/**
 * The zone when --zone is not given: with a config, the one zone serving every host the command names (as the edge
 * routes a Host: exact, then the longest *.suffix, then *); with no host named, the config's only zone; else "default".
 */
export function inferZone(config: Config | undefined, hosts: readonly string[], source = 'the config'): string {
  if (!config || config.zones.length === 0) return DEFAULT_ZONE;
  if (hosts.length === 0) return config.zones.length === 1 ? config.zones[0]!.id : DEFAULT_ZONE;
  const router = compileZoneKeyRules(config);
  const ids = new Set<string>();
  for (const host of hosts) {
    const zone = router.match(host.toLowerCase());
    if (!zone) throw new CliError('EUSAGE', `no zone in ${source} serves host ${JSON.stringify(host)}: pass --zone`);
    ids.add(zone.id);
  }
  if (ids.size > 1) throw new CliError('EUSAGE', `the hosts belong to zones ${[...ids].join(', ')}: purge each zone separately, with --zone`);
  return [...ids][0]!;
}

/**
 * Admin URL: --admin, else config admin.listen, else the default. Zone: --zone, else inferred from `hosts` (the hosts
 * the command names) and the config (inferZone). Token: --token, else $EDGECACHE_ADMIN_TOKEN, else the config's.
 */
export function resolveAdminTarget(flags: AdminTargetFlags, hosts: readonly string[] = []): AdminTarget {
  if (flags.zone === '') throw new CliError('EUSAGE', '--zone must not be empty');
  let config: Config | undefined;
  if (flags.config !== undefined) {
    try {
      config = loadConfigFile(flags.config);
    } catch (err) {
      throw new CliError('ECONFIG', err instanceof Error ? err.message : `cannot load config ${flags.config}`);
    }
  }
  const zone = flags.zone ?? inferZone(config, hosts, flags.config);
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

/** One request to the admin listener (never following redirects); network failures become CliError('EADMIN'). */
async function fetchAdmin(url: URL, init: RequestInit): Promise<{ res: Response; text: string }> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), redirect: 'error' });
    return { res, text: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000}s` : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new CliError('EADMIN', `cannot reach the admin API at ${url.origin}: ${why}`);
  }
}

/** Whether an answer is the admin API's refusal of the Host it was sent (a Cloudflare-shaped error, code 1021). */
function refusesHost(text: string): boolean {
  try {
    const errors = (JSON.parse(text) as { errors?: unknown }).errors;
    return Array.isArray(errors) && errors.some((e) => (e as { code?: unknown } | null)?.code === API_ERRORS.hostNotAllowed.code);
  } catch {
    return false;
  }
}

/**
 * Checks, without credentials, that the admin URL is edgecache's admin API (GET /healthz identifies it): the token is
 * only ever sent there, never to the edge port (which would relay it to an origin) or to anything else.
 */
export async function verifyAdminApi(adminUrl: URL): Promise<void> {
  const url = new URL(ADMIN_PROBE_PATH, adminUrl);
  const { res, text } = await fetchAdmin(url, { method: 'GET', headers: { accept: 'application/json' } });
  if (res.status === 421 && refusesHost(text)) {
    throw new CliError('EADMIN', `the admin API at ${adminUrl.origin} does not answer to the host name ${JSON.stringify(adminUrl.hostname)} ` +
      '(HTTP 421; it answers to IP addresses, localhost and the names in its config\'s admin.hosts), so the token was not sent: ' +
      'use its IP address or add the name to admin.hosts');
  }
  const why = notAdminApiReason(res.status, (name) => res.headers.get(name), text);
  if (why !== undefined) {
    throw new CliError('EUSAGE', `${adminUrl.href} is not edgecache's admin API (${why}), so the token was not sent; ` +
      'is --admin pointing at the edge port? The admin API listens on admin.listen (default 127.0.0.1:8788)');
  }
}

/** POSTs JSON to `path` under the admin URL with bearer auth, once the URL is verified to be the admin API. */
export async function postAdmin<R>(target: AdminTarget, path: string, body: unknown): Promise<AdminReply<R>> {
  await verifyAdminApi(target.adminUrl);
  return requestAdmin<R>(target, 'POST', path, body);
}

/** One bearer-authenticated request to `path` under an admin URL already verified (verifyAdminApi) to be the admin API. */
export async function requestAdmin<R>(target: AdminTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<AdminReply<R>> {
  const url = new URL(path, target.adminUrl);
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const { res, text } = await fetchAdmin(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
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

/** What GET /client/v4/zones/{zone}/purge_cache/{id} answers: how many live nodes applied the purge. */
export interface PurgeStatus {
  applied: number;
  live: number;
  nodes: { node: string; lastAppliedId: string; ageMs: number; live: boolean; applied: boolean }[];
}

/** GET /client/v4/zones/{zone}/purge_cache/{id} (the admin URL must be verified already: purgeCache did). */
export function purgeStatus(target: AdminTarget, id: string): Promise<AdminReply<PurgeStatus>> {
  return requestAdmin(target, 'GET', `client/v4/zones/${encodeURIComponent(target.zone)}/purge_cache/${encodeURIComponent(id)}`);
}

/** POST /edgecache/v1/zones/{zone}/inspect: the cached variants of `url`, and which one `headers` would select. */
export function inspectUrl(target: AdminTarget, url: string, headers: Record<string, string>): Promise<AdminReply<InspectResult>> {
  return postAdmin(target, `edgecache/v1/zones/${encodeURIComponent(target.zone)}/inspect`, { url, headers });
}

/** Prints the notes of a successful answer (its envelope's `messages`, e.g. "Nothing matched"). */
export function reportMessages(io: CliOutput, reply: AdminReply): void {
  const messages: unknown[] = Array.isArray(reply.envelope?.messages) ? reply.envelope.messages : [];
  for (const m of messages) {
    const { code, message } = (typeof m === 'object' && m !== null ? m : { message: m }) as { code?: unknown; message?: unknown };
    io.out(`  note${code === undefined ? '' : ` ${printable(String(code))}`}: ${printable(String(message))}`);
  }
}

/** Prints a refusal from the admin API (its Cloudflare errors, or the raw status) to stderr. */
export function reportFailure(io: CliOutput, what: string, reply: AdminReply): void {
  io.err(`edgecache: ${what} failed (HTTP ${reply.status})`);
  const errors = Array.isArray(reply.envelope?.errors) ? reply.envelope.errors : [];
  for (const e of errors) io.err(`  error ${printable(String(e.code))}: ${printable(String(e.message))}`);
  if (errors.length === 0) io.err(`  ${printable(reply.text.slice(0, 300)) || '(empty reply)'}`);
}

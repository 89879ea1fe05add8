// Loads config: file (YAML or JSON) + command-line flags + environment → one validated Config, or a ConfigError.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { constants as bufferConstants } from 'node:buffer';
import { configSchema, type Config, type ConfigInput } from './schema.js';
import { allowedKeysAt } from './json-schema.js';

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

/** Flags that override the file (undefined = not given). */
export interface ConfigOverrides {
  origin?: string;
  /** One or more listen addresses (replace the file's listeners). */
  listen?: string | string[];
  /** Certificate and key files (paired in order): the listeners named by --listen (or every configured one) use TLS. */
  tlsCert?: string[];
  tlsKey?: string[];
  adminListen?: string;
  adminToken?: string;
  logLevel?: string;
  workers?: string;
  cluster?: string;
  /** --no-fast-path: false turns the fast path for hits off (config `fastPath`). */
  fastPath?: boolean;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

/** One line per problem, naming the field, the bad value and what is allowed: `zones[0].origin: got "ftp://x": expected ...`. */
export function formatIssues(error: z.ZodError, input: unknown, source: string): string {
  const lines = error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(issue.path);
      return issue.keys.map((key) => {
        const where = pathText([...issue.path, key]);
        return `  ${where}: got ${describe(valueAt(input, [...issue.path, key]))}: unknown setting${allowed ? ` (allowed here: ${allowed.join(', ')})` : ''}`;
      });
    }
    return [`  ${pathText(issue.path) || '(top level)'}: got ${describe(valueAt(input, issue.path))}: ${issue.message}`];
  });
  return `invalid config (${source}):\n${lines.join('\n')}`;
}

export function parseConfigText(text: string, source: string): unknown {
  try {
    return source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`cannot parse ${source}: ${(err as Error).message}`);
  }
}

export function validateConfig(input: unknown, source: string): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error, input, source));
  const config = result.data;
  const ids = new Set<string>();
  const hostOwner = new Map<string, string>();
  for (const [i, zone] of config.zones.entries()) {
    if (ids.has(zone.id)) throw new ConfigError(`invalid config (${source}):\n  zones[${i}].id: got ${describe(zone.id)}: zone ids must be unique`);
    ids.add(zone.id);
    // Host → zone routing must be unambiguous: the same name (or wildcard, or "*") in two zones is an error.
    for (const [j, host] of zone.hosts.entries()) {
      const owner = hostOwner.get(host);
      if (owner !== undefined && owner !== zone.id) {
        throw new ConfigError(`invalid config (${source}):\n  zones[${i}].hosts[${j}]: got ${describe(host)}: zone ${describe(owner)} already serves that host; each host belongs to one zone`);
      }
      hostOwner.set(host, zone.id);
    }
  }
  // A token scoped to a zone that does not exist is a typo that would silently refuse every purge it is used for.
  for (const [i, t] of config.admin.tokens.entries()) {
    for (const [j, z] of t.zones.entries()) {
      if (z !== '*' && !ids.has(z)) {
        const known = ids.size > 0 ? `known zones: ${[...ids].join(', ')}` : 'no zones are configured';
        throw new ConfigError(`invalid config (${source}):\n  admin.tokens[${i}].zones[${j}]: got ${describe(z)}: no such zone (${known}; "*" means every zone)`);
      }
    }
  }
  if (config.cache.store === 'disk' && !config.cache.path) {
    throw new ConfigError(`invalid config (${source}):\n  cache.path: got nothing: cache.store "disk" needs cache.path (a directory)`);
  }
  const addresses = new Set<string>();
  for (const [i, l] of config.listen.entries()) {
    const at = `${l.host}:${l.port}`;
    if (l.port !== 0 && addresses.has(at)) throw new ConfigError(`invalid config (${source}):\n  listen[${i}]: got ${describe(at)}: each address is listened on once`);
    addresses.add(at);
    if (l.tls && l.h2c) throw new ConfigError(`invalid config (${source}):\n  listen[${i}].h2c: got true: h2c (HTTP/2 without TLS) is for plain listeners; a TLS listener offers h2 by ALPN`);
  }
  if (config.zones.some((z) => z.redirectHttp) && !config.listen.some((l) => l.tls)) {
    const i = config.zones.findIndex((z) => z.redirectHttp);
    throw new ConfigError(`invalid config (${source}):\n  zones[${i}].redirectHttp: got true: no listener has tls, so there is no https to redirect to`);
  }
  config.cache.maxObjectBytes = objectBound(config.cache, hasOwnMaxObjectBytes(input));
  return config;
}

/**
 * The largest object stored, by where bodies live. With a disk tier: `maxObjectBytes` (default 1 GiB), up to the tier's
 * bytes; bodies stream to disk, so its size costs no memory. Without one every stored body is in memory, buffered whole
 * while it is fetched: by default the bound is an eighth of `cache.maxBytes` (32 MiB of the default 256 MiB), so one
 * object never evicts the whole store; a value set explicitly is the operator's choice, kept up to `cache.maxBytes` (and
 * Node's largest Buffer). Larger objects stream through uncached.
 */
export function objectBound(cache: Pick<Config['cache'], 'store' | 'disk' | 'maxBytes' | 'maxObjectBytes'>, explicit: boolean): number {
  if (cache.store === 'disk') return Math.min(cache.maxObjectBytes, cache.disk?.maxBytes ?? Number.MAX_SAFE_INTEGER);
  // A fill is buffered whole in one Buffer: never past the largest one Node makes (4 GiB on Node 20).
  return Math.min(cache.maxObjectBytes, explicit ? cache.maxBytes : Math.floor(cache.maxBytes / 8), BUFFER_MAX_LENGTH);
}

const BUFFER_MAX_LENGTH = bufferConstants.MAX_LENGTH;

function hasOwnMaxObjectBytes(input: unknown): boolean {
  const cache = typeof input === 'object' && input !== null ? (input as { cache?: unknown }).cache : undefined;
  return typeof cache === 'object' && cache !== null && (cache as { maxObjectBytes?: unknown }).maxObjectBytes !== undefined;
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return validateConfig(parseConfigText(text, path), path);
}

/** `--tls-cert`/`--tls-key`: pairs (in order) become the certificates of every listener that has no `tls` of its own. */
function applyTlsFlags(input: Record<string, unknown>, flags: ConfigOverrides): void {
  const certs = flags.tlsCert ?? [];
  const keys = flags.tlsKey ?? [];
  if (certs.length === 0 && keys.length === 0) return;
  if (certs.length !== keys.length) {
    throw new ConfigError(`--tls-cert and --tls-key come in pairs: got ${certs.length} certificate file(s) and ${keys.length} key file(s)`);
  }
  const certificates = certs.map((cert, i) => ({ cert, key: keys[i]! }));
  const given = input.listen ?? '127.0.0.1:8787';
  const entries = Array.isArray(given) ? given : [given];
  input.listen = entries.map((e: unknown) => {
    if (typeof e === 'string') return { address: e, tls: { certificates } };
    if (e !== null && typeof e === 'object' && !('tls' in e)) return { ...e, tls: { certificates } };
    return e;
  });
}

/** File, then flags, then environment for what flags did not give. Flags override the file. */
export function resolveConfig(file: string | undefined, flags: ConfigOverrides, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  let source = 'flags';
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const parsed = parseConfigText(text, file);
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`invalid config (${file}): the top level must be a mapping of settings`);
    }
    raw = { ...(parsed as Record<string, unknown> | null) };
    source = `${file} + flags`;
  }
  const input = raw as ConfigInput & Record<string, unknown>;
  if (flags.listen !== undefined) input.listen = Array.isArray(flags.listen) ? flags.listen : [flags.listen];
  applyTlsFlags(input, flags);
  const admin = { ...(input.admin as Record<string, unknown> | undefined) };
  if (flags.adminListen !== undefined) admin.listen = flags.adminListen;
  const token = flags.adminToken ?? env.EDGECACHE_ADMIN_TOKEN;
  if (token !== undefined && token !== '') {
    admin.tokens = [...((admin.tokens as unknown[] | undefined) ?? []), { token, zones: ['*'] }];
  }
  input.admin = admin as ConfigInput['admin'];
  if (flags.logLevel !== undefined) input.logLevel = flags.logLevel as Config['logLevel'];
  if (flags.workers !== undefined) input.workers = flags.workers === 'auto' ? 'auto' : Number(flags.workers);
  if (flags.fastPath === false) input.fastPath = false;
  if (flags.cluster !== undefined) input.cluster = { ...(input.cluster as object | undefined), redis: flags.cluster } as ConfigInput['cluster'];
  if (flags.origin !== undefined) {
    const zones = (input.zones as unknown[] | undefined) ?? [];
    if (zones.length > 0 && file) {
      throw new ConfigError(`--origin cannot be combined with zones from ${file}: set each zone's origin in the file`);
    }
    input.zones = [{ id: 'default', hosts: ['*'], origin: flags.origin }];
  }
  // A config file that names no zone would otherwise fall back to the demo origin: an operator's typo served as a demo.
  if (file && ((input.zones as unknown[] | undefined) ?? []).length === 0) {
    throw new ConfigError(`invalid config (${file}):\n  zones: got ${describe(input.zones)}: a config file must define at least one zone (or pass --origin); the demo origin runs only without a config file`);
  }
  return validateConfig(input, source);
}

// `edgecache purge`: builds a Cloudflare-shaped purge body from flags and sends it to the admin API.
import type { Command } from 'commander';
import { addAdminTargetOptions, purgeCache, reportFailure, reportMessages, resolveAdminTarget, type AdminTargetFlags } from './admin-client.js';
import { CliError, collect, EXIT_FAILED, parseHeaderFlags, printable, runCli } from './run.js';

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

/** The hosts a purge names (its URLs' hosts, its hosts, its prefixes' hosts), to find its zone in the config. */
export function purgeHosts(flags: PurgeFlags): string[] {
  const hosts: string[] = [];
  for (const url of flags.url ?? []) {
    try { hosts.push(new URL(url).host); } catch { /* not a URL: the API refuses it with its reason */ }
  }
  for (const host of flags.host ?? []) hosts.push(host);
  for (const prefix of flags.prefix ?? []) hosts.push(prefix.split('/', 1)[0]!);
  return hosts.filter((h) => h !== '');
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
      const target = resolveAdminTarget(flags, purgeHosts(flags));
      const reply = await purgeCache(target, body);
      if (reply.status !== 200 || reply.envelope?.success !== true) {
        reportFailure(io, 'purge', reply);
        return EXIT_FAILED;
      }
      const id = reply.envelope.result?.id;
      const verb = flags.soft ? 'soft-purged (marked stale)' : 'purged';
      io.out(`${verb} ${what} in zone ${printable(target.zone)}${id ? ` (id ${printable(String(id))})` : ''}`);
      reportMessages(io, reply);
      return 0;
    });
  });
  return cmd;
}

// `edgecache purge`: builds a Cloudflare-shaped purge body from flags and sends it to the admin API.
import type { Command } from 'commander';
import { addAdminTargetOptions, purgeCache, purgeStatus, reportFailure, reportMessages, resolveAdminTarget, type AdminTarget, type AdminTargetFlags } from './admin-client.js';
import { CliError, collect, EXIT_FAILED, parseHeaderFlags, printable, runCli, type CliOutput } from './run.js';

interface PurgeFlags extends AdminTargetFlags {
  url?: string[];
  header?: string[];
  tag?: string[];
  host?: string[];
  prefix?: string[];
  everything?: boolean;
  soft?: boolean;
  wait?: boolean;
  timeout?: string;
}

const WAIT_POLL_MS = 250;
const DEFAULT_WAIT_S = 60;

/** The --timeout seconds (default 60); throws CliError('EUSAGE') when it is not a positive number. */
export function waitSeconds(flags: PurgeFlags): number {
  if (flags.timeout === undefined) return DEFAULT_WAIT_S;
  const s = Number(flags.timeout);
  if (!Number.isFinite(s) || s <= 0) throw new CliError('EUSAGE', `--timeout ${JSON.stringify(flags.timeout)} must be a positive number of seconds`);
  return s;
}

/** Polls the purge status until every live node applied purge `id` (0) or `seconds` pass (EXIT_FAILED). */
async function waitForFleet(io: CliOutput, target: AdminTarget, id: string, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let last = 'no answer yet';
  for (;;) {
    const reply = await purgeStatus(target, id);
    const r = reply.envelope?.result;
    if (reply.status === 200 && reply.envelope?.success === true && r && typeof r.applied === 'number' && typeof r.live === 'number') {
      if (r.live > 0 && r.applied >= r.live) {
        io.out(`applied on ${r.applied} of ${r.live} live ${r.live === 1 ? 'node' : 'nodes'}`);
        return 0;
      }
      const behind = r.nodes.filter((n) => n.live && !n.applied).map((n) => printable(n.node));
      last = `applied on ${r.applied} of ${r.live} live nodes${behind.length ? `; not yet on ${behind.join(', ')}` : ''}`;
    } else if (reply.status !== 503) {
      reportFailure(io, 'purge status', reply);
      return EXIT_FAILED;
    } else last = 'the cluster is unavailable';
    if (Date.now() >= deadline) {
      io.err(`edgecache: timed out after ${seconds}s waiting for every live node to apply purge ${printable(id)}: ${last}`);
      return EXIT_FAILED;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
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
    .option('--soft', 'mark entries stale so they revalidate instead of deleting them')
    .option('--wait', 'wait until every live cluster node has applied the purge (exit 1 on --timeout)')
    .option('--timeout <seconds>', `with --wait, how long to wait (default ${DEFAULT_WAIT_S})`);
  addAdminTargetOptions(cmd);
  cmd.action(async (flags: PurgeFlags, self: Command) => {
    await runCli(self, async (io) => {
      const { body, what } = buildPurgeBody(flags);
      const seconds = waitSeconds(flags);
      if (flags.timeout !== undefined && !flags.wait) throw new CliError('EUSAGE', '--timeout applies to --wait only');
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
      if (!flags.wait) return 0;
      if (!id) { io.err('edgecache: the admin API gave no purge id to wait for'); return EXIT_FAILED; }
      return waitForFleet(io, target, String(id), seconds);
    });
  });
  return cmd;
}

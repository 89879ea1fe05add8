// `edgecache inspect URL`: asks the admin API which variants of a URL are cached and prints them as a table or JSON.
import type { Command } from 'commander';
import {
  addAdminTargetOptions,
  inspectUrl,
  reportFailure,
  resolveAdminTarget,
  type AdminTargetFlags,
  type InspectResult,
} from './admin-client.js';
import { CliError, collect, EXIT_FAILED, parseHeaderFlags, printable, runCli } from './run.js';

interface InspectFlags extends AdminTargetFlags {
  header?: string[];
  json?: boolean;
}

function formatSelector(selector: Record<string, string | null> | undefined): string {
  const entries = Object.entries(selector ?? {});
  if (entries.length === 0) return '(no key headers)';
  return entries.map(([name, value]) => `${name}: ${value === null || value === undefined ? '(absent)' : value}`).join('; ');
}

function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function seconds(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n)}s` : '-';
}

/** Renders the variants as an aligned text table; `*` marks the selected variant. */
export function formatInspectTable(result: InspectResult, zone: string): string[] {
  const variants = Array.isArray(result.variants) ? result.variants : [];
  const url = printable(String(result.url));
  if (variants.length === 0) return [`not cached: ${url} (zone ${printable(zone)})`];
  const header = ['', 'SELECTOR', 'STATUS', 'AGE', 'TTL', 'STALE', 'SIZE', 'TAGS'];
  const rows = variants.map((v) => [
    v.selected ? '*' : '',
    formatSelector(v.selector),
    String(v.status),
    seconds(v.age),
    seconds(v.ttl),
    v.stale ? 'yes' : 'no',
    formatBytes(v.bytes),
    Array.isArray(v.tags) && v.tags.length > 0 ? v.tags.join(', ') : '-',
  ].map((cell) => printable(cell)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const lines = [`${url} (zone ${printable(zone)}, ${variants.length} ${variants.length === 1 ? 'variant' : 'variants'})`, line(header), ...rows.map(line)];
  lines.push(variants.some((v) => v.selected) ? '* = the variant a request with these headers would get' : 'no variant matches these headers: such a request would be a miss');
  if (variants.some((v) => Object.values(v.selector ?? {}).some((x) => typeof x === 'string' && x.startsWith('hmac:')))) {
    lines.push('hmac:… = a keyed hash of a header value the API never shows (equal values, equal hashes); purge with --header and the real value');
  }
  return lines;
}

/** Registers `edgecache inspect URL`. */
export function addInspectCommand(program: Command): Command {
  const cmd = program
    .command('inspect')
    .description('show the cached variants of a URL (selector, status, age, ttl, tags, size) and which one a request would get')
    .argument('<url>', 'absolute URL, e.g. https://cdn.example.com/app.js')
    .option('--header <header>', "'Name: value' request header, as the browser would send it (repeatable)", collect)
    .option('--json', 'print the result as JSON');
  addAdminTargetOptions(cmd);
  cmd.action(async (url: string, flags: InspectFlags, self: Command) => {
    await runCli(self, async (io) => {
      if (!/^https?:\/\/[^/?#]/i.test(url)) throw new CliError('EUSAGE', `${JSON.stringify(url)} is not an absolute http(s) URL (e.g. https://cdn.example.com/app.js)`);
      const headers = parseHeaderFlags(flags.header);
      const target = resolveAdminTarget(flags, URL.canParse(url) ? [new URL(url).host] : []);
      const reply = await inspectUrl(target, url, headers);
      const result = reply.envelope?.result;
      if (reply.status !== 200 || reply.envelope?.success !== true || typeof result !== 'object' || result === null) {
        reportFailure(io, 'inspect', reply);
        return EXIT_FAILED;
      }
      if (flags.json) io.out(JSON.stringify(result, null, 2));
      else for (const line of formatInspectTable(result, target.zone)) io.out(line);
      return 0;
    });
  });
  return cmd;
}

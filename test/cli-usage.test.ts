// The compiled CLI (bin/edgecache.js → dist/) as a child process: exit codes for commander's own errors, --version
// from package.json, `edgecache schema`. Build first: npx tsc -p tsconfig.build.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/edgecache.js');

function edgecache(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env, timeout: 30_000 }, (err, out, errText) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out, err: errText });
    });
  });
}

test('the compiled CLI exists (npx tsc -p tsconfig.build.json)', () => {
  assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is missing: run npx tsc -p tsconfig.build.json');
});

test("commander's own errors exit 2 (usage), with commander's message", async () => {
  const cases: [string[], RegExp][] = [
    [['purge', '--bogus'], /unknown option '--bogus'/],
    [['purge', '--zone'], /option '--zone <id>' argument missing/],
    [['inspect'], /missing required argument 'url'/],
    [['check-config'], /missing required argument 'file'/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['schema', 'extra'], /too many arguments/],
    [[], /Usage: edgecache/],
  ];
  for (const [args, message] of cases) {
    const r = await edgecache(args);
    assert.equal(r.code, 2, `edgecache ${args.join(' ')}: exit 2 (stderr: ${r.err})`);
    assert.match(r.err, message, `edgecache ${args.join(' ')}`);
  }
});

test('--help exits 0; --version prints the version in package.json', async () => {
  const help = await edgecache(['purge', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage: edgecache purge/);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await edgecache(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.out, `${version}\n`);
});

test('edgecache schema prints the JSON Schema the package ships', async () => {
  const r = await edgecache(['schema']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, readFileSync(join(ROOT, 'schema/edgecache.schema.json'), 'utf8'));
  assert.equal((JSON.parse(r.out) as { $schema: string }).$schema, 'https://json-schema.org/draft/2020-12/schema');
});

// Config that is nonsense is refused with a message naming the field, the value and what is allowed (never accepted
// silently): non-IP trusted proxies, tokens for zones that do not exist, a config file without zones; and the
// forwarding defaults an operator may extend without losing them (stripHeaders adds; {replace} replaces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, resolveConfig, validateConfig } from '../src/config/load.js';
import { DEFAULT_STRIP_HEADERS } from '../src/config/schema.js';

const origin = 'http://127.0.0.1:9';
const refused = (input: unknown, re: RegExp): void => {
  assert.throws(() => validateConfig(input, 't'), (e: Error) => e instanceof ConfigError && re.test(e.message), `expected ${re}`);
};

test('trustedProxies: IPs and CIDR ranges are accepted; host names and bad prefixes are refused, naming the entry', () => {
  const ok = validateConfig({ zones: [{ id: 'z', origin, trustedProxies: ['10.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1'] }] }, 't');
  assert.deepEqual(ok.zones[0]!.trustedProxies, ['10.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1']);
  refused({ zones: [{ id: 'z', origin, trustedProxies: ['lb.internal'] }] }, /zones\[0\]\.trustedProxies\[0\]: got "lb\.internal": expected an IP address or a CIDR range/);
  refused({ zones: [{ id: 'z', origin, trustedProxies: ['10.0.0.1', '10.0.0.0/40'] }] }, /zones\[0\]\.trustedProxies\[1\]: got "10\.0\.0\.0\/40": expected a prefix length from 0 to 32/);
});

test('an admin token scoped to a zone that does not exist is refused, listing the zones that do', () => {
  refused({ admin: { tokens: [{ token: 'a-long-enough-secret-1', zones: ['asets'] }] }, zones: [{ id: 'assets', origin }] },
    /admin\.tokens\[0\]\.zones\[0\]: got "asets": no such zone \(known zones: assets; "\*" means every zone\)/);
  const ok = validateConfig({ admin: { tokens: [{ token: 'a-long-enough-secret-1', zones: ['assets', '*'] }] }, zones: [{ id: 'assets', origin }] }, 't');
  assert.deepEqual(ok.admin.tokens[0]!.zones, ['assets', '*']);
});

test('a config file without zones is refused (it used to serve the demo origin); --origin still fills one in', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of [['empty.yaml', 'zones: []\n'], ['none.yaml', 'logLevel: warn\n']] as const) {
    await writeFile(join(dir, name), text);
    assert.throws(() => resolveConfig(join(dir, name), {}), (e: Error) => e instanceof ConfigError && /zones: got .*: a config file must define at least one zone \(or pass --origin\)/.test(e.message), name);
    assert.equal(resolveConfig(join(dir, name), { origin }).zones[0]!.id, 'default');
  }
  // Without a config file, no zones still means the demo (serve adds it).
  assert.deepEqual(resolveConfig(undefined, {}).zones, []);
});

test('stripHeaders: a list adds to the defaults, {replace} replaces them, anything else is refused', () => {
  const added = validateConfig({ zones: [{ id: 'z', origin, stripHeaders: ['X-Debug-Host'] }] }, 't').zones[0]!.stripHeaders;
  assert.deepEqual(added, [...DEFAULT_STRIP_HEADERS, 'x-debug-host']);
  const replaced = validateConfig({ zones: [{ id: 'z', origin, stripHeaders: { replace: ['X-Only'] } }] }, 't').zones[0]!.stripHeaders;
  assert.deepEqual(replaced, ['x-only']);
  assert.deepEqual(validateConfig({ zones: [{ id: 'z', origin }] }, 't').zones[0]!.stripHeaders, [...DEFAULT_STRIP_HEADERS]);
  refused({ zones: [{ id: 'z', origin, stripHeaders: 'x-a' }] }, /stripHeaders: got "x-a": expected a list of header names .* or \{replace: \[header names\]\}/);
  for (const name of ['x-forwarded-ssl', 'front-end-https', 'x-original-host', 'x-http-host-override', 'x-forwarded-path']) {
    assert.ok(DEFAULT_STRIP_HEADERS.includes(name), `${name} is stripped by default`);
  }
});

// Tests for the service helper: skip loudly outside CI, fail in CI, find commands on PATH without a shell.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { findCommand, hasCommand, requireService } from './service.js';

function withCi<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

/** Records skip() calls instead of skipping the test that checks them. */
function fakeContext(): { t: TestContext; skipped: string[] } {
  const skipped: string[] = [];
  const t = { name: 'needs-a-service', skip: (m?: string) => skipped.push(m ?? '') } as unknown as TestContext;
  return { t, skipped };
}

test('an available service is simply required', () => {
  const { t, skipped } = fakeContext();
  assert.equal(withCi('true', () => requireService(t, 'redis-server', true, 'apt-get install redis-server')), true);
  assert.deepEqual(skipped, []);
});

test('outside CI a missing service skips the test, with a banner on stderr', () => {
  const { t, skipped } = fakeContext();
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.join(' '));
  try {
    assert.equal(withCi(undefined, () => requireService(t, 'redis-server', false, 'apt-get install redis-server')), false);
  } finally {
    console.error = original;
  }
  assert.equal(skipped.length, 1);
  assert.match(skipped[0] as string, /redis-server is not available.*apt-get install redis-server/);
  assert.match(errors.join('\n'), /SKIPPED "needs-a-service".*apt-get install redis-server/);
});

test('in CI (CI=true) a missing service fails the test, saying what to install', () => {
  const { t, skipped } = fakeContext();
  assert.throws(() => withCi('true', () => requireService(t, 'redis-server', false, 'apt-get install redis-server')), /redis-server is not available.*apt-get install redis-server.*CI=true/);
  assert.deepEqual(skipped, []);
});

test('hasCommand finds executables on PATH or by path, without running a shell', () => {
  const nodeDir = dirname(process.execPath);
  const saved = process.env.PATH;
  process.env.PATH = `relative/dir:${nodeDir}`;
  try {
    assert.equal(findCommand(basename(process.execPath)), process.execPath);
    assert.equal(hasCommand('definitely-not-a-command-edgecache'), false);
    assert.equal(hasCommand('node; touch /tmp/pwned'), false);
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(hasCommand(process.execPath), true);
  assert.equal(hasCommand('/etc/hostname-not-here'), false);
  assert.equal(hasCommand(nodeDir), false, 'a directory is not a command');
});

// Test helper: the project rule for tests that need an external service (skip loudly locally, fail in CI).
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { TestContext } from 'node:test';

/** The CI rule: in CI (`CI=true`) every service a test needs must be installed, so a missing one fails. */
export function isCi(): boolean {
  return process.env.CI === 'true';
}

/**
 * Returns true when the service is available. Otherwise: in CI it throws (the test fails, saying what to
 * install); elsewhere it prints a banner on stderr, marks the test skipped and returns false — the caller
 * must then `return` at once:
 *
 *   if (!requireService(t, 'redis-server', hasRedisServer(), 'apt-get install redis-server')) return;
 */
export function requireService(t: TestContext | undefined, name: string, available: boolean, hint: string): boolean {
  if (available) return true;
  const what = `${name} is not available — install it: ${hint}`;
  if (isCi()) {
    throw new Error(`${what} (CI=true: a missing service fails the test instead of skipping it)`);
  }
  const line = '!'.repeat(78);
  console.error(`\n${line}\n!! SKIPPED${t ? ` "${t.name}"` : ''}: ${what}\n!! (with CI=true this test would FAIL)\n${line}\n`);
  t?.skip(what);
  return false;
}

/** True when `cmd` is an executable file: an explicit path, or a name found on PATH (no shell is run). */
export function hasCommand(cmd: string): boolean {
  return findCommand(cmd) !== null;
}

/** The absolute path of `cmd` (explicit path or PATH lookup), or null when it is not an executable file. */
export function findCommand(cmd: string): string | null {
  if (cmd.length === 0) return null;
  if (cmd.includes('/')) return isExecutableFile(cmd) ? cmd : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue; // never resolve relative to the cwd
    const candidate = join(dir, cmd);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Tests for bench/proc.ts: children in their own process group are stopped with their descendants; memory; ports.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, groupCpuSeconds, groupMemoryBytes, groupPids, logTail, sleep, spawnTracked, stopProcess } from './proc.js';

test('stopProcess ends the whole process group, grandchildren included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A shell that starts a grandchild sleeper and then waits on it.
  const p = spawnTracked('sh', '/bin/sh', ['-c', 'sleep 60 & echo started; wait'], { logFile: join(dir, 'log') });
  t.after(() => stopProcess(p, 500));
  for (let i = 0; i < 100 && groupPids(p.pid).length < 2; i++) await sleep(20);
  const pids = groupPids(p.pid);
  assert.ok(pids.length >= 2, `shell and sleeper in the group: ${pids.join(',')}`);
  assert.ok(groupMemoryBytes(p.pid) > 0);
  await stopProcess(p, 2000);
  assert.equal(p.hasExited(), true);
  for (let i = 0; i < 50 && groupPids(p.pid).length > 0; i++) await sleep(20);
  assert.deepEqual(groupPids(p.pid), []);
  assert.match(readFileSync(join(dir, 'log'), 'utf8'), /started/);
  assert.equal(logTail(join(dir, 'log')), 'started');
});

test('freePort returns a bindable loopback port', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
});

test('groupCpuSeconds counts the CPU a process group burns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'log');
  // A child that spins until it has used 300 ms of CPU (not of wall time: on a loaded machine it gets a share of a core),
  // says so, then sleeps: its CPU time must show up, and stop growing once it sleeps.
  const spin = 'const s = process.cpuUsage(); for (;;) { const u = process.cpuUsage(s); if (u.user + u.system >= 300_000) break; } console.log("idle"); setTimeout(() => {}, 60_000)';
  const p = spawnTracked('spin', process.execPath, ['-e', spin], { logFile: log });
  t.after(() => stopProcess(p, 500));
  assert.equal(groupCpuSeconds(process.pid + 1_000_000), 0, 'no such group: nothing counted');
  for (let i = 0; i < 800 && !readFileSync(log, 'utf8').includes('idle'); i++) await sleep(25);
  const used = groupCpuSeconds(p.pid);
  assert.ok(used >= 0.25, `spinning child used ${used} s of CPU`);
  await sleep(300);
  const later = groupCpuSeconds(p.pid);
  assert.ok(later - used < 0.1, `a sleeping child adds (almost) nothing: ${used} → ${later}`);
});

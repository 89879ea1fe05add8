// Graceful shutdown on real processes (the compiled CLI): in-flight answers finish, a kept-alive connection does not
// hold the exit after its last answer, a stalled origin and a stalled Redis together stay within the documented bound
// (10 s grace + 2 s), and a SIGTERM during start-up is logged and exits cleanly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrigin, sleep } from './helpers/http.js';
import { hasRedisServer, REDIS_HINT, startRedis } from './helpers/redis-server.js';
import { requireService } from './helpers/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/edgecache.js');
const GRACE_MS = 10_000;
const MARGIN_MS = 2_000;

function serve(t: TestContext, args: string[]) {
  assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is missing: run npx tsc -p tsconfig.build.json');
  const env = { ...process.env };
  delete env.EDGECACHE_ADMIN_TOKEN;
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<{ code: number | string; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, at: Date.now() })));
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines = (): Record<string, unknown>[] => out.split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  const logLine = async (msg: RegExp, ms = 60_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines().find((j) => typeof j.msg === 'string' && msg.test(j.msg));
      if (found) return found;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no log line ${msg}; stdout: ${out.slice(-800)} stderr: ${err.slice(-800)}`);
      await sleep(25);
    }
  };
  return { child, exited, lines, logLine };
}

test('an in-flight answer finishes; its kept-alive connection does not hold the exit for keepAliveTimeoutMs', { timeout: 60_000 }, async (t) => {
  const origin = await startOrigin(t, (_req, res) => { setTimeout(() => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('slow'); }, 1500); });
  const edge = serve(t, ['--origin', origin.url]);
  const serving = await edge.logLine(/^edgecache serving$/);
  const agent = new Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const answer = new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
    httpRequest(`http://${String(serving.edge)}/slow`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, at: Date.now() }));
    }).on('error', reject).end();
  });
  await sleep(200);
  const sent = Date.now();
  edge.child.kill('SIGTERM');
  const got = await answer;
  assert.equal(got.status, 200);
  assert.equal(got.body, 'slow');
  const exit = await edge.exited;
  assert.equal(exit.code, 0);
  // The answer came after ~1.3 s; node's keep-alive timeout (5 s) would have held the exit until ~6.5 s.
  assert.ok(exit.at - got.at < 2_500, `exited ${exit.at - got.at} ms after the last answer (${exit.at - sent} ms after SIGTERM)`);
  assert.ok(edge.lines().some((l) => l.msg === 'stopped'), 'the stop is logged');
});

test('a stalled origin request and a stalled Redis: the exit stays within grace + margin', { timeout: 90_000 }, async (t) => {
  if (!requireService(t, 'redis-server', hasRedisServer(), REDIS_HINT)) return;
  const redis = await startRedis();
  t.after(async () => { try { process.kill(redis.pid, 'SIGCONT'); } catch { /* gone */ } await redis.stop(); });
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/stall') return; // never answers (closed with the origin at the end)
    res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('ok');
  });
  const edge = serve(t, ['--origin', origin.url, '--cluster', redis.url]);
  const serving = await edge.logLine(/^edgecache serving$/);
  const stalled = new Promise<string>((resolve) => {
    httpRequest(`http://${String(serving.edge)}/stall`, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(`status ${res.statusCode}`)); res.on('error', () => resolve('cut')); })
      .on('error', (e) => resolve(`error ${e.message}`)).end();
  });
  await sleep(300);
  process.kill(redis.pid, 'SIGSTOP'); // Redis stops answering: the purge bus's goodbye cannot complete
  await sleep(200);
  const sent = Date.now();
  edge.child.kill('SIGTERM');
  const exit = await edge.exited;
  const took = exit.at - sent;
  assert.equal(exit.code, 0, `clean exit (stdout: ${edge.lines().slice(-3).map((l) => l.msg).join(' | ')})`);
  assert.ok(took >= GRACE_MS - 200, `the in-flight request got its grace period (${took} ms)`);
  assert.ok(took <= GRACE_MS + MARGIN_MS, `exited within ${GRACE_MS + MARGIN_MS} ms (${took} ms)`);
  assert.match(await stalled, /^(status 5\d\d|cut|error .*)$/, 'the stalled request was ended');
});

test('SIGTERM during start-up (Redis unreachable) is logged and the process exits 0', { timeout: 60_000 }, async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.end('ok'); });
  // Port 1 refuses connections: start-up waits for Redis for a while before it serves without it.
  const edge = serve(t, ['--origin', origin.url, '--cluster', 'redis://127.0.0.1:1']);
  await edge.logLine(/^purge bus: Redis connection error$/);
  assert.ok(!edge.lines().some((l) => l.msg === 'edgecache serving'), 'still starting');
  edge.child.kill('SIGTERM');
  const exit = await edge.exited;
  assert.equal(exit.code, 0);
  const msgs = edge.lines().map((l) => l.msg);
  assert.ok(msgs.some((m) => typeof m === 'string' && m.startsWith('stopping during start-up')), `logged: ${msgs.join(' | ')}`);
  assert.ok(msgs.includes('stopped'), 'and the stop completed');
});

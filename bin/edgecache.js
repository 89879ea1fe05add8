#!/usr/bin/env node
// edgecache command-line entry: runs the compiled CLI (built by `npm run build`, run by `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('edgecache: dist/ is missing; run `npm run build` (npm install runs it for you).');
  process.exit(1);
}
// A stop signal while the modules load (before `serve` sets up its own handlers, which replace these) still logs and
// ends the process cleanly.
const stopEarly = (signal) => {
  process.stdout.write(`${JSON.stringify({ level: 30, time: new Date().toISOString(), pid: process.pid, signal, msg: 'stopping during start-up' })}\n`);
  process.exit(0);
};
if (process.argv[2] === 'serve') {
  process.once('SIGTERM', stopEarly);
  process.once('SIGINT', stopEarly);
}
await import(main.href);

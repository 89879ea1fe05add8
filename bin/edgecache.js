#!/usr/bin/env node
// edgecache command-line entry: runs the compiled CLI (built by `npm run build`, run by `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('edgecache: dist/ is missing; run `npm run build` (npm install runs it for you).');
  process.exit(1);
}
await import(main.href);

// The dashboard's static files (hand-written HTML, JS, CSS in the package's top-level dashboard/ directory), read once.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname, join } from 'node:path';

export interface Asset { body: Buffer; type: string }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * src/admin/dashboard/ (under tsx) and dist/admin/dashboard/ (built) are both three levels below the package root,
 * where dashboard/ ships (package.json "files"): no copy step, no build step for users.
 */
export const ASSET_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

/** Every file of the asset directory by URL name ("/" for index.html); an empty map when the directory is missing. */
export function loadAssets(dir = ASSET_DIR): Map<string, Asset> {
  const out = new Map<string, Asset>();
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    out.set(name === 'index.html' ? '' : name, { body, type });
  }
  return out;
}

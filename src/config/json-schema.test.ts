// The config's JSON Schema: the shipped copy equals the generated one, it accepts the README's example and refuses
// typos, and "unknown setting" messages list the keys it allows (read from it, not from zod internals).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { allowedKeysAt, configJsonSchema, configJsonSchemaText, SCHEMA_FILE } from './json-schema.js';
import { configSchema, zoneObject } from './schema.js';
import { ConfigError, validateConfig } from './load.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(fileURLToPath(new URL(path, ROOT)), 'utf8');

/** The YAML example under "## Config file" in the README. */
function readmeExample(): unknown {
  const readme = read('README.md');
  const section = readme.split('\n## Config file')[1]?.split('\n## ')[0] ?? '';
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the README has a YAML example under "## Config file"');
  return parseYaml(m[1]!);
}

test('the shipped schema file is the generated one (regenerate with `npm run schema`)', () => {
  assert.equal(read(SCHEMA_FILE), configJsonSchemaText(), `${SCHEMA_FILE} is stale: run \`npm run schema\``);
  const pkg = JSON.parse(read('package.json')) as { files: string[] };
  assert.ok(pkg.files.includes(SCHEMA_FILE.split('/')[0]!), 'package.json "files" ships the schema directory');
});

test('the schema, read back by a validator, accepts the README example and refuses unknown keys and wrong types', () => {
  const shipped = JSON.parse(read(SCHEMA_FILE)) as Parameters<typeof z.fromJSONSchema>[0];
  const validator = z.fromJSONSchema(shipped);
  const example = readmeExample() as { zones: Record<string, unknown>[]; cache: Record<string, unknown> };
  assert.equal(validator.safeParse(example).success, true, JSON.stringify(validator.safeParse(example).error?.issues));
  validateConfig(example, 'README'); // and the edge's own validation agrees

  const typo = structuredClone(example);
  (typo.zones[0]!.cacheKey as Record<string, unknown>).qurey = 'all';
  const typoResult = validator.safeParse(typo);
  assert.equal(typoResult.success, false);
  assert.deepEqual(typoResult.error?.issues.map((i) => i.path), [['zones', 0, 'cacheKey']]);

  const wrongType = structuredClone(example);
  wrongType.cache.maxBytes = '256MB';
  assert.equal(validator.safeParse(wrongType).success, false);
  const badEnum = structuredClone(example);
  badEnum.cache.store = 'redis';
  assert.equal(validator.safeParse(badEnum).success, false);
});

test('the schema describes the input side: defaults shown, defaulted fields not required, every top-level key present', () => {
  const s = configJsonSchema() as { properties: Record<string, { default?: unknown }>; required?: string[]; additionalProperties?: unknown };
  assert.deepEqual(Object.keys(s.properties), Object.keys(configSchema.shape));
  assert.equal(s.additionalProperties, false);
  assert.equal(s.required, undefined, 'an empty config file is valid');
  assert.equal(s.properties.logLevel?.default, 'info');
  assert.deepEqual(allowedKeysAt(['zones', 0]), Object.keys(zoneObject.shape));
});

test('allowedKeysAt follows objects and arrays and gives up on unions and free-form values', () => {
  assert.deepEqual(allowedKeysAt(['zones', 3, 'cacheKey']), ['query', 'headers', 'cachePreflight', 'maxVariants']);
  assert.deepEqual(allowedKeysAt(['admin', 'tokens', 0]), ['token', 'zones']);
  assert.equal(allowedKeysAt(['zones', 0, 'cacheKey', 'query']), undefined, 'a union of shapes names no one key set');
  assert.equal(allowedKeysAt(['zones', 'x']), undefined);
  assert.equal(allowedKeysAt(['logLevel']), undefined);
});

test('an unknown setting is reported with the keys allowed at its place', () => {
  const bad = { zones: [{ id: 'a', origin: 'http://127.0.0.1:9000', cacheKey: { qurey: 'all' } }], cache: { maxByte: 1 } };
  assert.throws(() => validateConfig(bad, 'test.yaml'), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /zones\[0\]\.cacheKey\.qurey: got "all": unknown setting \(allowed here: query, headers, cachePreflight, maxVariants\)/);
    assert.match(err.message, /cache\.maxByte: got 1: unknown setting \(allowed here: maxBytes, maxObjectBytes, store, path, memory, disk, heapGrowthPercent, heapMinHeadroomBytes, slice\)/);
    return true;
  });
});

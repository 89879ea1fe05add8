// The config file's JSON Schema, generated from the zod schema (z.toJSONSchema, input side), and lookups in it.
import { z } from 'zod';
import { configSchema } from './schema.js';

/** Where the shipped copy lives in the package (schema/edgecache.schema.json), for editors' `$schema` / yaml-language-server. */
export const SCHEMA_FILE = 'schema/edgecache.schema.json';

export type JsonSchema = Record<string, unknown>;

let generated: JsonSchema | undefined;

/**
 * The JSON Schema (draft 2020-12) of what a config file may contain: the input side of the zod schema, so defaults
 * appear as `default` and fields with a default are not `required`. Checks that only code expresses (host:port syntax,
 * origin URLs, unique zone ids) are not in it: `edgecache check-config` remains the full check.
 */
export function configJsonSchema(): JsonSchema {
  generated ??= {
    ...z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }),
    title: 'edgecache config',
    description: 'edgecache config file (YAML or JSON). Generated from src/config/schema.ts by `edgecache schema`; validate fully with `edgecache check-config FILE`.',
  };
  return generated;
}

/** The schema as the `edgecache schema` command prints it and the package ships it (2-space JSON, final newline). */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

function isObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows a local `$ref` (#/$defs/...) so reused sub-schemas resolve too. */
function deref(root: JsonSchema, s: unknown): JsonSchema | undefined {
  let cur = s;
  for (let i = 0; i < 16 && isObject(cur) && typeof cur.$ref === 'string'; i++) {
    const ref: string = cur.$ref;
    if (!ref.startsWith('#/')) return undefined;
    cur = ref.slice(2).split('/').reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), root);
  }
  return isObject(cur) ? cur : undefined;
}

/**
 * The setting names the config allows at `path` (e.g. ['zones', 0, 'cacheKey']), read from the JSON Schema, for
 * "unknown setting" messages; undefined where the path is not one object (a union of shapes, a free-form value).
 */
export function allowedKeysAt(path: readonly PropertyKey[], root: JsonSchema = configJsonSchema()): string[] | undefined {
  let s = deref(root, root);
  for (const p of path) {
    if (!s) return undefined;
    if (typeof p === 'number' && s.type === 'array') s = deref(root, s.items);
    else if (typeof p === 'string' && s.type === 'object' && isObject(s.properties)) s = deref(root, s.properties[p]);
    else return undefined;
  }
  return s && s.type === 'object' && isObject(s.properties) ? Object.keys(s.properties) : undefined;
}

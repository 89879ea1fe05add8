// Config schema (zod): listen addresses, admin tokens, cache bounds, zones; defaults live here.
import { z } from 'zod';
import { corsConfigSchema } from '../cors/schema.js';

const hostPort = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected HOST:PORT (e.g. 127.0.0.1:8787), got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2]) as string, port };
});

const originUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && !u.search && !u.hash;
  } catch { return false; }
}, { message: 'expected an origin URL like http://127.0.0.1:9000 (scheme, host, optional port; no path or query)' })
  .transform((s) => s.replace(/\/$/, ''));

const lowerList = z.array(z.string().min(1)).transform((a) => [...new Set(a.map((s) => s.toLowerCase()))]);

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');

export const DEFAULT_STRIP_HEADERS = [
  'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-scheme', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-forwarded-server', 'x-host', 'forwarded', 'x-original-url', 'x-rewrite-url', 'x-http-method-override',
  'x-http-method', 'x-method-override',
];

export const queryModeSchema = z.union([
  z.enum(['all', 'sorted', 'none']),
  z.object({ include: z.array(z.string()) }).strict(),
  z.object({ exclude: z.array(z.string()) }).strict(),
]);
export type QueryMode = z.infer<typeof queryModeSchema>;

export const zoneSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'zone ids are 1-64 letters, digits, _ . -'),
  hosts: z.array(z.string().min(1)).min(1).default(['*']).transform((a) => a.map((h) => h.toLowerCase())),
  origin: originUrl,
  timeouts: z.object({
    connectMs: z.number().int().positive().default(5_000),
    headersMs: z.number().int().positive().default(30_000),
    bodyMs: z.number().int().positive().default(30_000),
  }).strict().default({ connectMs: 5_000, headersMs: 30_000, bodyMs: 30_000 }),
  cacheKey: z.object({
    query: queryModeSchema.default('all'),
    headers: z.array(headerName).default(['origin']).transform((a) => [...new Set(a.map((s) => s.toLowerCase()))]),
    cachePreflight: z.boolean().default(false),
  }).strict().default({ query: 'all', headers: ['origin'], cachePreflight: false }),
  cors: corsConfigSchema.optional(),
  defaultTtl: z.number().int().nonnegative().optional(),
  ignoreRequestCacheControl: z.boolean().default(false),
  stripHeaders: lowerList.default(DEFAULT_STRIP_HEADERS),
  trustedProxies: z.array(z.string()).default([]),
}).strict();

export const configSchema = z.object({
  listen: hostPort.default({ host: '127.0.0.1', port: 8787 }),
  admin: z.object({
    listen: hostPort.default({ host: '127.0.0.1', port: 8788 }),
    tokens: z.array(z.object({
      token: z.string().min(16, 'admin tokens must be at least 16 characters'),
      zones: z.array(z.string()).min(1).default(['*']),
    }).strict()).default([]),
  }).strict().default({ listen: { host: '127.0.0.1', port: 8788 }, tokens: [] }),
  cache: z.object({
    maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
    maxObjectBytes: z.number().int().positive().default(32 * 1024 * 1024),
    store: z.enum(['memory', 'disk']).default('memory'),
    path: z.string().optional(),
  }).strict().default({ maxBytes: 256 * 1024 * 1024, maxObjectBytes: 32 * 1024 * 1024, store: 'memory' }),
  purge: z.object({ maxItems: z.number().int().positive().max(100_000).default(500) }).strict().default({ maxItems: 500 }),
  zones: z.array(zoneSchema).default([]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  workers: z.union([z.number().int().positive().max(64), z.literal('auto')]).default(1),
  cluster: z.object({
    redis: z.string().regex(/^rediss?:\/\//, 'expected redis://HOST:PORT'),
    sharedCache: z.boolean().default(false),
    stream: z.string().default('edgecache:purges'),
  }).strict().optional(),
}).strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type Zone = z.output<typeof zoneSchema>;

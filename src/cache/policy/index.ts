// Public surface of the pure HTTP caching policy (RFC 9111, RFC 5861, RFC 9213).
export * from './types.js';
export * from './cache-control.js';
export * from './targeted.js';
export * from './http-date.js';
export * from './entity-tag.js';
export * from './freshness.js';
export * from './storable.js';
export * from './reuse.js';
export * from './update.js';
export * from './vary.js';
export * from './invalidation.js';
export * from './stale-on-error.js';
export * from './lookup.js';
export * from './preflight.js';

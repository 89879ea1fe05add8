// Redis Cluster hash tags: which key names can share a slot with companions, and the companion names ({key}:suffix).

/** A key name whose Redis Cluster slot its companions can share: no braces, or a non-empty `{tag}` (Redis's rule). */
export const TAGGABLE_KEY = /^[^{}]*$|^[^{]*\{[^}]+\}/;

/**
 * The key itself when it has a hash tag already (`{...}`, non-empty), else the whole key in braces: its slot stays the
 * same. A key with braces but no valid tag cannot be wrapped that way (TypeError; the config refuses such names).
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  if (close > open + 1) return key;
  if (!TAGGABLE_KEY.test(key)) throw new TypeError(`the key name ${JSON.stringify(key)} has braces but no {tag}: Redis Cluster could not keep its companions in its slot`);
  return `{${key}}`;
}

/** A key kept in the same Redis Cluster slot as `key` (so one script or pipeline may use both): `{key}:suffix`. */
export function companionKey(key: string, suffix: string): string {
  return `${hashTagOf(key)}:${suffix}`;
}

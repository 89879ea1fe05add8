// How the admin API identifies itself on GET /healthz, so a client can check where it is before it sends a token.

/** Response field on the admin listener's /healthz (no edge answer carries it). */
export const ADMIN_API_HEADER = 'edgecache-api';
export const ADMIN_API_HEADER_VALUE = 'admin';
/** The `api` field of the admin listener's /healthz body. */
export const ADMIN_API_NAME = 'edgecache-admin';
/** The admin path a client probes, without credentials, before it sends its token. */
export const ADMIN_PROBE_PATH = 'healthz';

/** Fields the edge adds to every answer it relays or serves: an answer carrying one came through the edge port. */
const EDGE_FIELDS = ['cf-cache-status', 'cache-status'] as const;

/**
 * Why an answer to GET /healthz is not the admin API's (undefined: it is). It must carry the marker field and body
 * (whatever its status: a degraded node still identifies itself), and none of the edge's own fields: an origin behind
 * the edge that answered /healthz with the marker would still come back with cf-cache-status.
 */
export function notAdminApiReason(status: number, header: (name: string) => string | null, body: string): string | undefined {
  const edgeField = EDGE_FIELDS.find((f) => header(f) !== null);
  if (edgeField) return `its answer came through the edge (it carries ${edgeField})`;
  if (header(ADMIN_API_HEADER) !== ADMIN_API_HEADER_VALUE) return `its answer (HTTP ${status}) has no "${ADMIN_API_HEADER}: ${ADMIN_API_HEADER_VALUE}" field`;
  let api: unknown;
  try { api = (JSON.parse(body) as { api?: unknown }).api; } catch { api = undefined; }
  if (api !== ADMIN_API_NAME) return `its answer's body does not say "api": "${ADMIN_API_NAME}"`;
  return undefined;
}

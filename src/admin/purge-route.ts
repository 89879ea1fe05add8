// HTTP surface of the purge API (POST /client/v4/zones/{zone}/purge_cache): admission, body, apply, Cloudflare envelopes.
// Error codes and the order of the checks: src/purge/api-errors.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parsePurgeBody, PurgeError, type PurgeRequest } from '../purge/request.js';
import type { PurgeOutcome } from '../purge/purger.js';
import { API_MESSAGES } from '../purge/api-errors.js';
import { admitAdminRequest, type AdmitOptions } from './admit.js';
import { readAdminBody } from './body.js';
import { sendApiError, sendApiSuccess, type ApiMessage } from './reply.js';

export interface PurgeRouteOptions extends AdmitOptions {
  /** Most items (URLs, tags, hosts, prefixes) in one request (config purge.maxItems). */
  maxItems: number;
  /** Largest accepted body in bytes (MAX_PURGE_BODY_BYTES). */
  maxBodyBytes: number;
  /**
   * Applies the purge; reject with an Error whose code is 'EBUSUNAVAILABLE' (the cluster bus) or 'TIER_UNAVAILABLE' /
   * 'TIER_TIMEOUT' (the shared tier) when the cluster cannot be reached. Resolves with what it matched (when known).
   */
  apply(zoneId: string, req: PurgeRequest): Promise<PurgeOutcome | void>;
  newId(): string;
  /** Told about unexpected apply failures (for the log); never given request headers or tokens. */
  onError?(err: unknown): void;
}

/** Error codes that mean the cluster could not be reached, so nothing was published: the client should retry. */
const CLUSTER_UNAVAILABLE = new Set(['EBUSUNAVAILABLE', 'TIER_UNAVAILABLE', 'TIER_TIMEOUT']);

function isClusterUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CLUSTER_UNAVAILABLE.has((err as { code?: unknown }).code as string);
}

/** The notes for a successful purge: "nothing matched" when it is known that nothing did. */
export function purgeMessages(zoneId: string, outcome: PurgeOutcome | void): ApiMessage[] {
  if (!outcome || outcome.matched !== 0) return [];
  const where = outcome.cluster ? ' on this node (the other cluster nodes apply it too)' : '';
  return [{ code: API_MESSAGES.nothingMatched.code, message: `Nothing matched: no cached entry of zone ${zoneId} matched this purge${where}` }];
}

/** Handles one purge request for `zoneId` (already taken from the path by the admin server). */
export function handlePurge(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: PurgeRouteOptions): void {
  void runPurge(req, res, zoneId, opts).catch((err: unknown) => {
    opts.onError?.(err);
    sendApiError(res, 'internal', 'internal error while handling the purge request');
  });
}

async function runPurge(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: PurgeRouteOptions): Promise<void> {
  if (!admitAdminRequest(req, res, zoneId, opts)) return;

  const body = await readAdminBody(req, res, opts.maxBodyBytes, 'split the purge into several requests');
  if (body === undefined) return; // answered 413, or the client is gone: nothing purged

  const parsed = parsePurgeBody(body, { maxItems: opts.maxItems });
  if (parsed instanceof PurgeError) {
    sendApiError(res, parsed.reason, parsed.message);
    return;
  }

  let outcome: PurgeOutcome | void;
  try {
    outcome = await opts.apply(zoneId, parsed);
  } catch (err) {
    if (isClusterUnavailable(err)) {
      sendApiError(res, 'clusterUnavailable', 'Cluster unavailable: the purge could not be sent to the other nodes (Redis, the cluster bus and shared tier, is unreachable); retry when the cluster is back');
      return;
    }
    opts.onError?.(err);
    sendApiError(res, 'internal', 'Purge failed with an internal error; see the server log');
    return;
  }
  // In a cluster the id is the purge's stream entry id: GET .../purge_cache/{id} reports how many nodes applied it.
  sendApiSuccess(res, { id: outcome?.id ?? opts.newId() }, purgeMessages(zoneId, outcome));
}

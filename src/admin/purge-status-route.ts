// GET /client/v4/zones/{zone}/purge_cache/{id}: how many live cluster nodes applied a purge (fleet completion, as Fastly's purge status).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FleetProgress } from '../cluster/fleet-progress.js';
import { admitAdminRequest, type AdmitOptions } from './admit.js';
import { sendApiError, sendApiSuccess } from './reply.js';

export interface PurgeStatusOptions extends AdmitOptions {
  /** null: no such purge in this zone. Rejects with code 'EBUSUNAVAILABLE' when Redis is unreachable. */
  status(zoneId: string, id: string): Promise<FleetProgress | null>;
  onError?(err: unknown): void;
}

export function handlePurgeStatus(req: IncomingMessage, res: ServerResponse, zoneId: string, id: string, opts: PurgeStatusOptions): void {
  if (!admitAdminRequest(req, res, zoneId, opts, 'the purge status API', 'GET')) return;
  opts.status(zoneId, id).then((fleet) => {
    if (fleet === null) sendApiError(res, 'noRoute', `no purge ${JSON.stringify(id.slice(0, 100))} in zone ${JSON.stringify(zoneId)}`);
    else sendApiSuccess(res, fleet, []);
  }, (err: unknown) => {
    if ((err as { code?: unknown } | null)?.code === 'EBUSUNAVAILABLE') {
      sendApiError(res, 'clusterUnavailable', 'Cluster unavailable: Redis, where nodes report what they applied, is unreachable; retry');
      return;
    }
    opts.onError?.(err);
    sendApiError(res, 'internal', 'internal error while reading the purge status');
  });
}

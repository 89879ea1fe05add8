// Reconnect delays for the cluster's Redis connections (purge bus and shared tier).

const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 2000;

/** Capped exponential backoff with jitter, so a cluster's nodes do not reconnect in lockstep. */
export function backoff(attempt: number): number {
  const exp = RETRY_BASE_MS * 2 ** Math.min(attempt - 1, 16);
  return Math.round(Math.min(RETRY_MAX_MS, exp) * (0.75 + Math.random() * 0.5));
}

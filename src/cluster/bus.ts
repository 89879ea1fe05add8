// The cluster purge bus interface: one ordered stream of purges that every node applies.
import type { FleetProgress } from './fleet-progress.js';

/** One purge as it travels between nodes. */
export interface PurgeMessage {
  zoneId: string;
  /** A PurgeRequest (src/purge/request.ts); must be JSON-serialisable. */
  request: unknown;
  /** Id of the node that published it. */
  origin: string;
}

export interface BusState {
  /** Both the publishing and the consuming connection are up. */
  connected: boolean;
  /**
   * The stream position this node is in sync with: the id of the last message applied, or — after the
   * initial positioning or a reset — the stream head it continued from ('0-0' = before the first entry).
   * Persist it (onApplied) and pass it as `fromId` on restart; null until the consumer has a position.
   */
  lastAppliedId: string | null;
  /** Messages applied since start(). */
  applied: number;
  /** Times the bus regained its connection to Redis after losing it. */
  reconnects: number;
  /** Date.now() minus the timestamp of the last applied message id, taken when it was applied. */
  lagMs: number;
  /** Times onReset was called (entries missed: trimmed, stream lost, unreadable message, apply failure). */
  resets: number;
  /** The stream's identity (an id written beside it when it is created or its history is found lost), null until read. */
  streamId: string | null;
  /** This node's clock minus Redis's, measured on connect and every minute (null until measured). */
  clockOffsetMs: number | null;
}

/** Where a node stands in the stream: the last id it applied, and the identity of the stream that id belongs to. */
export interface StreamPosition {
  id: string;
  /** null: not known (a position saved before identities): judged by the id alone, then the identity is adopted. */
  streamId: string | null;
}

export interface BusHandlers {
  /** Called in stream order, one at a time (the next waits for the returned promise), for every message,
   *  this node's own included: a node applies its own purges only through the stream. */
  apply(msg: PurgeMessage, id: string): void | Promise<void>;
  /** Messages were (or may have been) missed: drop the whole cache and log `reason`. Called once per event,
   *  before consuming continues from the stream's current head. */
  onReset(reason: string): void | Promise<void>;
  /** The node is now in sync up to `id` of the stream `streamId` (after an apply, the initial positioning, or a reset). */
  onApplied?(id: string, streamId: string | null): void;
}

export interface PurgeBus {
  /** Resolves with the stream id once Redis acknowledged the XADD. Rejects quickly (≤ ~1 s, nothing is
   *  queued while disconnected) with BusUnavailableError when Redis is unreachable. A publish that timed
   *  out may still have been recorded (and will then be applied everywhere): purges are safe to repeat. */
  publish(msg: PurgeMessage): Promise<string>;
  /** Begins consuming after `from` (the position this node last applied), or — null — after the moment start() was
   *  called (less a margin for clock differences), however late Redis is reached: nothing published since is skipped.
   *  Resolves once the consumer has its position (or after a few seconds if Redis is unreachable; it then keeps
   *  trying in the background). Call once. */
  start(handlers: BusHandlers, from: string | StreamPosition | null): Promise<void>;
  state(): BusState;
  /** The id of the newest entry in the stream ('0-0' when empty); rejects when Redis is unreachable. */
  headId(): Promise<string>;
  /** Fleet completion of stream entry `id`: how many live nodes applied it, and the zone it purged (undefined once trimmed). */
  progress(id: string): Promise<{ zone: string | undefined; fleet: FleetProgress }>;
  /** Stops consuming (promptly, even mid-XREAD; an apply in progress is awaited) and closes connections. */
  close(): Promise<void>;
}

export class BusUnavailableError extends Error {
  readonly code = 'EBUSUNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusUnavailableError';
  }
}

export function isBusUnavailableError(err: unknown): err is BusUnavailableError {
  return err instanceof BusUnavailableError;
}

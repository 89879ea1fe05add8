// The cluster purge bus over one Redis Stream: XADD to publish, XREAD BLOCK to consume in order, trim/loss detection → reset.
import { performance } from 'node:perf_hooks';
import { BusUnavailableError, type BusHandlers, type BusState, type PurgeBus, type PurgeMessage, type StreamPosition } from './bus.js';
import { OFFSET_EVERY_MS, updateClockOffset } from './clock-offset.js';
import {
  ABORTED, checkEvictionPolicy, errorMessage, openBusConnection, raceAbort, sleep, StallError, waitClosed, waitReady, withDeadline,
} from './bus-connection.js';
import {
  compareStreamIds, decodeMessage, encodeMessage, isStreamId, judgeCursor, parseXreadReply, streamIdMs, type Cursor, type StreamInfo,
} from './stream-format.js';
import { defineIdentityCommand, identityLostReason, identityOf, renewIdentity } from './stream-identity.js';
import { headOf, readStreamInfo, startTimeCursor } from './stream-position.js';
import { entryZone, readFleetProgress, startHeartbeat, type FleetProgress } from './fleet-progress.js';
import { watchConnections, type ConnectionWatch } from './bus-watch.js';
import { companionKey, refreshSlotsAfter, type RedisConn, type RedisTarget } from './redis-connect.js';
import { appendEntry, defineAppendCommand, replicasWithIt, trimOlderThan } from './stream-publish.js';

export interface BusLogger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

export interface RedisBusOptions {
  /** One Redis server (or use `target`). */
  url?: string;
  /** A Redis Cluster or a Sentinel-named primary (or one server); takes precedence over `url`. */
  target?: RedisTarget;
  /** Stream key; default 'edgecache:purges'. Its identity and heartbeats are kept in its slot: {<stream>}:id, {<stream>}:nodes. */
  stream?: string;
  /** Approximate cap on entries (XADD MAXLEN ~); default 100000. */
  maxLen?: number;
  /** Entries older than this are trimmed (XTRIM MINID ~, at most once a minute); default 24 h. */
  maxAgeMs?: number;
  nodeId: string;
  logger?: BusLogger;
  /** How long publish() waits for Redis's acknowledgement (or for the first connection); default 1000. */
  publishTimeoutMs?: number;
  /** publish() resolves only once WAIT says this many replicas have the entry (else BusUnavailableError); default 0. */
  minReplicas?: number;
  /** The node's clock (default Date.now): its offset to Redis's clock is measured and reported (clockOffsetMs). */
  now?: () => number;
}

const READ_BLOCK_MS = 1000;
const READ_COUNT = 100;
const START_WAIT_MS = 3000;
const AGE_TRIM_EVERY_MS = 60_000;
const ERROR_PAUSE_MS = 1000;
const READ_STALL_MS = 4000;
const silentLogger: BusLogger = { info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------- the bus

export function createRedisBus(opts: RedisBusOptions): PurgeBus {
  return new RedisPurgeBus(opts);
}

class RedisPurgeBus implements PurgeBus {
  private readonly key: string;
  private readonly idKey: string;
  private readonly minReplicas: number;
  /** When start() was called (monotonic ms): the start-time position is placed by Redis's clock less the time since. */
  private startedAt = 0;
  private readonly now: () => number;
  private offsetTimer: NodeJS.Timeout | undefined;
  /** The identity of the stream the cursor belongs to (null until read). */
  private sid: string | null = null;
  /** The cursor is the start-time position (not an entry): judged once it can be read. */
  private isSince = false;
  private readonly maxLen: number;
  private readonly maxAgeMs: number;
  private readonly publishTimeoutMs: number;
  private readonly log: BusLogger;
  private readonly writer: RedisConn;
  private readonly reader: RedisConn;
  private readonly abort = new AbortController();
  private handlers: BusHandlers | null = null;
  private cursor: Cursor | null = null;
  private loop: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private markPositioned: () => void = () => {};
  private needsResync = true;
  private isWriterEverReady = false;
  private readonly conns: ConnectionWatch;
  /** The last read (or positioning) of the stream succeeded: a connection that cannot read it is not "connected". */
  private canRead = false;
  private lastAgeTrim = 0;
  private readonly heartbeat: ReturnType<typeof startHeartbeat>;
  private readonly s: BusState = { connected: false, lastAppliedId: null, applied: 0, reconnects: 0, lagMs: 0, resets: 0, streamId: null, clockOffsetMs: null };

  constructor(opts: RedisBusOptions) {
    this.key = opts.stream ?? 'edgecache:purges';
    this.idKey = companionKey(this.key, 'id');
    this.minReplicas = opts.minReplicas ?? 0;
    this.now = opts.now ?? Date.now;
    this.maxLen = opts.maxLen ?? 100_000;
    this.maxAgeMs = opts.maxAgeMs ?? 24 * 60 * 60 * 1000;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 1000;
    this.log = opts.logger ?? silentLogger;
    const target = opts.target ?? { url: opts.url };
    this.writer = openBusConnection(target, 'writer', opts.nodeId);
    this.reader = openBusConnection(target, 'reader', opts.nodeId);
    for (const conn of [this.writer, this.reader]) defineIdentityCommand(conn);
    defineAppendCommand(this.writer);
    this.conns = watchConnections(this.writer, this.reader, { stream: this.key, log: this.log, isClosing: () => this.closing !== null, onReady: (role) => this.onReady(role) });
    this.heartbeat = startHeartbeat(this.writer, this.key, opts.nodeId, () => this.s.lastAppliedId, this.publishTimeoutMs);
  }

  async publish(msg: PurgeMessage): Promise<string> {
    if (this.closing !== null) throw new BusUnavailableError('the purge bus is closed');
    const fields = encodeMessage(msg);
    const deadline = Date.now() + this.publishTimeoutMs;
    if (this.writer.status !== 'ready') {
      // Only the very first connection is waited for (bounded); once it has been up, down means fail now.
      const isReady = !this.isWriterEverReady && (await waitReady(this.writer, deadline, this.abort.signal));
      if (!isReady) throw new BusUnavailableError(`Redis is unreachable (connection ${this.writer.status}); purge not published`);
    }
    let reply: unknown;
    try {
      reply = await appendEntry(this.writer, this.key, this.maxLen, fields, deadline);
    } catch (err) {
      if (err instanceof StallError && this.writer.status === 'ready') {
        this.log.warn({ stream: this.key }, 'purge bus: Redis did not answer XADD in time; reconnecting');
        this.writer.disconnect(true); // a half-open socket would otherwise fail every publish until TCP gives up
      }
      refreshSlotsAfter(this.writer, err);
      throw new BusUnavailableError(`Redis did not record the purge: ${errorMessage(err)}`, { cause: err });
    }
    if (typeof reply !== 'string') throw new BusUnavailableError(`unexpected XADD reply ${JSON.stringify(reply)}`);
    this.trimByAge();
    if (this.minReplicas > 0) {
      // Acknowledged only once replicas have it: a failover to one of them cannot lose it (the nodes apply it anyway).
      const acks = await replicasWithIt(this.writer, this.minReplicas, deadline);
      if (acks < this.minReplicas) {
        throw new BusUnavailableError(`the purge reached ${acks} of the ${this.minReplicas} replicas required (cluster.minReplicas) in time; it will still be applied, retry to be sure`);
      }
    }
    return reply;
  }

  async start(handlers: BusHandlers, from: string | StreamPosition | null): Promise<void> {
    if (this.handlers !== null) throw new Error('PurgeBus.start() may be called only once');
    if (this.closing !== null) throw new BusUnavailableError('the purge bus is closed');
    const fromId = typeof from === 'string' ? from : from?.id ?? null;
    if (fromId !== null && !isStreamId(fromId)) throw new TypeError(`fromId is not a stream id: ${JSON.stringify(fromId)}`);
    this.handlers = handlers;
    this.sid = typeof from === 'object' && from !== null ? from.streamId : null;
    this.s.streamId = this.sid;
    if (fromId === null) {
      // From the start time, not from wherever the stream is once Redis answers: a node that starts while Redis is
      // unreachable stores what it fetches meanwhile, so it must apply every purge published since it started.
      // The position is set by Redis's own clock once it answers (see resync), so no node clock is trusted for it.
      this.cursor = { id: '0-0', offset: 0 };
      this.startedAt = performance.now();
      this.isSince = true;
    } else {
      this.cursor = { id: fromId, offset: fromId === '0-0' ? 0 : null };
    }
    this.s.lastAppliedId = fromId;
    const positioned = new Promise<void>((resolve) => (this.markPositioned = resolve));
    this.loop = this.consume();
    const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, START_WAIT_MS, 'timeout').unref());
    if ((await Promise.race([positioned, timer])) === 'timeout') {
      this.log.warn({ stream: this.key }, 'purge bus: Redis unreachable at start; consuming will begin when it is');
    }
  }

  state(): BusState {
    return { ...this.s, reconnects: this.conns.reconnects(), connected: this.conns.isUp() && this.canRead && this.closing === null };
  }

  async headId(): Promise<string> {
    if (this.writer.status !== 'ready') throw new BusUnavailableError(`Redis is unreachable (connection ${this.writer.status})`);
    const info = await withDeadline(readStreamInfo(this.writer.call('XINFO', 'STREAM', this.key)), Date.now() + this.publishTimeoutMs);
    return headOf(info).id;
  }

  async progress(id: string): Promise<{ zone: string | undefined; fleet: FleetProgress }> {
    if (this.writer.status !== 'ready') throw new BusUnavailableError(`Redis is unreachable (connection ${this.writer.status})`);
    const [zone, fleet] = await Promise.all([entryZone(this.writer, this.key, id, this.publishTimeoutMs), readFleetProgress(this.writer, this.key, id, this.publishTimeoutMs)]);
    return { zone, fleet };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.abort.abort();
      await this.heartbeat.stop(); // this node leaves the fleet: --wait no longer waits for it
      clearInterval(this.offsetTimer);
      this.markPositioned();
      this.reader.disconnect();
      await this.loop?.catch(() => {});
      if (this.writer.status === 'ready') await withDeadline(this.writer.quit(), Date.now() + 1000).catch(() => {});
      this.writer.disconnect();
    })();
    return this.closing;
  }

  // ------------------------------------------------------------ consuming

  private async consume(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        if (this.reader.status !== 'ready') {
          this.canRead = false;
          await waitReady(this.reader, Infinity, this.abort.signal); // its 'ready' sets needsResync
        } else if (this.needsResync) {
          this.needsResync = false;
          await this.resync();
          this.canRead = true;
          this.markPositioned();
        } else {
          await this.readOnce();
          this.canRead = true;
        }
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.canRead = false;
        refreshSlotsAfter(this.reader, err);
        if (err instanceof StallError) {
          // XREAD BLOCK always answers within READ_BLOCK_MS: silence means a dead (half-open) connection.
          this.log.warn({ stream: this.key }, 'purge bus: the blocking read stalled; reconnecting');
          this.reader.disconnect(true);
          await waitClosed(this.reader, this.abort.signal);
        } else if (this.reader.status === 'ready') {
          // A reply error, not a lost connection (those are logged once by watch()): pause, then re-judge.
          this.log.error({ err: errorMessage(err), stream: this.key }, 'purge bus: read failed');
          this.needsResync = true;
          await sleep(ERROR_PAUSE_MS, this.abort.signal);
        }
      }
    }
  }

  /** On start and after every reconnect: position the cursor, or check it can still read on (else reset). */
  private async resync(): Promise<void> {
    const results = await this.reader.pipeline().call('XINFO', 'STREAM', this.key).get(this.idKey).call('TIME').exec();
    if (results === null || results.length !== 3) throw new Error('unexpected pipeline reply');
    const [[infoErr, infoReply], [idErr, idReply], [timeErr, timeReply]] = results as [Error | null, unknown][];
    if (idErr) throw idErr;
    if (timeErr) throw timeErr;
    const info = await readStreamInfo(infoErr ? Promise.reject(infoErr) : Promise.resolve(infoReply));
    if (await this.checkIdentity(idReply, info)) return;
    let cursor = this.cursor as Cursor;
    if (this.isSince) {
      this.isSince = false;
      // Redis's clock now, less the time since start() (monotonic), less a margin: the stream id of the start time.
      cursor = startTimeCursor(timeReply, this.startedAt);
      // Nothing was added after the start time: continue from the head. Else read on from the start time, unless
      // entries after it were trimmed already (offset 0: continuous only if the stream never lost an entry).
      if (info === null || compareStreamIds(cursor.id, info.lastGeneratedId) >= 0) return this.moveTo(headOf(info));
      const isKept = (info.firstId !== null && compareStreamIds(info.firstId, cursor.id) <= 0) || info.entriesAdded === info.length;
      this.cursor = { id: cursor.id, offset: null };
      if (!isKept) await this.resetTo(`purges published since this node started (${cursor.id}) were trimmed before it could read them: the stream's first entry is ${info.firstId ?? 'none'}`, headOf(info));
      return;
    }
    // The ordinal is only trusted within one connection: the stream may have been recreated meanwhile.
    if (cursor.id !== '0-0') this.cursor = { id: cursor.id, offset: null };
    await this.judge(this.cursor as Cursor, info);
  }

  /** Resets when the cursor cannot read on; true if it did. History lost (not just trimmed) renews the identity. */
  private async judge(cursor: Cursor, info: StreamInfo | null): Promise<boolean> {
    const verdict = judgeCursor(cursor, info);
    if (verdict.isContinuous) return false;
    if (verdict.isHistoryLost) {
      // Nodes behind this one cannot see the loss by their own position: a new identity makes every node reset.
      this.sid = await this.identity(this.sid ?? '');
      this.s.streamId = this.sid;
    }
    await this.resetTo(verdict.reason, headOf(info));
    return true;
  }

  /**
   * Compares the stream's identity with the one this node's position belongs to: a different or missing one means Redis
   * lost or rolled back the stream (restarted empty, an older snapshot, a promoted replica that lacked purges, another
   * node renewed it after finding history lost), so purges this node never saw may be gone: reset. A node without a
   * known identity adopts it (creating it if there is none). True if it reset.
   */
  private async checkIdentity(reply: unknown, info: StreamInfo | null): Promise<boolean> {
    const current = identityOf(reply);
    if (this.sid !== null && current === this.sid) return false;
    const known = this.sid;
    this.sid = current ?? (await this.identity(''));
    this.s.streamId = this.sid;
    if (known === null) return false;
    await this.resetTo(identityLostReason(known, current), headOf(info));
    return true;
  }

  private identity(expected: string): Promise<string> {
    return renewIdentity(this.reader, this.idKey, expected);
  }

  private async readOnce(): Promise<void> {
    const cursor = this.cursor as Cursor;
    // XINFO is pipelined behind the blocking XREAD, so it runs right after the read, at no extra round trip,
    // and tells whether the head was trimmed past the cursor before or during the read.
    const exec = this.reader
      .pipeline()
      .call('XREAD', 'COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.key, cursor.id)
      .call('XINFO', 'STREAM', this.key)
      .get(this.idKey)
      .exec();
    const results = await raceAbort(withDeadline(exec, Date.now() + READ_BLOCK_MS + READ_STALL_MS), this.abort.signal);
    if (results === ABORTED) return;
    if (results === null || results.length !== 3) throw new Error('unexpected pipeline reply');
    const [[readErr, readReply], [infoErr, infoReply], [idErr, idReply]] = results as [Error | null, unknown][];
    if (readErr) throw readErr;
    if (idErr) throw idErr;
    const info = await readStreamInfo(infoErr ? Promise.reject(infoErr) : Promise.resolve(infoReply));
    const entries = parseXreadReply(readReply);
    if (await this.checkIdentity(idReply, info)) return; // the batch is covered by the reset
    if (await this.judge(cursor, info)) return;
    for (const [id, fields] of entries) {
      await this.applyEntry(id, fields);
      if (this.abort.signal.aborted) return;
    }
    const now = this.cursor as Cursor;
    if (info !== null && info.entriesAdded !== null && now.id === info.lastGeneratedId) {
      this.cursor = { id: now.id, offset: info.entriesAdded }; // caught up: the ordinal is exact again
    }
  }

  private async applyEntry(id: string, fields: unknown): Promise<void> {
    const handlers = this.handlers as BusHandlers;
    let msg: PurgeMessage;
    try {
      msg = decodeMessage(fields);
    } catch (err) {
      // A purge we cannot read is a purge we cannot apply: the only safe answer is a reset.
      await this.notifyReset(`unreadable message ${id}: ${errorMessage(err)}`);
      return this.advance(id);
    }
    try {
      await handlers.apply(msg, id);
    } catch (err) {
      await this.notifyReset(`applying message ${id} failed: ${errorMessage(err)}`);
      return this.advance(id);
    }
    this.s.applied++;
    this.s.lagMs = Math.max(0, Date.now() - streamIdMs(id));
    this.advance(id);
  }

  private advance(id: string): void {
    const offset = this.cursor?.offset;
    this.moveTo({ id, offset: offset === null || offset === undefined ? null : offset + 1 });
  }

  private moveTo(cursor: Cursor): void {
    this.cursor = cursor;
    this.s.lastAppliedId = cursor.id;
    this.heartbeat.touch();
    this.handlers?.onApplied?.(cursor.id, this.sid);
  }

  private async resetTo(reason: string, head: Cursor): Promise<void> {
    await this.notifyReset(reason);
    this.moveTo(head);
  }

  private async notifyReset(reason: string): Promise<void> {
    this.s.resets++;
    this.log.warn({ stream: this.key, reason, at: this.cursor?.id ?? null }, 'purge bus: purges may have been missed; resetting the cache');
    try {
      await this.handlers?.onReset(reason);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'purge bus: onReset failed');
    }
  }

  // ------------------------------------------------------------ connections

  private onReady(role: 'writer' | 'reader'): void {
    if (role === 'reader') { this.needsResync = true; return; }
    this.isWriterEverReady = true;
    void this.measureOffset();
    void checkEvictionPolicy(this.writer, this.publishTimeoutMs, this.log, this.key);
    this.offsetTimer ??= setInterval(() => void this.measureOffset(), OFFSET_EVERY_MS).unref();
  }

  /** This node's clock minus Redis's (TIME, half the round trip added): what the README's clock assumption is checked by. */
  private async measureOffset(): Promise<void> {
    if (this.writer.status !== 'ready' || this.closing !== null) return;
    await updateClockOffset(this.writer, this.now, this.publishTimeoutMs, this.s, this.log);
  }

  private trimByAge(): void {
    const now = Date.now();
    if (now - this.lastAgeTrim < AGE_TRIM_EVERY_MS) return;
    this.lastAgeTrim = now;
    trimOlderThan(this.writer, this.key, this.maxAgeMs, this.log);
  }
}


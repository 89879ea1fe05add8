// The Redis shared cache tier (AsyncStore): variants, bodies and purge indexes in Redis, cross-node fetch locks.
//
// Data model: every key of a zone is under `<prefix>{<zone>}:` (P below), one hash tag, so on a Redis Cluster a zone
// lives in one slot and each script (redis-tier-lua.ts, which builds key names from P) touches one slot only:
//   v:<vid>                 HASH meta (JSON), body (bytes), stale ('1' = soft-purged), gen, and the index fields
//                           z, obj, h, pm, hn, tg (so a purge can unindex it); PEXPIRE from freshness
//   o:<objectKey>           HASH vid → {"k": keyNames, "t": ms, "s": body bytes}: the object's variants, Vary groups
//   p:<zone>\0<host>        ZSET (score 0) of "<path>?<query>[\0OPTIONS]": host and prefix purges (ZRANGEBYLEX)
//   hn:<zone>\0<hostname>   SET of hosts (with ports) under a port-less host name
//   t:<zone>\0<tag>         SET of vids
//   gc (counter), g:<zone> HASH hard/soft, clr: the zone's generations — purge everything and clear are O(1): a variant whose
//                           gen is below its zone's hard generation (or clr) is absent, below soft it is stale.
//   f:<kind>:<name>         HASH h/s/w: purge fences, the generation of the last hard/soft purge naming a variant (v),
//                           object (o), host (h), host name (n), tag (t) or, per host, prefixes (p, fields "h\0<prefix>");
//                           w: a variant purge refuses writes for the whole object. Checked on every read and every
//                           put (a put carries the gc its fetch started under), so nothing purged comes back: not a
//                           write that lands late, nor an entry whose tag set was evicted. No TTL: fx (ZSET, fence →
//                           when written, Redis clock) lets purges drop those older than the longest variant TTL.
//   <prefix>l:<key>         fetch lock (SET NX PX, token-checked release): one key, any slot
// Index keys carry a TTL at least the longest of their variants', so nothing but the generations outlives its data.
import { randomBytes } from 'node:crypto';
import { backoff } from '../cluster/backoff.js';
import { isOutOfMemory, openRedis, refreshSlotsAfter, type RedisConn, type RedisTarget } from '../cluster/redis-connect.js';
import type { RedisTier, RedisTierOptions, TierFence, TierRefusal, TierState } from './redis-tier-types.js';
import { headersOfSelector, hostName, pathMember, preflightObjectKey, primaryKey, selectorOf, zoneScoped, type HeaderValues } from '../cache/key.js';
import type { AsyncStore, PurgeTarget, StoredEntry, VariantInput } from './store.js';
import { clusterTarget, sharedCacheOf, type Config } from '../config/schema.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import { defineTierCommands, tierGet, tierPurge, type TierCommands } from './redis-tier-lua.js';
import { checkBound, waitReady, withBound, type Bound } from './redis-tier-bound.js';
import { DEFAULT_MAX_TTL_S, decodeEntry, tierTtlMs, encodeMeta, groupsOf, parseMeta, variantId, type Meta } from './redis-tier-entry.js';
import { RedisTierError } from './redis-tier-error.js';
import { fenceKeepMs, purgeArgs } from './redis-tier-purge.js';

const BODY_BYTES_PER_MS = 32 * 1024; // the time bound grows with the body moved (an 8 MiB body gets 256 ms more)
const POLL_MIN_MS = 20;
const POLL_MAX_MS = 100;
const STALLS_BEFORE_RECONNECT = 3;
const LOG_EVERY_MS = 30_000;
const DEFAULT_SHARE_OF_MAXMEMORY = 0.9;
export { tierTtlMs } from './redis-tier-entry.js';
export type { RedisTier, RedisTierOptions, TierFence, TierRefusal, TierState } from './redis-tier-types.js';

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

type Lookup = { entry?: StoredEntry; fence: TierFence } | 'error';

/** The zone of an object key (primaryKey: zone, host and path joined by NUL). */
function zoneOf(objectKey: string): string {
  const end = objectKey.indexOf('\u0000');
  return end === -1 ? objectKey : objectKey.slice(0, end);
}

export function createRedisTier(opts: RedisTierOptions): RedisTier {
  return new RedisSharedTier(opts);
}

/** The shared tier a config asks for (cluster.sharedCache), or undefined. */
export function sharedTierFor(config: Config, logger: RedisTierOptions['logger'], clock?: RedisTierOptions['clock'], onRefused?: RedisTierOptions['onRefused']): RedisTier | undefined {
  const sc = sharedCacheOf(config);
  if (!sc || !config.cluster) return undefined;
  const target: RedisTarget = sc.redis !== undefined ? { url: sc.redis, isCluster: sc.redisCluster } : clusterTarget(config.cluster);
  return createRedisTier({
    target, normalize: normalizeVaryValue, logger, clock, opTimeoutMs: sc.timeoutMs, maxTtlSeconds: sc.maxTtl, maxBytes: sc.maxBytes,
    zones: config.zones.map((z) => z.id), onRefused,
  });
}

class RedisSharedTier implements RedisTier {
  readonly #p: string;
  readonly #normalize: RedisTierOptions['normalize'];
  readonly #log: RedisTierOptions['logger'];
  readonly #timeoutMs: number;
  readonly #maxBody: number;
  readonly #maxTtlS: number;
  readonly #clock: { now(): number };
  readonly #puts = new Set<Promise<unknown>>();
  #fenced = 0;
  #full = 0;
  #oom = 0;
  #maxBytes: number;
  readonly #isMaxBytesSet: boolean;
  readonly #zones: Set<string>;
  readonly #onRefused: RedisTierOptions['onRefused'];
  #lastOomLogAt = 0;
  /** The tier's Redis evicts any key (allkeys-*): a fence could go while what it purged stays, so the tier is not used. */
  #isEvicting = false;
  readonly #redis: RedisConn;
  readonly #cmd: TierCommands;
  readonly #tokens = new Map<string, string>();
  readonly #tokenBase = randomBytes(8).toString('hex');
  #tokenSeq = 0;
  #errors = 0;
  #stalls = 0;
  #isEverReady = false;
  #hasFailedToConnect = false;
  #isClosed = false;
  #lastLogAt = 0;
  #unlogged = 0;

  constructor(opts: RedisTierOptions) {
    this.#p = opts.prefix ?? 'edgecache:tier:';
    this.#normalize = opts.normalize;
    this.#log = opts.logger;
    this.#timeoutMs = opts.opTimeoutMs ?? 200;
    this.#maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.#maxTtlS = opts.maxTtlSeconds ?? DEFAULT_MAX_TTL_S;
    this.#clock = opts.clock ?? Date;
    this.#maxBytes = opts.maxBytes ?? 0;
    this.#isMaxBytesSet = opts.maxBytes !== undefined;
    this.#zones = new Set(opts.zones);
    this.#onRefused = opts.onRefused;
    // The reconnect strategy never gives up; close() ends it.
    this.#redis = openRedis(opts.target ?? { url: opts.url }, {
      enableOfflineQueue: false, // fail fast while disconnected: the caller goes to the origin instead
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false, // the caller has already been answered
      connectTimeout: 2000,
      connectionName: 'edgecache-tier',
    });
    this.#cmd = defineTierCommands(this.#redis);
    this.#redis.on('ready', () => { this.#isEverReady = true; this.#stalls = 0; void this.#checkEvictionPolicy(); });
    this.#redis.on('error', () => { this.#hasFailedToConnect = true; }); // counted per operation, not per retry
    this.#redis.on('close', () => { this.#hasFailedToConnect = true; });
    // ioredis ends a connection whose connector failed (a Sentinel lookup cut short): start it again while open.
    let restarts = 0;
    this.#redis.on('ready', () => { restarts = 0; });
    this.#redis.on('end', () => {
      if (this.#isClosed) return;
      setTimeout(() => { if (!this.#isClosed && this.#redis.status === 'end') this.#redis.connect().catch(() => {}); }, backoff(++restarts)).unref();
    });
  }

  state(): TierState {
    return { connected: !this.#isClosed && this.#redis.status === 'ready', errors: this.#errors, fenced: this.#fenced, full: this.#full, oom: this.#oom, maxBytes: this.#maxBytes };
  }

  async #checkEvictionPolicy(): Promise<void> {
    try {
      const reply = await withBound(this.#redis.call('CONFIG', 'GET', 'maxmemory*'), { at: Date.now() + 1000 });
      const settings = new Map<string, string>();
      if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) settings.set(String(reply[i]), String(reply[i + 1]));
      const policy = settings.get('maxmemory-policy') ?? '';
      const maxmemory = Number(settings.get('maxmemory') ?? 0);
      if (!this.#isMaxBytesSet && maxmemory > 0) this.#maxBytes = Math.floor(maxmemory * DEFAULT_SHARE_OF_MAXMEMORY);
      if (this.#maxBytes > 0 && maxmemory > 0 && this.#maxBytes >= maxmemory) {
        this.#log?.warn({ maxBytes: this.#maxBytes, maxmemory }, 'shared tier: cluster.sharedCache.maxBytes is not below the Redis maxmemory: a full tier makes Redis refuse writes (purges still go through, the purge stream too on Redis 7)');
      }
      const isEvicting = policy.startsWith('allkeys-');
      if (isEvicting && !this.#isEvicting) {
        this.#log?.error?.({ policy }, 'shared tier: Redis may evict any key (maxmemory-policy allkeys-*), purge fences included: the tier is not used (reads miss, nothing is stored) until the policy is noeviction or volatile-*');
      }
      this.#isEvicting = isEvicting;
    } catch { /* CONFIG may be disabled (managed Redis): the operator's documented responsibility */ }
  }

  async get(objectKey: string, headers: HeaderValues): Promise<StoredEntry | undefined> {
    const r = await this.#lookup(objectKey, headers);
    return r === 'error' ? undefined : r.entry;
  }

  async getWithFence(objectKey: string, headers: HeaderValues): Promise<{ entry?: StoredEntry; fence?: TierFence }> {
    const r = await this.#lookup(objectKey, headers);
    return r === 'error' ? {} : r;
  }

  fence(zoneId: string): Promise<TierFence | undefined> {
    return this.#run('fence', undefined, async () => Number((await this.#redis.get(this.#zp(zoneId) + 'gc')) ?? 0));
  }

  /** The prefix of a zone's keys: one hash tag per zone, so a zone's keys share a Redis Cluster slot. */
  #zp(zoneId: string): string {
    this.#zones.add(zoneId);
    return `${this.#p}{${zoneId}}:`;
  }

  #refused(reason: TierRefusal): false {
    if (reason === 'fenced') this.#fenced++;
    else if (reason === 'full') this.#full++;
    else this.#oom++;
    this.#onRefused?.(reason);
    return false;
  }

  put(input: VariantInput, fence?: TierFence): Promise<boolean> {
    if (input.body.length > this.#maxBody || this.#isEvicting) return Promise.resolve(false); // a policy, not a failure: not counted
    // A lock is released only once the puts started before it have landed (release() waits for them), so a node
    // waiting on the lock finds the entry rather than a free lock and nothing stored.
    const done = this.#put(input, fence);
    this.#puts.add(done);
    void done.finally(() => this.#puts.delete(done));
    return done;
  }

  #put(input: VariantInput, fence: TierFence | undefined): Promise<boolean> {
    return this.#run('put', false, async (bound) => {
      bound.at += input.body.length / BODY_BYTES_PER_MS;
      // The host index lists the object by its path member (with the preflight suffix when it is a preflight's).
      const base = primaryKey(input.zoneId, input.host, input.path, input.query);
      if (input.objectKey !== base && input.objectKey !== preflightObjectKey(base)) throw new RedisTierError('TIER_REFUSED', 'objectKey is not the key of its zone, host, path and query');
      const member = pathMember(input.path, input.query) + input.objectKey.slice(base.length);
      const vid = variantId(input.objectKey, input.keyNames, input.selector);
      const zp = this.#zp(input.zoneId);
      // A response stored under new Vary names supersedes this request's variant in the other groups (as the memory
      // store does): https://www.rfc-editor.org/rfc/rfc9111#section-4.1
      const superseded: string[] = [];
      const own = JSON.stringify(input.keyNames);
      const reqHeaders = headersOfSelector(input.keyNames, input.selector);
      for (const g of groupsOf(await this.#redis.hgetall(zp + 'o:' + input.objectKey))) {
        if (g.id === own) continue;
        const other = variantId(input.objectKey, g.keyNames, selectorOf(g.keyNames, reqHeaders, this.#normalize));
        if (g.vids.has(other)) superseded.push(other);
      }
      checkBound(bound);
      const now = this.#clock.now();
      let stored: unknown;
      try {
        stored = await this.#cmd.tierPut(
          zp + 'gc', zp, vid, input.objectKey, input.zoneId, input.host, member,
          zoneScoped(input.zoneId, hostName(input.host)), input.tags.filter((t) => t !== '' && !t.includes('\n')).join('\n'),
          encodeMeta(input, now), input.body, input.soft ? '1' : '0', tierTtlMs(input.freshness, now, this.#maxTtlS),
          JSON.stringify({ k: input.keyNames, t: now, s: input.body.length }), fence ?? -1, now, this.#maxBytes, ...superseded,
        );
      } catch (err) {
        if (!isOutOfMemory(err)) throw err;
        return this.#outOfMemory(); // Redis is full: the write is refused, the client's answer is not affected
      }
      if (Number(stored) === 1) return true;
      // 0: a purge newer than the fetch covers it (the write would bring purged content back); 2: the tier is full.
      return this.#refused(Number(stored) === 2 ? 'full' : 'fenced');
    });
  }

  #outOfMemory(): false {
    const now = Date.now();
    if (now - this.#lastOomLogAt >= LOG_EVERY_MS) {
      this.#lastOomLogAt = now;
      this.#log?.warn({ refusedBefore: this.#oom }, 'shared tier: Redis is out of memory, write refused (set cluster.sharedCache.maxBytes below its maxmemory, or give the tier a Redis of its own)');
    }
    return this.#refused('oom');
  }

  purge(target: PurgeTarget, soft: boolean): Promise<number> {
    return this.#run('purge', 0, (bound) => this.#purge(target, soft, bound));
  }

  purgeStrict(target: PurgeTarget, soft: boolean): Promise<number> {
    return this.#run('purge', 0, (bound) => this.#purge(target, soft, bound), true);
  }

  async clear(): Promise<void> {
    // Per zone (each zone's generations live in its own slot): the configured zones and any this tier has seen.
    await Promise.all([...this.#zones].map((zone) => this.#run('clear', 0, () => {
      const zp = this.#zp(zone);
      return tierPurge(this.#redis, [zp + 'gc', zp, this.#fenceKeepMs(), '0', 'clear']);
    })));
  }

  acquire(key: string, ttlMs: number): Promise<boolean> {
    return this.#run('acquire', false, async () => {
      const token = `${this.#tokenBase}:${++this.#tokenSeq}`;
      // A full Redis refuses the lock: fetch without it (its write-through is then refused and counted as oom).
      const ok = await this.#redis.set(this.#p + 'l:' + key, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX').catch((err: unknown) => {
        if (isOutOfMemory(err)) return null;
        throw err;
      });
      if (ok !== 'OK') return false;
      this.#tokens.set(key, token);
      return true;
    });
  }

  async release(key: string): Promise<void> {
    const token = this.#tokens.get(key);
    if (token === undefined) return;
    this.#tokens.delete(key);
    if (this.#puts.size > 0) await Promise.allSettled([...this.#puts]); // each is bounded by the operation timeout
    await this.#run('release', 0, async () => Number(await this.#cmd.tierRelease(this.#p + 'l:' + key, token)));
  }

  async waitFor(objectKey: string, headers: HeaderValues, ms: number, lockKey?: string): Promise<StoredEntry | undefined> {
    const deadline = Date.now() + ms;
    let pause = POLL_MIN_MS;
    for (;;) {
      const r = await this.#lookup(objectKey, headers);
      if (r === 'error') return undefined;
      if (r.entry) return r.entry;
      if (lockKey !== undefined) {
        const held = await this.#run('waitFor', -1, () => this.#redis.exists(this.#p + 'l:' + lockKey));
        if (held === -1) return undefined;
        if (held === 0) return this.get(objectKey, headers); // released (or expired): stored just before, or never
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#isClosed) return undefined;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      pause = Math.min(POLL_MAX_MS, pause * 2);
    }
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    if (this.#redis.status === 'ready') await withBound(this.#redis.quit(), { at: Date.now() + 1000 }).catch(() => {});
    this.#redis.disconnect();
  }

  // ------------------------------------------------------------ internals

  #lookup(objectKey: string, headers: HeaderValues): Promise<Lookup> {
    if (this.#isEvicting) return Promise.resolve('error');
    return this.#run('get', 'error' as Lookup, async (bound): Promise<Lookup> => {
      const zp = this.#zp(zoneOf(objectKey));
      // The generation is read before (and with) the lookup: a purge after it fences out a put made under it.
      const res = await this.#redis.pipeline().hgetall(zp + 'o:' + objectKey).get(zp + 'gc').exec();
      if (res === null) throw new RedisTierError('TIER_UNAVAILABLE', 'pipeline aborted');
      for (const [err] of res) if (err) throw err;
      const fence = Number(res[1]![1] ?? 0);
      for (const g of groupsOf(res[0]![1] as Record<string, string>)) {
        const selector = selectorOf(g.keyNames, headers, this.#normalize);
        const vid = variantId(objectKey, g.keyNames, selector);
        const size = g.vids.get(vid);
        if (size === undefined) continue;
        checkBound(bound);
        bound.at += size / BODY_BYTES_PER_MS;
        // One script: the variant, its purge fences (a purged one is dropped there) and its age on the Redis clock.
        const got = await tierGet(this.#redis, [zp + 'gc', zp, vid, objectKey]);
        if (got === null) continue;
        const [meta, body, stale, elapsed, storedLocal] = got as [Buffer, Buffer, Buffer, Buffer, Buffer];
        let m: Meta;
        try { m = parseMeta(meta); } catch (err) {
          tierPurge(this.#redis, [zp + 'gc', zp, this.#fenceKeepMs(), '0', 'drop', vid]).catch(() => {}); // unreadable: drop it, count the error
          throw err;
        }
        if (m.objectKey !== objectKey || m.selector !== selector) continue; // a variant id collision: not ours
        return { fence, entry: decodeEntry(m, body, stale, elapsed, storedLocal, this.#clock.now()) };
      }
      return { fence };
    });
  }

  #fenceKeepMs(): number {
    return fenceKeepMs(this.#maxTtlS);
  }

  async #purge(target: PurgeTarget, soft: boolean, bound: Bound): Promise<number> {
    const zp = this.#zp(target.zoneId);
    const args = await purgeArgs(target, (objectKey) => this.#redis.hgetall(zp + 'o:' + objectKey), this.#normalize);
    checkBound(bound);
    return tierPurge(this.#redis, [zp + 'gc', zp, this.#fenceKeepMs(), soft ? '1' : '0', ...args]);
  }

  /** Runs one bounded operation: any error or timeout is counted and becomes `fallback` (a miss), or with `isStrict` a RedisTierError. */
  async #run<T>(what: string, fallback: T, fn: (bound: Bound) => Promise<T>, isStrict = false): Promise<T> {
    if (this.#isClosed) {
      if (isStrict) throw new RedisTierError('TIER_UNAVAILABLE', 'the shared tier is closed');
      return fallback;
    }
    const bound: Bound = { at: Date.now() + this.#timeoutMs };
    try {
      await this.#ensureReady(bound.at);
      const out = await withBound(fn(bound), bound);
      this.#stalls = 0;
      return out;
    } catch (err) {
      this.#fail(what, err);
      if (isStrict) throw err instanceof RedisTierError ? err : new RedisTierError('TIER_UNAVAILABLE', err instanceof Error ? err.message : String(err));
      return fallback;
    }
  }

  /** Only the very first connection is waited for (within the operation's bound); once it failed, down means miss. */
  async #ensureReady(deadline: number): Promise<void> {
    if (this.#redis.status === 'ready') return;
    if (!this.#isEverReady && !this.#hasFailedToConnect && (await waitReady(this.#redis, deadline))) return;
    throw new RedisTierError('TIER_UNAVAILABLE', `Redis is unreachable (connection ${this.#redis.status})`);
  }

  #fail(what: string, err: unknown): void {
    if (this.#isClosed) return; // answers cut short by close() are not tier failures
    this.#errors++;
    refreshSlotsAfter(this.#redis, err);
    if (err instanceof RedisTierError && err.code === 'TIER_TIMEOUT' && this.#redis.status === 'ready' && ++this.#stalls >= STALLS_BEFORE_RECONNECT) {
      this.#stalls = 0;
      this.#log?.warn({ op: what }, 'shared tier: Redis stopped answering; reconnecting');
      this.#redis.disconnect(true); // a half-open connection would otherwise time out every operation
    }
    const now = Date.now();
    if (now - this.#lastLogAt < LOG_EVERY_MS) { this.#unlogged++; return; }
    this.#log?.warn({ op: what, err: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown }).code, suppressed: this.#unlogged },
      'shared tier: operation failed; treated as a miss');
    this.#lastLogAt = now;
    this.#unlogged = 0;
  }
}


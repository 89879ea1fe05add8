// Fleet completion: each node's heartbeat ("lastAppliedId redisTimeMs" in the hash <stream>:nodes) and how many live nodes applied a purge.
import { companionKey, type RedisConn } from './redis-connect.js';
import { compareStreamIds, isStreamId } from './stream-format.js';
import { withDeadline } from './bus-connection.js';

/** How often a node refreshes its heartbeat (and soon after each apply). */
export const HEARTBEAT_MS = 2000;
/** A node silent for longer than this (three heartbeats) counts as gone. */
export const GONE_AFTER_MS = 3 * HEARTBEAT_MS;
/** Fields of nodes silent this long are deleted when progress is read (nodes that died without leaving). */
const FORGET_AFTER_MS = 60 * 60 * 1000;
const APPLY_TOUCH_MS = 50;

/** Stamped with Redis's clock, so node clocks do not decide who is live. */
const HEARTBEAT_SCRIPT = `local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. string.format('%.0f', t[1] * 1000 + math.floor(t[2] / 1000)))
return 1`;
/** Redis's clock and every heartbeat; forgets nodes silent for FORGET_AFTER_MS. */
const READ_SCRIPT = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local all = redis.call('HGETALL', KEYS[1])
local kept = {}
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], ' (%d+)$') or '0')
  if now - at > tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]) else kept[#kept + 1] = all[i]; kept[#kept + 1] = all[i + 1] end
end
return { string.format('%.0f', now), kept }`;

export interface FleetNode {
  node: string;
  lastAppliedId: string;
  /** Milliseconds since its last heartbeat (Redis's clock). */
  ageMs: number;
  live: boolean;
  applied: boolean;
}

export interface FleetProgress {
  /** Live nodes whose applied position is at or past the purge. */
  applied: number;
  /** Nodes heard from within GONE_AFTER_MS. */
  live: number;
  nodes: FleetNode[];
}

/** In the stream's Redis Cluster slot: {<stream>}:nodes. */
export function nodesKey(stream: string): string {
  return companionKey(stream, 'nodes');
}

/** Keeps this node's heartbeat: every HEARTBEAT_MS, and shortly after touch() (an apply); stop() removes it (the node left). */
export function startHeartbeat(conn: RedisConn, stream: string, nodeId: string, position: () => string | null, timeoutMs: number): { touch(): void; stop(): Promise<void> } {
  const key = nodesKey(stream);
  let soon: NodeJS.Timeout | undefined;
  let isStopped = false;
  const beat = (): void => {
    soon = undefined;
    const id = position();
    if (id === null || isStopped || conn.status !== 'ready') return;
    withDeadline(conn.eval(HEARTBEAT_SCRIPT, 1, key, nodeId, id), Date.now() + timeoutMs).catch(() => { /* next beat */ });
  };
  const timer = setInterval(beat, HEARTBEAT_MS).unref();
  return {
    touch: () => { soon ??= setTimeout(beat, APPLY_TOUCH_MS).unref(); },
    stop: async () => {
      isStopped = true;
      clearInterval(timer);
      clearTimeout(soon);
      if (conn.status === 'ready') await withDeadline(conn.hdel(key, nodeId), Date.now() + timeoutMs).catch(() => {});
    },
  };
}

/** How many live nodes applied stream entry `id`. */
export async function readFleetProgress(conn: RedisConn, stream: string, id: string, timeoutMs: number): Promise<FleetProgress> {
  if (!isStreamId(id)) throw new TypeError(`not a stream id: ${JSON.stringify(id)}`);
  const reply = await withDeadline(conn.eval(READ_SCRIPT, 1, nodesKey(stream), FORGET_AFTER_MS), Date.now() + timeoutMs);
  const [nowText, flat] = reply as [string, string[]];
  const now = Number(nowText);
  const nodes: FleetNode[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [lastAppliedId = '', at = '0'] = flat[i + 1]!.split(' ');
    if (!isStreamId(lastAppliedId)) continue;
    const ageMs = Math.max(0, now - Number(at));
    const live = ageMs <= GONE_AFTER_MS;
    nodes.push({ node: flat[i]!, lastAppliedId, ageMs, live, applied: compareStreamIds(lastAppliedId, id) >= 0 });
  }
  nodes.sort((a, b) => a.node.localeCompare(b.node));
  const live = nodes.filter((n) => n.live);
  return { applied: live.filter((n) => n.applied).length, live: live.length, nodes };
}

/** The zone of stream entry `id`: undefined when the entry is gone (trimmed) or unreadable. */
export async function entryZone(conn: RedisConn, stream: string, id: string, timeoutMs: number): Promise<string | undefined> {
  const reply = await withDeadline(conn.call('XRANGE', stream, id, id), Date.now() + timeoutMs);
  const fields = Array.isArray(reply) && Array.isArray(reply[0]) ? (reply[0] as unknown[])[1] : undefined;
  if (!Array.isArray(fields)) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'zone') return String(fields[i + 1]);
  return undefined;
}

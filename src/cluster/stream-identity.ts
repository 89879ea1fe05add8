// The purge stream's identity key: the Lua script that creates or renews it, reading it, and why a changed one means a reset.
import { randomUUID } from 'node:crypto';
import { defineAllowOom, runAllowOom, type RedisConn } from './redis-connect.js';

/** Creates the stream's identity when it has none, or renews it when it still is `expected` (history found lost);
 *  returns the identity now in force. KEYS: idKey; ARGV: expected ('' = create only), fresh. */
const LUA_IDENTITY = String.raw`
local cur = redis.call('GET', KEYS[1])
if cur == false or (ARGV[1] ~= '' and cur == ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return cur
`;

/** Defines the identity script on a connection (as the command busIdentity; it runs on a full Redis too). */
export function defineIdentityCommand(conn: RedisConn): void {
  defineAllowOom(conn, 'busIdentity', 1, LUA_IDENTITY);
}

/** Creates the identity (expected '') or renews it if it still is `expected`; the identity now in force. */
export async function renewIdentity(conn: RedisConn, idKey: string, expected: string): Promise<string> {
  const out = await runAllowOom(conn, 'busIdentity', [idKey, expected, randomUUID()]);
  if (typeof out !== 'string') throw new Error('unexpected reply to the stream identity script');
  return out;
}

/** The identity in a GET reply, or null when there is none. */
export function identityOf(reply: unknown): string | null {
  return typeof reply === 'string' && reply !== '' ? reply : null;
}

/** Why a node whose position belongs to identity `known` must reset, now that the stream's is `current`. */
export function identityLostReason(known: string, current: string | null): string {
  return current === null
    ? `the purge stream's identity ${known} is gone: Redis lost its data (restarted empty, flushed, evicted, or failed over to a replica without it), purges may have been lost`
    : `the purge stream's identity changed from ${known} to ${current}: Redis lost or rolled back purges (restarted empty, an older snapshot, a promoted replica), found by this node or another`;
}

// The shared tier's Lua scripts (get, put, purge, release; KEYS[1] routes them to the zone's slot, ARGV[1] is the zone's prefix; key layout in redis-tier.ts).
import { defineAllowOom, runAllowOom, type RedisConn } from '../cluster/redis-connect.js';

const LUA_COMMON = String.raw`
local P = ARGV[1]
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local hards = {}
local function hardOf(zone)
  local h = hards[zone]
  if h == nil then
    h = math.max(tonumber(redis.call('HGET', P .. 'g:' .. zone, 'hard') or '0'), tonumber(redis.call('GET', P .. 'clr') or '0'))
    hards[zone] = h
  end
  return h
end
local function extend(key, ttl)
  local cur = redis.call('PTTL', key)
  if cur < 0 or cur < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- The purge fences covering a variant: {hard, soft, write} generations (0 = none). A variant stored (gen) before a hard
-- fence is purged, before a soft one stale; a put whose fetch started (startGen) before any of the three is refused.
local function maxInto(acc, key)
  local f = redis.call('HMGET', key, 'h', 's', 'w')
  for i = 1, 3 do
    local g = tonumber(f[i] or '0')
    if g > acc[i] then acc[i] = g end
  end
end
local function fencesOf(zone, obj, host, member, hn, tags, vid)
  local g = redis.call('HMGET', P .. 'g:' .. zone, 'hard', 'soft')
  local acc = { hardOf(zone), tonumber(g[2] or '0'), 0 }
  maxInto(acc, P .. 'f:v:' .. vid)
  maxInto(acc, P .. 'f:o:' .. obj)
  maxInto(acc, P .. 'f:h:' .. zone .. '\0' .. host)
  maxInto(acc, P .. 'f:n:' .. hn)
  for tag in string.gmatch(tags, '[^\n]+') do maxInto(acc, P .. 'f:t:' .. zone .. '\0' .. tag) end
  local pf = redis.call('HGETALL', P .. 'f:p:' .. zone .. '\0' .. host)
  for i = 1, #pf, 2 do
    local prefix = string.sub(pf[i], 3)
    if string.sub(member, 1, #prefix) == prefix then
      local idx = 1
      if string.sub(pf[i], 1, 1) == 's' then idx = 2 end
      local gen = tonumber(pf[i + 1])
      if gen > acc[idx] then acc[idx] = gen end
    end
  end
  return acc
end
local function drop(vid)
  local vk = P .. 'v:' .. vid
  local f = redis.call('HMGET', vk, 'z', 'obj', 'h', 'pm', 'hn', 'tg')
  if not f[1] then return end
  redis.call('DEL', vk)
  local ok = P .. 'o:' .. f[2]
  redis.call('HDEL', ok, vid)
  if redis.call('EXISTS', ok) == 0 then
    local pk = P .. 'p:' .. f[1] .. '\0' .. f[3]
    redis.call('ZREM', pk, f[4])
    if redis.call('EXISTS', pk) == 0 then redis.call('SREM', P .. 'hn:' .. f[5], f[3]) end
  end
  for tag in string.gmatch(f[6], '[^\n]+') do redis.call('SREM', P .. 't:' .. f[1] .. '\0' .. tag, vid) end
end
`;

/**
 * KEYS: the zone's gc key (routing only). ARGV: P, vid, objectKey. Returns nil (absent, or purged by a fence: then dropped here) or
 * {meta, body, stale ('1' = soft-purged), ms since it was stored (Redis clock), storing node's clock at the put}.
 * Fences are checked on every read, so an evicted or lagging index (a tag set) cannot bring purged content back.
 */
export const LUA_GET = LUA_COMMON + String.raw`
local vid = ARGV[2]
local vk = P .. 'v:' .. vid
local f = redis.call('HMGET', vk, 'meta', 'body', 'stale', 'gen', 'z', 'obj', 'h', 'pm', 'hn', 'tg', 'at', 'lt')
if not f[1] or not f[2] or not f[4] then
  redis.call('HDEL', P .. 'o:' .. ARGV[3], vid)
  return nil
end
local gen = tonumber(f[4])
local fences = fencesOf(f[5], f[6], f[7], f[8], f[9], f[10], vid)
if gen < fences[1] then drop(vid); return nil end
local stale = f[3]
if gen < fences[2] then stale = '1' end
return { f[1], f[2], stale, tostring(nowMs() - tonumber(f[11] or '0')), f[12] or '0' }
`;

/**
 * KEYS: the zone's gc key. ARGV: P, vid, objectKey, zone, host, member, hnKey, tags ("\n"-joined), meta, body, stale,
 * ttlMs, group, startGen (the gc its fetch started under; '-1' = unfenced), local clock ms, maxBytes ('0' = none),
 * superseded vids... Returns 1 when stored, 0 when a purge newer than its fetch covers it (refused), 2 when the
 * Redis it runs on uses maxBytes or more with this body (refused: the tier is full, so purges keep room).
 */
export const LUA_PUT = LUA_COMMON + String.raw`
local vid, zone, ttl, startGen = ARGV[2], ARGV[4], tonumber(ARGV[12]), tonumber(ARGV[14])
if startGen >= 0 then
  local fences = fencesOf(zone, ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8], vid)
  if fences[1] > startGen or fences[2] > startGen or fences[3] > startGen then return 0 end
end
local maxBytes = tonumber(ARGV[16])
if maxBytes > 0 then
  local used = tonumber(string.match(redis.call('INFO', 'memory'), 'used_memory:(%d+)') or '0')
  if used + #ARGV[10] > maxBytes then return 2 end
end
for i = 17, #ARGV do drop(ARGV[i]) end
drop(vid)
local gen = redis.call('GET', P .. 'gc') or '0'
local vk = P .. 'v:' .. vid
redis.call('HSET', vk, 'meta', ARGV[9], 'body', ARGV[10], 'stale', ARGV[11], 'gen', gen,
  'z', zone, 'obj', ARGV[3], 'h', ARGV[5], 'pm', ARGV[6], 'hn', ARGV[7], 'tg', ARGV[8], 'at', nowMs(), 'lt', ARGV[15])
redis.call('PEXPIRE', vk, ttl)
local ok = P .. 'o:' .. ARGV[3]
redis.call('HSET', ok, vid, ARGV[13]); extend(ok, ttl)
local pk = P .. 'p:' .. zone .. '\0' .. ARGV[5]
redis.call('ZADD', pk, 0, ARGV[6]); extend(pk, ttl)
local hk = P .. 'hn:' .. ARGV[7]
redis.call('SADD', hk, ARGV[5]); extend(hk, ttl)
for tag in string.gmatch(ARGV[8], '[^\n]+') do
  local tk = P .. 't:' .. zone .. '\0' .. tag
  redis.call('SADD', tk, vid); extend(tk, ttl)
end
return 1
`;

/**
 * KEYS: the zone's gc key. ARGV: P, fenceKeepMs, soft ('1'/'0'), mode, then by mode — drop: vid... (tidying, no fence); variant: objectKey,
 * preflightKey, vid...; objects: zone, host, hnKey, member...; tag: zone, tag; host: zone, hnKey, host ('' = every
 * host in hn:hnKey); prefix: zone, host, hnKey, min, max, prefix; everything: zone; clear.
 * Every purge but drop records a fence (f:*, listed in fx by time; kept fenceKeepMs, longer than any variant lives).
 * Returns how many live variants were removed (or marked stale).
 */
export const LUA_PURGE = LUA_COMMON + String.raw`
local keep, soft, mode = tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4]
local n = 0
local now = nowMs()
local fenceGen = nil
local field = 'h'
if soft then field = 's' end
local function fence(k, f)
  if fenceGen == nil then fenceGen = redis.call('INCR', P .. 'gc') end
  redis.call('HSET', P .. k, f, fenceGen)
  redis.call('ZADD', P .. 'fx', now, k)
end
-- 1 = a live variant touched, 0 = a dead one dropped, -1 = absent (expired)
local function touch(vid)
  local vk = P .. 'v:' .. vid
  local f = redis.call('HMGET', vk, 'gen', 'z')
  if not f[1] then return -1 end
  local isLive = tonumber(f[1]) >= hardOf(f[2])
  if soft and isLive then redis.call('HSET', vk, 'stale', '1') else drop(vid) end
  if isLive then return 1 end
  return 0
end
local function purgeObject(zone, host, member)
  local ok = P .. 'o:' .. zone .. '\0' .. host .. '\0' .. member
  for _, vid in ipairs(redis.call('HKEYS', ok)) do
    local r = touch(vid)
    if r == 1 then n = n + 1 elseif r == -1 then redis.call('HDEL', ok, vid) end
  end
  if redis.call('EXISTS', ok) == 0 then redis.call('ZREM', P .. 'p:' .. zone .. '\0' .. host, member) end
end
local function tidyHost(zone, host, hnKey)
  if redis.call('EXISTS', P .. 'p:' .. zone .. '\0' .. host) == 0 then redis.call('SREM', P .. 'hn:' .. hnKey, host) end
end
if mode == 'drop' then
  for i = 5, #ARGV do if touch(ARGV[i]) == 1 then n = n + 1 end end
elseif mode == 'variant' then
  -- The variant's id needs its Vary group, unknown while nothing is stored: a fetch in flight for any variant of the
  -- object is refused its write (w), while reads only skip the variants named here.
  fence('f:o:' .. ARGV[5], 'w'); fence('f:o:' .. ARGV[6], 'w')
  for i = 7, #ARGV do
    fence('f:v:' .. ARGV[i], field)
    if touch(ARGV[i]) == 1 then n = n + 1 end
  end
elseif mode == 'objects' then
  for i = 8, #ARGV do
    fence('f:o:' .. ARGV[5] .. '\0' .. ARGV[6] .. '\0' .. ARGV[i], field)
    purgeObject(ARGV[5], ARGV[6], ARGV[i])
  end
  tidyHost(ARGV[5], ARGV[6], ARGV[7])
elseif mode == 'tag' then
  fence('f:t:' .. ARGV[5] .. '\0' .. ARGV[6], field)
  local tk = P .. 't:' .. ARGV[5] .. '\0' .. ARGV[6]
  for _, vid in ipairs(redis.call('SMEMBERS', tk)) do
    local r = touch(vid)
    if r == 1 then n = n + 1 elseif r == -1 then redis.call('SREM', tk, vid) end
  end
  if not soft then redis.call('DEL', tk) end
elseif mode == 'host' then
  local hosts = { ARGV[7] }
  if ARGV[7] == '' then
    hosts = redis.call('SMEMBERS', P .. 'hn:' .. ARGV[6])
    fence('f:n:' .. ARGV[6], field)
  else
    fence('f:h:' .. ARGV[5] .. '\0' .. ARGV[7], field)
  end
  for _, host in ipairs(hosts) do
    for _, member in ipairs(redis.call('ZRANGE', P .. 'p:' .. ARGV[5] .. '\0' .. host, 0, -1)) do purgeObject(ARGV[5], host, member) end
    tidyHost(ARGV[5], host, ARGV[6])
  end
elseif mode == 'prefix' then
  fence('f:p:' .. ARGV[5] .. '\0' .. ARGV[6], field .. '\0' .. ARGV[10])
  for _, member in ipairs(redis.call('ZRANGEBYLEX', P .. 'p:' .. ARGV[5] .. '\0' .. ARGV[6], ARGV[8], ARGV[9])) do
    purgeObject(ARGV[5], ARGV[6], member)
  end
  tidyHost(ARGV[5], ARGV[6], ARGV[7])
elseif mode == 'everything' then
  local c = redis.call('INCR', P .. 'gc')
  if soft then redis.call('HSET', P .. 'g:' .. ARGV[5], 'soft', c) else redis.call('HSET', P .. 'g:' .. ARGV[5], 'hard', c) end
elseif mode == 'clear' then
  redis.call('SET', P .. 'clr', redis.call('INCR', P .. 'gc'))
end
-- Fences outlive every variant they could cover (keep > the longest TTL); then they go, a few per purge.
for _, k in ipairs(redis.call('ZRANGEBYSCORE', P .. 'fx', '-inf', now - keep, 'LIMIT', 0, 100)) do
  redis.call('DEL', P .. k)
  redis.call('ZREM', P .. 'fx', k)
end
return n
`;

/** KEYS: the lock; ARGV: this node's token. */
export const LUA_RELEASE = String.raw`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type Arg = string | Buffer | number;
export interface TierCommands {
  tierPut(...args: Arg[]): Promise<unknown>;
  tierRelease(...args: Arg[]): Promise<unknown>;
}

/** Defines the scripts on a connection: get and purge run on a full Redis too (they drop, and a purge must land). */
export function defineTierCommands(conn: RedisConn): TierCommands {
  defineAllowOom(conn, 'tierGet', 1, LUA_GET);
  defineAllowOom(conn, 'tierPurge', 1, LUA_PURGE);
  conn.defineCommand('tierPut', { numberOfKeys: 1, lua: LUA_PUT });
  conn.defineCommand('tierRelease', { numberOfKeys: 1, lua: LUA_RELEASE });
  return conn as unknown as TierCommands;
}

/** The get script: [meta, body, stale, elapsed, storedLocal] or null. KEYS and ARGV as LUA_GET says. */
export async function tierGet(conn: RedisConn, args: Arg[]): Promise<Buffer[] | null> {
  return (await runAllowOom(conn, 'tierGet', args, 'Buffer')) as Buffer[] | null;
}

/** The purge script: how many live variants it removed or marked stale. KEYS and ARGV as LUA_PURGE says. */
export async function tierPurge(conn: RedisConn, args: Arg[]): Promise<number> {
  return Number(await runAllowOom(conn, 'tierPurge', args));
}

// The shared tier's Lua scripts (put, purge, release; ARGV[1] is always the prefix; key layout in redis-tier.ts) and their ioredis commands.

const LUA_COMMON = String.raw`
local P = ARGV[1]
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

/** ARGV: P, vid, objectKey, zone, host, member, hnKey, tags ("\n"-joined), meta, body, stale, ttlMs, group, superseded vids... */
export const LUA_PUT = LUA_COMMON + String.raw`
local vid, zone, ttl = ARGV[2], ARGV[4], tonumber(ARGV[12])
for i = 14, #ARGV do drop(ARGV[i]) end
drop(vid)
local gen = redis.call('GET', P .. 'gc') or '0'
local vk = P .. 'v:' .. vid
redis.call('HSET', vk, 'meta', ARGV[9], 'body', ARGV[10], 'stale', ARGV[11], 'gen', gen,
  'z', zone, 'obj', ARGV[3], 'h', ARGV[5], 'pm', ARGV[6], 'hn', ARGV[7], 'tg', ARGV[8])
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
 * ARGV: P, soft ('1'/'0'), mode, then by mode — vids: vid...; objects: zone, host, hnKey, member...; tag: zone, tag;
 * host: zone, hnKey, host ('' = every host in hn:hnKey); prefix: zone, host, hnKey, min, max; everything: zone; clear.
 * Returns how many live variants were removed (or marked stale).
 */
export const LUA_PURGE = LUA_COMMON + String.raw`
local soft, mode = ARGV[2] == '1', ARGV[3]
local n = 0
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
if mode == 'vids' then
  for i = 4, #ARGV do if touch(ARGV[i]) == 1 then n = n + 1 end end
elseif mode == 'objects' then
  for i = 7, #ARGV do purgeObject(ARGV[4], ARGV[5], ARGV[i]) end
  tidyHost(ARGV[4], ARGV[5], ARGV[6])
elseif mode == 'tag' then
  local tk = P .. 't:' .. ARGV[4] .. '\0' .. ARGV[5]
  for _, vid in ipairs(redis.call('SMEMBERS', tk)) do
    local r = touch(vid)
    if r == 1 then n = n + 1 elseif r == -1 then redis.call('SREM', tk, vid) end
  end
  if not soft then redis.call('DEL', tk) end
elseif mode == 'host' then
  local hosts = { ARGV[6] }
  if ARGV[6] == '' then hosts = redis.call('SMEMBERS', P .. 'hn:' .. ARGV[5]) end
  for _, host in ipairs(hosts) do
    for _, member in ipairs(redis.call('ZRANGE', P .. 'p:' .. ARGV[4] .. '\0' .. host, 0, -1)) do purgeObject(ARGV[4], host, member) end
    tidyHost(ARGV[4], host, ARGV[5])
  end
elseif mode == 'prefix' then
  for _, member in ipairs(redis.call('ZRANGEBYLEX', P .. 'p:' .. ARGV[4] .. '\0' .. ARGV[5], ARGV[7], ARGV[8])) do
    purgeObject(ARGV[4], ARGV[5], member)
  end
  tidyHost(ARGV[4], ARGV[5], ARGV[6])
elseif mode == 'everything' then
  local c = redis.call('INCR', P .. 'gc')
  if soft then redis.call('HSET', P .. 'g:' .. ARGV[4], 'soft', c) else redis.call('HSET', P .. 'g:' .. ARGV[4], 'hard', c) end
elseif mode == 'clear' then
  redis.call('SET', P .. 'clr', redis.call('INCR', P .. 'gc'))
end
return n
`;

export const LUA_RELEASE = String.raw`
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('DEL', ARGV[1]) end
return 0
`;

export type Arg = string | Buffer | number;
export interface TierCommands {
  tierPut(...args: Arg[]): Promise<unknown>;
  tierPurge(...args: Arg[]): Promise<unknown>;
  tierRelease(...args: Arg[]): Promise<unknown>;
}

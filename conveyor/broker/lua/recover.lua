-- Put a dead owner's messages back at the head of the list each came from (conveyor.broker.fetch.owners);
-- a job whose worker died `max deaths` times while running it goes to the poisoned list instead (a
-- poison pill, filed in the dead set by conveyor.broker.fetch.poison). Two recoverers cannot both requeue
-- a message: the second finds nothing left.
-- KEYS: 1 the owners, 2 the owner's heartbeat, 3 its held set, 4 claims, 5 unacked,
--       6 unacked_index, 7 the poisoned list.
-- ARGV: 1 owner, 2 max deaths, 3 deaths prefix, 4 deaths TTL, 5 wake prefix, 6 wake cap,
--       7 count ('1': the owner died; '0': it signed off and these are messages it could not hand back).
-- Keys from data: `source` (the list the claim record names), `deaths` (the job's death counter,
-- by the job id in its message), `unique['key']`, `limit['key']` and `blocked` (named by the
-- message's control headers, each used only after control_key checked its prefix and type).
-- Returns {requeued, poisoned}, or {-1} if the owner is alive after all.
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local requeued, poisoned = 0, 0
for _, tag in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local owner, len, source = parse_claim(redis.call('HGET', KEYS[4], tag))
  if owner == ARGV[1] then
    redis.call('HDEL', KEYS[4], tag)
    local value = redis.call('HGET', KEYS[5], tag)
    local message = message_of(value, len)
    if message then
      redis.call('HDEL', KEYS[5], tag)
      redis.call('ZREM', KEYS[6], tag)
      local ok, decoded = pcall(cjson.decode, message)
      local headers = ok and type(decoded) == 'table' and type(decoded['headers']) == 'table' and decoded['headers']
      local id = headers and headers['id']
      if type(id) ~= 'string' then id = tag end
      local limit = headers and headers['conveyor_limit']
      local count = 0
      if ARGV[7] == '1' then
        local deaths = ARGV[3] .. id
        count = redis.call('INCR', deaths)
        redis.call('EXPIRE', deaths, ARGV[4])
      end
      if count >= tonumber(ARGV[2]) then
        redis.call('RPUSH', KEYS[7], #source .. ' ' .. count .. ' ' .. source .. message)
        poisoned = poisoned + 1
        local unique = headers and headers['conveyor_unique']  -- dead: its @unique lock goes
        if type(unique) == 'table' and control_key(unique['key'], 'conveyor:unique:', 'string')
            and redis.call('GET', unique['key']) == id then
          redis.call('DEL', unique['key'])
        end
      else
        redis.call('RPUSH', source, message)
        wake(ARGV[5], source, tonumber(ARGV[6]))
        requeued = requeued + 1
      end
      if type(limit) == 'table' and limit_key(limit['key']) then
        -- Its concurrency slot is free: a job blocked behind it goes first (pushed to the head after it).
        local blocked = limit['key'] .. ':blocked'
        redis.call('ZREM', limit['key'], id)
        unblock(limit['key'], blocked, tonumber(limit['to']) or 1, now, ARGV[5], tonumber(ARGV[6]))
      end
    elseif value then
      -- Not in the claim script's layout (rewritten by another program): kombu's visibility
      -- sweep restores it, now that no owner holds it; score 0 makes it due at once.
      redis.call('ZADD', KEYS[6], 0, tag)
    end
  end
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return {requeued, poisoned}

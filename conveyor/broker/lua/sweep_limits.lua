-- Free expired slots (a holder that overran its duration) of every limit in use and release blocked
-- jobs into them; forget limits no longer in use (conveyor.broker.controls, from every heartbeat).
-- KEYS: 1 the limits in use (set of slot keys), 2 their sizes (hash).
-- ARGV: 1 now, 2 wake prefix, 3 wake cap.
-- Keys from data: `key` (a limit's slots, a member of KEYS[1]) and `blocked` (its blocked list),
-- used only when both are a limit's (prefix and type); any other member is forgotten, untouched.
-- Returns how many blocked jobs were released.
local released = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local to, blocked = tonumber(redis.call('HGET', KEYS[2], key)) or 1, key .. ':blocked'
  local own = limit_key(key)
  if own then released = released + unblock(key, blocked, to, tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])) end
  -- Forgotten when unused, or (never touched) when a message named another key before claims checked names.
  if not own or (redis.call('ZCARD', key) == 0 and redis.call('LLEN', blocked) == 0) then
    redis.call('SREM', KEYS[1], key)
    redis.call('HDEL', KEYS[2], key)
  end
end
return released

-- The registered owners whose heartbeat key has expired (conveyor.broker.fetch.owners): Redis' own
-- expiry decides, so the workers' clocks do not have to agree.
-- KEYS: 1 the owners (sorted set).
-- ARGV: 1 heartbeat prefix.
-- Keys from data: `heartbeat` (the heartbeat key of an owner listed in KEYS[1]).
local dead = {}
for _, owner in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local heartbeat = ARGV[1] .. owner
  if redis.call('EXISTS', heartbeat) == 0 then table.insert(dead, owner) end
end
return dead

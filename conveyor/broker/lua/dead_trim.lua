-- Drop dead records that are too old and those over the cap, oldest first (conveyor.broker.dead.dead_set).
-- KEYS: 1 the dead set (job id -> time of death), 2 the records (job id -> JSON).
-- ARGV: 4 the cap, 5 the cut-off time (ARGV 1-3 are dead_add's when it comes first, else unused).
-- Returns how many records were dropped.
local dropped = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
local excess = redis.call('ZCARD', KEYS[1]) - #dropped - tonumber(ARGV[4])
if excess > 0 then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[5], '+inf', 'LIMIT', 0, excess)
  for _, id in ipairs(oldest) do table.insert(dropped, id) end
end
for _, id in ipairs(dropped) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return #dropped

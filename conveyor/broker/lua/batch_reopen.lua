-- Reopen a batch for its dead jobs sent again (conveyor.broker.batches: retry_dead): each dead member is
-- pending again and the batch is not finished until they end; its callbacks already pushed are not pushed
-- again (each fires once ever), so a `success` that never fired can fire now.
-- KEYS: 1 batch, 2 its members' hash, 3 its pending set.
-- ARGV: 1 TTL s, 2... members (job ids, or b:<child id>).
-- Returns how many were dead and are pending again.
local reopened = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == 'd' then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('SADD', KEYS[3], ARGV[i])
    reopened = reopened + 1
  end
end
if reopened > 0 then
  redis.call('HINCRBY', KEYS[1], 'dead', -reopened)
  redis.call('HINCRBY', KEYS[1], 'pending', reopened)
  redis.call('HDEL', KEYS[1], 'finished_at')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[1]))
end
return reopened

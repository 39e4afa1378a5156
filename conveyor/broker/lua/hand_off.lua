-- Acknowledge a running job's message from any process of its worker (conveyor.broker.fetch.handoff).
-- KEYS: 1 unacked, 2 unacked_index, 3 claims.
-- ARGV: 1 delivery tag, 2 held prefix.
-- Keys from data: `held` (the held set of the owner the claim record names).
-- Returns 1 if the message was still unacknowledged, else 0.
local owner = parse_claim(redis.call('HGET', KEYS[3], ARGV[1]))
if owner then
  local held = ARGV[2] .. owner
  redis.call('SREM', held, ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])

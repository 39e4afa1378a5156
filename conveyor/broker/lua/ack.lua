-- Acknowledge a message this owner claimed (conveyor.broker.fetch.acks): only if the claim record still
-- names this owner (a late acknowledgement after recovery must not delete another owner's record).
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's).
-- ARGV: 1 delivery tag, 2 owner.
-- Returns 1 if acknowledged, 0 if the message is not (or no longer) this owner's.
redis.call('SREM', KEYS[4], ARGV[1])
local owner = parse_claim(redis.call('HGET', KEYS[3], ARGV[1]))
if owner ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1

-- Acknowledge a message this owner claimed (conveyor.broker.fetch.acks): only if this owner still holds it
-- (a late acknowledgement after recovery must not delete another owner's record). The held set says so
-- alone: every script that adds a tag to it writes the claim record naming its owner in the same step,
-- and every script that ends the claim (ack, hand-off, restore, recovery) takes the tag out of it in
-- that step too, so SREM's answer is the claim record's owner check without reading the record.
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's).
-- ARGV: 1 delivery tag.
-- Returns 1 if acknowledged, 0 if the message is not (or no longer) this owner's.
if redis.call('SREM', KEYS[4], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1

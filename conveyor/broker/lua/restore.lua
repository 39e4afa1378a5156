-- Hand a claimed message back to the list it came from, byte for byte (conveyor.broker.fetch.acks:
-- reject with requeue, and the hand-back at channel close), and wake a worker of its queue.
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's).
-- ARGV: 1 delivery tag, 2 owner, 3 leftmost ('1'/'0'), 4 wake prefix, 5 wake cap.
-- Keys from data: `source` (the list the claim record names: where the message was claimed from).
-- Returns 1 if handed back, 0 if not this owner's, -1 if ours but not in the claim script's layout
-- (kombu restores it).
redis.call('SREM', KEYS[4], ARGV[1])
local owner, len, source = parse_claim(redis.call('HGET', KEYS[3], ARGV[1]))
if owner ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
local message = message_of(redis.call('HGET', KEYS[1], ARGV[1]), len)
if not message then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
-- kombu's meaning of leftmost (reject with requeue): the back of the queue; otherwise the head.
if ARGV[3] == '1' then redis.call('LPUSH', source, message) else redis.call('RPUSH', source, message) end
wake(ARGV[4], source, tonumber(ARGV[5]))
return 1

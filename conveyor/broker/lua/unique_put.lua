-- @unique (conveyor.broker.controls): take the lock and push the message in one step, so two
-- producers cannot both enqueue; a re-enqueue of the same job id (a retry) keeps the lock.
-- KEYS: 1 the lock, 2 the queue list, 3 the queue's wake list.
-- ARGV: 1 job id, 2 TTL (ms), 3 the message, 4 wake cap.
-- Returns the holder's job id if another job holds the lock (nothing sent), else false.
local holder = take_lock(KEYS[1], ARGV[1], ARGV[2])
if holder then return holder end
redis.call('LPUSH', KEYS[2], ARGV[3])
push_wake(KEYS[3], tonumber(ARGV[4]))
return false

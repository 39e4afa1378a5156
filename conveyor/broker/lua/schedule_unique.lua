-- @unique for a scheduled job (conveyor.broker.scheduled.scheduled_set): take the lock and add the entry to
-- the scheduled set in one step (unique_put.lua's lock).
-- KEYS: 1 the lock, 2 the scheduled set.
-- ARGV: 1 job id, 2 TTL (ms), 3 due time, 4 the entry.
-- Returns the holder's job id if another job holds the lock (nothing stored), else false.
local holder = take_lock(KEYS[1], ARGV[1], ARGV[2])
if holder then return holder end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return false

-- Release a @unique lock (conveyor.broker.controls): compare-and-delete, only if this job holds it.
-- KEYS: 1 the lock.
-- ARGV: 1 job id.
-- Returns 1 if deleted, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0

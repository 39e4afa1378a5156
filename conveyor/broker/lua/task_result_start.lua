-- A django.tasks run starts (conveyor.django.backend): its result RUNNING, its times, this worker
-- added to its worker ids, in one round trip; a run no backend enqueued (schedule.yaml) gets its
-- path and arguments here.
-- KEYS: 1 the result hash.
-- ARGV: 1 the task's module path, 2 the time (ISO 8601), 3 this worker's id, 4 the arguments
--       (JSON), 5 the keyword arguments (JSON), 6 the result's expiry in seconds.
-- Returns the hash after the change, as HGETALL does.
redis.call('HSET', KEYS[1], 'path', ARGV[1], 'status', 'RUNNING', 'started_at', ARGV[2], 'last_attempted_at', ARGV[2])
redis.call('HSETNX', KEYS[1], 'args', ARGV[4])
redis.call('HSETNX', KEYS[1], 'kwargs', ARGV[5])
redis.call('HDEL', KEYS[1], 'finished_at', 'return_value')
local known = redis.call('HGET', KEYS[1], 'worker_ids')
local workers = known and cjson.decode(known) or {}
table.insert(workers, ARGV[3])
redis.call('HSET', KEYS[1], 'worker_ids', cjson.encode(workers))
redis.call('EXPIRE', KEYS[1], ARGV[6])
return redis.call('HGETALL', KEYS[1])

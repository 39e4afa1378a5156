-- Add a record to the dead set (conveyor.broker.dead.dead_set); dead_trim.lua follows in the same script.
-- KEYS: 1 the dead set (job id -> time of death), 2 the records (job id -> JSON).
-- ARGV: 1 job id, 2 time of death, 3 the record, 4 the cap, 5 the cut-off time (older records go).
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])

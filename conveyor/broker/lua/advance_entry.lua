-- Record a beat entry's run (its meta) and its next due time, only while the entry is defined
-- (conveyor.schedule.beat.Entry). redbeat writes both unconditionally, so an entry deleted by a
-- schedule sync while beat was sending it came back as a hash with a meta and no definition.
-- KEYS: 1 the entry's hash, 2 redbeat's schedule (sorted set: entry key -> due time).
-- ARGV: 1 the meta (JSON), 2 the next due time (score).
-- Returns 1 if recorded, 0 if the entry was gone (its leftovers are removed then).
if redis.call('HEXISTS', KEYS[1], 'definition') == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'meta', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return 1

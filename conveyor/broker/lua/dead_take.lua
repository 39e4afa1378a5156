-- Remove one dead record and return it, so two people retrying the same job send it once.
-- KEYS: 1 the dead set, 2 the records.
-- ARGV: 1 job id.
-- Returns the record, or false if it is not there.
local record = redis.call('HGET', KEYS[2], ARGV[1])
if record then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return record

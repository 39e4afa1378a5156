-- A django.tasks run ends (conveyor.django.backend): its outcome's fields set and its error, if
-- any, appended to the result's errors, in one round trip.
-- KEYS: 1 the result hash.
-- ARGV: 1 the result's expiry in seconds, 2 the error (a JSON object) or '', 3... field, value
--       pairs (status, and finished_at / return_value as the outcome has them).
-- Returns 1.
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
if ARGV[2] ~= '' then
  local known = redis.call('HGET', KEYS[1], 'errors')
  local errors = known and cjson.decode(known) or {}
  table.insert(errors, cjson.decode(ARGV[2]))
  redis.call('HSET', KEYS[1], 'errors', cjson.encode(errors))
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1

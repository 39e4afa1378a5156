-- Store a job's result in one round trip (conveyor.broker.results): a stored SUCCESS is never
-- overwritten (Celery's rule); a value that is not JSON is overwritten, as Celery would.
-- KEYS: 1 the result key (also the channel it is published on).
-- ARGV: 1 the encoded result, 2 its expiry in seconds (0: none).
-- Returns 1 if stored, 0 if a SUCCESS was there.
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then return 0 end
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1

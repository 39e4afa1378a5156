-- Open a jobs() block of a batch (conveyor.broker.batches): create the batch the first time (and count it
-- as a member of its parent batch), keep its callbacks, and count the open block: a batch never completes
-- while a block is open.
-- KEYS: 1 batch, 2 its members' hash, 3 the index of batches (id -> created), 4 the parent batch's hash,
-- 5 its pending set and 6 its members' hash (4-6 only for a child batch).
-- ARGV: 1 id, 2 now, 3 TTL s, 4 most batches indexed, 5 description, 6 properties JSON, 7 parent id or '',
-- 8 1 if the batch must exist already (a job's own batch), then pairs of event and cjson [list, envelope].
-- Returns 1 if the batch was created, 0 if it existed; an error if it must exist and does not (expired).
local ttl = tonumber(ARGV[3])
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[8] == '1' then return redis.error_reply('ERR conveyor: no such batch (its keys expired?)') end
  redis.call('HSET', KEYS[1], 'description', ARGV[5], 'properties', ARGV[6], 'created_at', ARGV[2],
    'parent', ARGV[7], 'sealed', 0, 'opens', 0, 'cancelled', 0, 'total', 0, 'pending', 0, 'retrying', 0,
    'discarded', 0, 'dead', 0, 'children', 0)
  redis.call('HSET', KEYS[2], '_', '')
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[2]) - ttl)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[4]) - 1)
  redis.call('EXPIRE', KEYS[3], ttl)
  if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 and redis.call('SADD', KEYS[5], 'b:' .. ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[4], 'total', 1)
    redis.call('HINCRBY', KEYS[4], 'pending', 1)
    redis.call('HINCRBY', KEYS[4], 'children', 1)
    redis.call('HDEL', KEYS[4], 'finished_at')
    redis.call('EXPIRE', KEYS[4], ttl)
    redis.call('EXPIRE', KEYS[5], ttl)
    redis.call('EXPIRE', KEYS[6], ttl)
  end
  created = 1
end
for i = 9, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], 'cb:' .. ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', KEYS[1], 'opens', 1)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return created

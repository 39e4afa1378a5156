-- Register jobs in a batch before they are sent (conveyor.broker.batches): each id becomes pending once
-- (a second registration of an id changes nothing); a finished batch that gets jobs is open again.
-- KEYS: 1 batch, 2 its members.
-- ARGV: 1 TTL s, 2 most members a batch may hold, 3... job ids.
-- Returns how many ids were new; an error if the batch is gone or would hold more than its bound.
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('ERR conveyor: no such batch (its keys expired?)') end
if redis.call('HLEN', KEYS[2]) + #ARGV - 2 > tonumber(ARGV[2]) then
  return redis.error_reply('ERR conveyor: the batch would hold more than ' .. ARGV[2] .. ' jobs')
end
local added = 0
for i = 3, #ARGV do
  added = added + redis.call('HSETNX', KEYS[2], ARGV[i], 'p')
end
if added > 0 then
  redis.call('HINCRBY', KEYS[1], 'total', added)
  redis.call('HINCRBY', KEYS[1], 'pending', added)
  redis.call('HDEL', KEYS[1], 'finished_at')
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return added

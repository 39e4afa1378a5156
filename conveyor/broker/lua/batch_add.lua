-- Register jobs in a batch before they are sent (conveyor.broker.batches): each id joins the pending set
-- once (an id pending already changes nothing); a finished batch that gets jobs is open again. The ids
-- come as one space-separated argument (a chunk of 1,000 is one string to send, not 1,000 arguments)
-- and are added with one SADD per 500.
-- KEYS: 1 batch, 2 its pending set.
-- ARGV: 1 TTL s, 2 most members a batch may hold, 3 job ids, separated by spaces.
-- Returns how many ids were new; an error if the batch is gone or would hold more than its bound.
local total = redis.call('HGET', KEYS[1], 'total')
if not total then return redis.error_reply('ERR conveyor: no such batch (its keys expired?)') end
local ids = {}
for id in string.gmatch(ARGV[3], '%S+') do ids[#ids + 1] = id end
if tonumber(total) + #ids > tonumber(ARGV[2]) then
  return redis.error_reply('ERR conveyor: the batch would hold more than ' .. ARGV[2] .. ' jobs')
end
local added = 0
for first = 1, #ids, 500 do
  added = added + redis.call('SADD', KEYS[2], unpack(ids, first, math.min(first + 499, #ids)))
end
if added > 0 then
  redis.call('HINCRBY', KEYS[1], 'total', added)
  redis.call('HINCRBY', KEYS[1], 'pending', added)
  redis.call('HDEL', KEYS[1], 'finished_at')
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return added

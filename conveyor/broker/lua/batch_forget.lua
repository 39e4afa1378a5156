-- Take back registered jobs that were not sent (conveyor.broker.batches: the send failed, or a @unique
-- job was refused as a duplicate): each still pending is no longer a member; then the batch may complete.
-- KEYS: 1 batch, 2 its pending set.
-- ARGV: 1 id, 2 batch key prefix, 3 now, 4 TTL s, 5 wake-up list prefix, 6 wake-up cap, 7 job ids, separated
-- by spaces.
-- Returns how many were taken back.
local forgotten = 0
for id in string.gmatch(ARGV[7], '%S+') do
  forgotten = forgotten + redis.call('SREM', KEYS[2], id)
end
if forgotten > 0 then
  redis.call('HINCRBY', KEYS[1], 'total', -forgotten)
  redis.call('HINCRBY', KEYS[1], 'pending', -forgotten)
  settle(ARGV[2], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
end
return forgotten

-- Take back registered jobs that were not sent (conveyor.broker.batches: the send failed, or a @unique
-- job was refused as a duplicate): each still pending is no longer a member; then the batch may complete.
-- KEYS: 1 batch, 2 its members.
-- ARGV: 1 id, 2 batch key prefix, 3 now, 4 TTL s, 5 wake-up list prefix, 6 wake-up cap, 7... job ids.
-- Returns how many were taken back.
local forgotten = 0
for i = 7, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == 'p' then
    redis.call('HDEL', KEYS[2], ARGV[i])
    forgotten = forgotten + 1
  end
end
if forgotten > 0 then
  redis.call('HINCRBY', KEYS[1], 'total', -forgotten)
  redis.call('HINCRBY', KEYS[1], 'pending', -forgotten)
  settle(ARGV[2], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
end
return forgotten

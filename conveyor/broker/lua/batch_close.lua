-- Close a jobs() block (conveyor.broker.batches): the batch is sealed, and completes now if nothing is
-- pending and no other block is open (an empty batch finishes here), pushing its callbacks once.
-- KEYS: 1 batch.
-- ARGV: 1 id, 2 batch key prefix, 3 now, 4 TTL s, 5 wake-up list prefix, 6 wake-up cap.
-- Returns the blocks still open, or -1 if the batch is gone (expired).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local opens = redis.call('HINCRBY', KEYS[1], 'opens', -1)
if opens < 0 then
  redis.call('HSET', KEYS[1], 'opens', 0)
  opens = 0
end
redis.call('HSET', KEYS[1], 'sealed', 1)
settle(ARGV[2], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
return opens

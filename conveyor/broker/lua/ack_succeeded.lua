-- Acknowledge a message this owner claimed and record its job's success in the job's batch, in one step
-- (conveyor.broker.fetch.acks, for a job of a batch whose perform returned): the acknowledgement is
-- ack.lua's four commands, the success batch_end.lua's (keyed by job id: a job that ended before, here or
-- on another worker that ran it again, changes nothing). The success is recorded even when the message
-- is no longer this owner's (recovered meanwhile): the job did succeed here.
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's), 5 batch.
-- ARGV: 1 delivery tag, 2 batch id, 3 batch key prefix, 4 now, 5 TTL s, 6 wake-up list prefix, 7 wake-up cap,
-- 8 job id.
-- Returns 1 if acknowledged, 0 if the message is not (or no longer) this owner's.
local acked = 0
if redis.call('SREM', KEYS[4], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  acked = 1
end
local cap = tonumber(ARGV[7])
local ended, pending = end_member(KEYS[5], ARGV[8], 's', ARGV[4], ARGV[6], cap)
if ended and pending == 0 then settle(ARGV[3], ARGV[2], ARGV[4], tonumber(ARGV[5]), ARGV[6], cap) end
return acked

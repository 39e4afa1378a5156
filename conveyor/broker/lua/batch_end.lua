-- Record how a batch's job ended (conveyor.broker.batches), keyed by job id, before the worker acknowledges
-- it: s succeeded, x discarded, d dead, or r retrying (not an end). An execution delivered again (super
-- fetch), or run twice, finds its job already ended and changes nothing. When this ends the batch, its
-- callbacks are pushed here, once each, and its parent is told in the same step. The common case, the
-- end of one of many jobs, is HGET + HSET + HINCRBY (a gone batch: one HGET).
-- KEYS: 1 batch.
-- ARGV: 1 id, 2 batch key prefix, 3 now, 4 TTL s, 5 wake-up list prefix, 6 wake-up cap, 7 job id, 8 outcome.
-- Returns 1 if the job's end was recorded now, 0 if it changed nothing.
local cap = tonumber(ARGV[6])
local ended, pending = end_member(KEYS[1], ARGV[7], ARGV[8], ARGV[3], ARGV[5], cap)
if not ended then return 0 end
if pending == 0 then settle(ARGV[2], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], cap) end
return 1

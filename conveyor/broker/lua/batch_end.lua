-- Record how a batch's job ended (conveyor.broker.batches), keyed by job id, before the worker acknowledges
-- it: s succeeded, x discarded, d dead, or r retrying (not an end). An execution delivered again (super
-- fetch), or run twice, finds its job already ended and changes nothing. When this ends the batch, its
-- callbacks are pushed here, once each, and its parent is told in the same step.
-- KEYS: 1 batch.
-- ARGV: 1 id, 2 batch key prefix, 3 now, 4 TTL s, 5 wake-up list prefix, 6 wake-up cap, 7 job id, 8 outcome.
-- Returns 1 if the job's end was recorded now, 0 if it changed nothing.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cap = tonumber(ARGV[6])
if not end_member(KEYS[1], ARGV[7], ARGV[8], ARGV[3], ARGV[5], cap) then return 0 end
touch(KEYS[1], tonumber(ARGV[4]))
settle(ARGV[2], ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5], cap)
return 1

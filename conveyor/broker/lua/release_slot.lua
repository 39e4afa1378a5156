-- Free a job's concurrency slot and move jobs blocked behind it back to their queues
-- (conveyor.broker.controls). Nothing is touched unless both keys are a limit's (prefix and type).
-- KEYS: 1 the slots (sorted set: job id -> expiry), 2 their blocked list.
-- ARGV: 1 job id, 2 to, 3 now, 4 wake prefix, 5 wake cap.
-- Returns how many blocked jobs were released.
if not limit_key(KEYS[1]) or KEYS[2] ~= KEYS[1] .. ':blocked' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return unblock(KEYS[1], KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))

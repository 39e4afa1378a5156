-- Move the selected waiting jobs to the dead set (the pages' Kill, `jobs scheduled|retries kill`).
-- KEYS: 1 the scheduled set, 2 the dead set (id -> time of death), 3 the dead records (id -> JSON).
-- ARGV: 1 now, then triples: member, job id, dead record.
-- A job leaves the scheduled set and enters the dead set in one step: never in both, never in
-- neither, and a member the poller moved first is not recorded. The dead set's cap and age limit
-- are applied afterwards by DeadSet.trim.
-- Returns one flag per member: 1 killed, 0 no longer waiting.
local killed = {}
for i = 2, #ARGV, 3 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i + 1])
    redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])
    killed[#killed + 1] = 1
  else
    killed[#killed + 1] = 0
  end
end
return killed

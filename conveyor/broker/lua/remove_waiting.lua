-- Delete the selected waiting jobs (they will not run).
-- KEYS: 1 the scheduled set.
-- ARGV: 1… the members to remove.
-- Returns one flag per member: 1 removed, 0 no longer waiting.
local removed = {}
for i = 1, #ARGV do
  removed[i] = redis.call('ZREM', KEYS[1], ARGV[i])
end
return removed

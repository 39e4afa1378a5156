-- Move the selected waiting jobs to their queues now (the Scheduled and Retries pages' Run now).
-- KEYS: 1 the scheduled set.
-- ARGV: 1 wake cap, 2… the members to move.
-- Keys from data: `entry['key']` (the list an entry goes to) and `entry['wake']` (its queue's wake
-- list), written by conveyor when the job was scheduled, as move_due.lua reads them.
-- Returns one flag per member: 1 moved, 0 no longer waiting (run, deleted or moved by the poller
-- first: whichever gets there first moves it, once).
local moved = {}
local cap = tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local entry = cjson.decode(ARGV[i])
    redis.call('LPUSH', entry['key'], entry['message'])
    if type(entry['wake']) == 'string' then push_wake(entry['wake'], cap) end
    moved[#moved + 1] = 1
  else
    moved[#moved + 1] = 0
  end
end
return moved

-- Move the selected waiting jobs to their queues now (the Scheduled and Retries pages' Run now).
-- KEYS: the scheduled set.
-- ARGV: wake cap, then the members to move.
-- Keys taken from data, the documented exception: each member names the list it goes to
-- (`key`) and the wake list of its queue (`wake`), written by conveyor when it was scheduled,
-- as the scheduled set's poller reads them.
-- Returns one flag per member: 1 moved, 0 no longer waiting (run, deleted or moved by the
-- poller first: whichever gets there first moves it, once).
local moved = {}
local cap = tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local entry = cjson.decode(ARGV[i])
    redis.call('LPUSH', entry['key'], entry['message'])
    if type(entry['wake']) == 'string' then
      redis.call('LPUSH', entry['wake'], 1)
      redis.call('LTRIM', entry['wake'], 0, cap - 1)
    end
    moved[#moved + 1] = 1
  else
    moved[#moved + 1] = 0
  end
end
return moved

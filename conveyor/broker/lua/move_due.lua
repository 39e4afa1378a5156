-- Move due jobs from the scheduled set to their queues (conveyor.broker.scheduled.scheduled_set's poller):
-- a job leaves the set and enters its queue in one step, whichever worker runs it first. A member
-- that is not a valid entry is moved to a holding list in the same step, from which the poller
-- files it in the dead set: it never vanishes.
-- KEYS: 1 the scheduled set, 2 the holding list of malformed entries.
-- ARGV: 1 now, 2 how many at most, 3 wake cap.
-- Keys from data: `entry['key']` (the list an entry goes to) and `entry['wake']` (its queue's wake
-- list), written by conveyor when the job was scheduled.
-- Returns {moved or set aside, entries now in the holding list}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, item in ipairs(due) do
  local ok, entry = pcall(cjson.decode, item)
  redis.call('ZREM', KEYS[1], item)
  if ok and type(entry) == 'table' and type(entry['key']) == 'string' and entry['key'] ~= ''
      and type(entry['message']) == 'string' then
    redis.call('LPUSH', entry['key'], entry['message'])
    if type(entry['wake']) == 'string' then push_wake(entry['wake'], tonumber(ARGV[3])) end
  else
    redis.call('RPUSH', KEYS[2], item)
  end
end
return {#due, redis.call('LLEN', KEYS[2])}

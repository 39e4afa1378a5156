-- Move due jobs from the scheduled set to their queues (conveyor.broker.scheduled.scheduled_set's poller):
-- a job leaves the set and enters its queue in one step, whichever worker runs it first. A member
-- that is not a valid entry is moved to a holding list in the same step, from which the poller
-- files it in the dead set: it never vanishes.
-- KEYS: 1 the scheduled set, 2 the holding list of malformed entries.
-- ARGV: 1 now, 2 how many at most, 3 wake cap.
-- Keys from data: `entry['key']` (the list an entry goes to) and `entry['wake']` (its queue's wake
-- list), written by conveyor when the job was scheduled.
-- Returns {moved or set aside, entries in the holding list (counted only when this call set one
-- aside), the next due time ('' if none)}: the poller sleeps until then (at most its interval).
-- Most polls find nothing due: one ZRANGE answers them.
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] == nil then return {0, 0, ''} end
if tonumber(first[2]) > tonumber(ARGV[1]) then return {0, 0, first[2]} end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local set_aside = 0
for _, item in ipairs(due) do
  local ok, entry = pcall(cjson.decode, item)
  redis.call('ZREM', KEYS[1], item)
  if ok and type(entry) == 'table' and type(entry['key']) == 'string' and entry['key'] ~= ''
      and type(entry['message']) == 'string' then
    redis.call('LPUSH', entry['key'], entry['message'])
    if type(entry['wake']) == 'string' then push_wake(entry['wake'], tonumber(ARGV[3])) end
  else
    redis.call('RPUSH', KEYS[2], item)
    set_aside = set_aside + 1
  end
end
local held = 0
if set_aside > 0 then held = redis.call('LLEN', KEYS[2]) end
return {#due, held, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or ''}

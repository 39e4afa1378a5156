-- Functions the scripts share (conveyor.broker.scripts prepends this file to those that use it).
-- KEYS: none of its own.
-- ARGV: none of its own.
-- Key tables: `keys` (a caller's KEYS, whose first four are unacked, unacked_index, claims and held).
-- Keys from data: `key` and `blocked` (the callers' keys, from KEYS or from data they document),
-- `source` (the list a claim record or a blocked entry names: where the message came from).
--
-- A claim is "<owner> <length of the message> <source list>"; the unacked value the claim script
-- wrote is "[" .. message .. "," .. exchange .. "," .. routing key .. "]", so the message is its
-- first <length> bytes after the bracket, byte for byte as it was sent.
local function parse_claim(claim)
  if not claim then return nil end
  local owner, len, source = string.match(claim, '^(%S+) (%d+) (.*)$')
  if not owner then return nil end
  return owner, tonumber(len), source
end
local function message_of(value, len)
  if value and len and string.sub(value, 1, 1) == '[' and string.sub(value, len + 2, len + 2) == ',' then
    return string.sub(value, 2, len + 1)
  end
  return nil
end
local function queue_of(source)
  return (string.gsub(source, '\6\22.*$', ''))
end
-- Record a claimed message in the formats above (the one writer of them: the claim, and its replay on a
-- new Sentinel master): kombu's unacked value and index, and for an owner its claim record and held set.
-- A message missing its routing goes back to the queue it came from (the list without its priority suffix).
local function record_claim(keys, tag, item, delivery, source, owner, now)
  redis.call('ZADD', keys[2], now, tag)
  redis.call('HSET', keys[1], tag, '[' .. item .. ',' .. cjson.encode(delivery['exchange'] or '') .. ','
    .. cjson.encode(delivery['routing_key'] or queue_of(source)) .. ']')
  if owner then
    redis.call('HSET', keys[3], tag, owner .. ' ' .. #item .. ' ' .. source)
    redis.call('SADD', keys[4], tag)
  end
end
-- The one spelling of a wake-up: a token on the list idle workers of a queue wait on, at most `cap` kept.
local function push_wake(key, cap)
  redis.call('LPUSH', key, 1)
  redis.call('LTRIM', key, 0, cap - 1)
end
local function wake(wake_prefix, source, cap)
  push_wake(wake_prefix .. queue_of(source), cap)
end
-- A key named by a message header (conveyor.broker.controls): usable only if it is under `prefix`
-- and holds `kind` (or nothing yet). Anything else is a forged header naming another structure
-- (the scheduled set, the dead set, a lock): the message is buried, the key never touched.
local function control_key(key, prefix, kind)
  if type(key) ~= 'string' or #key <= #prefix or string.sub(key, 1, #prefix) ~= prefix then return false end
  local found = redis.call('TYPE', key)['ok']
  return found == 'none' or found == kind
end
-- A concurrency limit's slots (a sorted set) and its blocked list, both conveyor's.
local function limit_key(key)
  return control_key(key, 'conveyor:limit:', 'zset') and control_key(key .. ':blocked', 'conveyor:limit:', 'list')
end
-- @unique (conveyor.broker.controls): take `key` for job `id` for `ttl_ms`, or keep it if `id` holds it;
-- the holder's id if another job holds it.
local function take_lock(key, id, ttl_ms)
  local holder = redis.call('GET', key)
  if holder and holder ~= id then return holder end
  redis.call('SET', key, id, 'PX', ttl_ms)
  return nil
end
-- Concurrency limits (conveyor.broker.controls): drop expired slots of `key`, then move blocked jobs
-- ("<length of source> <source><message>", from the list `blocked`) back to the head of their list
-- while slots are free.
local function unblock(key, blocked, to, now, wake_prefix, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local released = 0
  while redis.call('ZCARD', key) + released < to do
    local entry = redis.call('RPOP', blocked)
    if not entry then break end
    local len, rest = string.match(entry, '^(%d+) (.*)$')
    if len then
      local source = string.sub(rest, 1, tonumber(len))
      redis.call('RPUSH', source, string.sub(rest, tonumber(len) + 1))
      wake(wake_prefix, source, cap)
      released = released + 1
    end
  end
  return released
end

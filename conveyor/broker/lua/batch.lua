-- Batches' shared functions (conveyor.broker.batches puts this file, after helpers.lua, in front of each
-- batch script): record a member's end once, find a batch's completion, push its callbacks once.
-- KEYS: none of its own.
-- ARGV: none of its own.
-- Keys from data: `batch` and `jobs` (a batch's hash and its members' hash: the caller's KEYS, or those of
-- a parent batch, `prefix .. id` with the id its child's `parent` field names: a finished child counts in
-- its parent in the same step), `list` (a callback's queue list, from the batch's `cb:<event>` field, which
-- conveyor wrote from kombu's own layout when the callback was declared).
--
-- A batch hash: description, properties (JSON), created_at, parent (an id or ''), sealed (0/1: a
-- jobs() block ended), opens (jobs() blocks still open), cancelled (0/1), finished_at; the counters
-- total, pending, retrying, succeeded, discarded, dead, children; `cb:<event>` (cjson [list, envelope])
-- and `fired:<event>` (when that callback was pushed: at most once). Its members' hash: a job id, or
-- `b:<id>` for a child batch, -> p pending, r retrying (failed, a retry is on its way), s succeeded,
-- x discarded, d dead. A member's state moves only forward (p/r -> s/x/d; d -> s/x when a dead job
-- sent again ends), so an execution that is delivered again or duplicated changes nothing twice.
local COUNTER = {p = 'pending', r = 'retrying', s = 'succeeded', x = 'discarded', d = 'dead'}

local function touch(batch, ttl)
  local jobs = batch .. ':jobs'
  redis.call('EXPIRE', batch, ttl)
  redis.call('EXPIRE', jobs, ttl)
end

-- Push the callback declared for `event`, once ever per batch.
local function fire(batch, event, now, wake_prefix, cap)
  local target = redis.call('HGET', batch, 'cb:' .. event)
  if not target then return 0 end
  if redis.call('HSETNX', batch, 'fired:' .. event, now) == 0 then return 0 end
  target = cjson.decode(target)
  local list = target[1]
  redis.call('LPUSH', list, target[2])
  wake(wake_prefix, list, cap)
  return 1
end

-- Move `member` to `outcome`; true when it ended now (it was pending or retrying, or dead and sent again).
local function end_member(batch, member, outcome, now, wake_prefix, cap)
  local jobs = batch .. ':jobs'
  local state = redis.call('HGET', jobs, member)
  if not state or state == 's' or state == 'x' or state == outcome then return false end
  if outcome == 'r' then
    if state == 'p' then
      redis.call('HSET', jobs, member, 'r')
      redis.call('HINCRBY', batch, 'retrying', 1)
    end
    return false
  end
  redis.call('HSET', jobs, member, outcome)
  if state == 'd' then
    redis.call('HINCRBY', batch, 'dead', -1)
  else
    redis.call('HINCRBY', batch, 'pending', -1)
    if state == 'r' then redis.call('HINCRBY', batch, 'retrying', -1) end
  end
  redis.call('HINCRBY', batch, COUNTER[outcome], 1)
  if outcome ~= 's' then fire(batch, 'discard', now, wake_prefix, cap) end
  return true
end

-- A batch is complete when sealed, no jobs() block is open and nothing is pending: then `finish` (once),
-- `success` (once, if nothing was discarded or dead and it was not cancelled), and its end counts in its
-- parent, which may complete in turn.
local function settle(prefix, id, now, ttl, wake_prefix, cap)
  while id and id ~= '' do
    local batch = prefix .. id
    local f = redis.call('HMGET', batch, 'sealed', 'opens', 'pending', 'finished_at', 'dead', 'discarded',
      'cancelled', 'parent')
    if f[1] ~= '1' or tonumber(f[2] or 0) > 0 or tonumber(f[3] or 0) > 0 then return end
    touch(batch, ttl)
    if not f[4] then
      redis.call('HSET', batch, 'finished_at', now)
      fire(batch, 'finish', now, wake_prefix, cap)
    end
    local failed = tonumber(f[5] or 0) + tonumber(f[6] or 0) > 0
    if not failed and f[7] ~= '1' then fire(batch, 'success', now, wake_prefix, cap) end
    local parent = f[8]
    if not parent or parent == '' then return end
    if not end_member(prefix .. parent, 'b:' .. id, failed and 'd' or 's', now, wake_prefix, cap) then return end
    id = parent
  end
end

-- Batches' shared functions (conveyor.broker.batches puts this file, after helpers.lua, in front of each
-- batch script): record a member's end once, find a batch's completion, push its callbacks once.
-- KEYS: none of its own.
-- ARGV: none of its own.
-- Keys from data: `batch`, `jobs` and `pending` (a batch's hash, its ended members' hash and its pending
-- set: the caller's KEYS, or those of a parent batch, `prefix .. id` with the id its child's `parent`
-- field names: a finished child counts in its parent in the same step), `list` (a callback's queue list,
-- from the batch's `cb:<event>` field, which conveyor wrote from kombu's own layout when it was declared).
--
-- A batch hash: description, properties (JSON), created_at, parent (an id or ''), sealed (0/1: a
-- jobs() block ended), opens (jobs() blocks still open), cancelled (0/1), finished_at; the counters
-- total, pending (retrying included), retrying, discarded, dead, children (succeeded is what remains:
-- total - pending - discarded - dead); `cb:<event>` (cjson [list, envelope]) and `fired:<event>` (when
-- that callback was pushed: at most once). Its pending set: the members registered and not ended (a
-- job id, or `b:<id>` for a child batch). Its members' hash: `_` (so that it exists, with its TTL, from
-- the start) and each member that failed once or ended -> r retrying (failed, a retry is on its way), s
-- succeeded, x discarded, d dead. A member leaves the pending set once (SREM says whether it was there)
-- and its state moves only forward (d -> s/x when a dead job sent again ends), so an execution that is
-- delivered again or duplicated changes nothing twice. The common end, pending -> succeeded, is SREM +
-- HSET + HINCRBY. Ends do not refresh the TTL (registrations, blocks and the finish do).
local COUNTER = {x = 'discarded', d = 'dead'}

local function touch(batch, ttl)
  local jobs, pending = batch .. ':jobs', batch .. ':pending'
  redis.call('EXPIRE', batch, ttl)
  redis.call('EXPIRE', jobs, ttl)
  redis.call('EXPIRE', pending, ttl)
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

-- Move `member` to `outcome`; true when it ended now (it was pending, or dead and sent again), with the
-- batch's pending count after it. `r` (a retry is on its way) is not an end: it is counted once.
local function end_member(batch, member, outcome, now, wake_prefix, cap)
  local jobs, pending = batch .. ':jobs', batch .. ':pending'
  if outcome == 'r' then
    if redis.call('SISMEMBER', pending, member) == 1 and redis.call('HSETNX', jobs, member, 'r') == 1 then
      redis.call('HINCRBY', batch, 'retrying', 1)
    end
    return false
  end
  local left
  if redis.call('SREM', pending, member) == 1 then
    if redis.call('HSET', jobs, member, outcome) == 0 then  -- it had a state already: retrying
      redis.call('HINCRBY', batch, 'retrying', -1)
    end
    left = redis.call('HINCRBY', batch, 'pending', -1)
  else
    if outcome == 'd' or redis.call('HGET', jobs, member) ~= 'd' then return false end  -- unknown or ended
    redis.call('HSET', jobs, member, outcome)
    redis.call('HINCRBY', batch, 'dead', -1)
    left = tonumber(redis.call('HGET', batch, 'pending') or 0)
  end
  if outcome ~= 's' then
    redis.call('HINCRBY', batch, COUNTER[outcome], 1)
    fire(batch, 'discard', now, wake_prefix, cap)
  end
  return true, left
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
    -- In its parent a child is dead if a job of it was discarded or died, discarded if it was cancelled.
    local outcome = failed and 'd' or (f[7] == '1' and 'x' or 's')
    local ended, left = end_member(prefix .. parent, 'b:' .. id, outcome, now, wake_prefix, cap)
    if not ended or left > 0 then return end
    id = parent
  end
end

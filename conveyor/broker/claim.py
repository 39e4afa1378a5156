"""What a claim accepts: the claim script, and its mirror in Python for messages read otherwise.

The claim script takes a message from the first non-empty queue list, checks it is a kombu
envelope, and records it as unacknowledged and held by its owner (``conveyor.broker.owners``)
in one atomic step; ``parse_envelope`` applies the same checks to an entry read by ``RPOP``
(``basic_get``) so that a message one accepts, the other does too.

Example::

    payload = parse_envelope(raw_entry, "default")   # ValueError if it is not a kombu message
"""

from __future__ import annotations

import hashlib
from typing import Any

from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from conveyor.broker.scripts import LUA_HELPERS

__all__ = ["CLAIM", "CLAIM_SHA", "NOT_A_MESSAGE", "discarded_over_limit", "parse_envelope"]

NOT_A_MESSAGE = "not a kombu message (a JSON object with a body and a properties.delivery_tag string)"

# Take the first message of the queue keys (KEYS[6..], in fetch order) and record it as
# unacknowledged as kombu's QoS.append does (unacked hash + index) and as held by this owner
# (claim record + held set, conveyor.broker.owners), atomically. A value that is not a kombu
# envelope is returned with a third element and not recorded (it is buried). An owner whose
# heartbeat has expired claims nothing ({'', '', 'dead'}): what it took could be recovered
# from it before it beats again. A message whose throttle window is full goes to the scheduled
# set, one whose concurrency limit is reached to the limit's blocked list (conveyor.broker.controls),
# and the script looks at the next one (up to 100 set aside per call). A message whose control
# header names a key outside its prefix ({source, item, 'forged', why}) is returned to be buried.
# KEYS: unacked, unacked_index, claims, held, heartbeat, queues...
# ARGV: now, owner, wake prefix, scheduled set, a random number in [0, 1) (throttle jitter),
#       limits set, limits' sizes, paused queues, '1' if every queue is consumed without acks.
CLAIM = (
    LUA_HELPERS
    + """
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
      local due = tonumber(oldest[2]) + period * (1 + 0.1 * tonumber(ARGV[5]))
      redis.call('ZADD', ARGV[4], due, cjson.encode({key = source, message = item, wake = ARGV[3] .. queue_of(source),
        reason = 'throttled'}))
      return 'throttled'
    end
  end
  local limit = headers['conveyor_limit']
  if type(limit) == 'table' then
    local to = tonumber(limit['to']) or 1
    redis.call('SADD', ARGV[6], limit['key'])
    redis.call('HSET', ARGV[7], limit['key'], to)
    redis.call('ZREMRANGEBYSCORE', limit['key'], '-inf', now)
    if not redis.call('ZSCORE', limit['key'], id) and redis.call('ZCARD', limit['key']) >= to then
      if limit['discard'] == true then return 'discard' end
      redis.call('LPUSH', limit['key'] .. ':blocked', #source .. ' ' .. source .. item)
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

local owned = ARGV[2] ~= ''  -- '' : super fetch turned off (conveyor_super_fetch = False)
if owned and redis.call('EXISTS', KEYS[5]) == 0 then return {'', '', 'dead'} end
local stopped = {}  -- queues an operator paused (conveyor.broker.queue_state): not taken from
if redis.call('SCARD', ARGV[8]) > 0 then
  for _, name in ipairs(redis.call('SMEMBERS', ARGV[8])) do stopped[name] = true end
end
local i, set_aside = 6, 0
while i <= #KEYS do
  local item = nil
  if not stopped[queue_of(KEYS[i])] then item = redis.call('RPOP', KEYS[i]) end
  if not item then
    i = i + 1
  else
    -- Everything is checked before anything is written: an error after the RPOP would lose the item
    -- (a script is not rolled back), so anything unexpected is returned to be buried instead.
    local ok, message = pcall(cjson.decode, item)
    local properties = ok and type(message) == 'table' and message['properties']
    local tag = type(properties) == 'table' and properties['delivery_tag']
    local delivery = type(properties) == 'table' and properties['delivery_info']
    if delivery == nil then delivery = {} end
    if type(tag) ~= 'string' or tag == '' or type(message['body']) ~= 'string' or type(delivery) ~= 'table'
        or (delivery['exchange'] ~= nil and type(delivery['exchange']) ~= 'string')
        or (delivery['routing_key'] ~= nil and type(delivery['routing_key']) ~= 'string') then
      return {KEYS[i], item, 'bad'}
    end
    -- A consumer that acknowledges nothing (no_ack: Celery's control replies) takes it as it is.
    if ARGV[9] == '1' then return {KEYS[i], item, 'ok', tag} end
    local verdict, headers = 'run', message['headers']
    if type(headers) == 'table' and (headers['conveyor_limit'] or headers['conveyor_throttle']) then
      local id, why = headers['id'], forged(headers)
      if why then return {KEYS[i], item, 'forged', why} end
      if type(id) ~= 'string' then id = tag end
      verdict = control(headers, KEYS[i], item, id)
    end
    if verdict == 'discard' then return {KEYS[i], item, 'discarded'} end
    if verdict == 'run' then
      -- A message missing its routing goes back to the queue it came from (the key without its priority suffix).
      redis.call('ZADD', KEYS[2], now, tag)
      redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(delivery['exchange'] or '') .. ','
        .. cjson.encode(delivery['routing_key'] or queue_of(KEYS[i])) .. ']')
      if owned then
        redis.call('HSET', KEYS[3], tag, ARGV[2] .. ' ' .. #item .. ' ' .. KEYS[i])
        redis.call('SADD', KEYS[4], tag)
      end
      return {KEYS[i], item, 'ok', tag}
    end
    set_aside = set_aside + 1
    if set_aside >= 100 then return false end
  end
end
return false
"""
)


CLAIM_SHA = hashlib.sha1(CLAIM.encode()).hexdigest()


def discarded_over_limit(item: bytes | str) -> str:
    """The log line for a job the claim script dropped: over a concurrency limit with on_conflict="discard"."""
    try:
        headers = loads(bytes_to_str(item)).get("headers") or {}
        limit = headers.get("conveyor_limit") or {}
        return (f"{headers.get('task')} (Job ID: {headers.get('id')}) discarded: {limit.get('to')} already running "
                f"for {limit.get('key')} (limits_concurrency on_conflict='discard')")  # fmt: skip
    except (ValueError, AttributeError):
        return "a job over its concurrency limit was discarded"


def parse_envelope(item: bytes | str, queue: str = "") -> dict[str, Any]:
    """The kombu envelope in a Redis list entry, its routing completed; ValueError if it is not one.

    The same checks as the claim script's (a message one accepts, the other must too): a string
    body, a non-empty string delivery tag, string exchange and routing key if given. Missing
    routing is filled in (exchange "", routing key ``queue``): kombu and Celery index both.
    """
    payload = loads(bytes_to_str(item))
    properties = payload.get("properties") if isinstance(payload, dict) else None
    tag = properties.get("delivery_tag") if isinstance(properties, dict) else None
    if (
        not isinstance(properties, dict)
        or not isinstance(payload.get("body"), str)
        or not tag
        or not isinstance(tag, str)
    ):
        raise ValueError(NOT_A_MESSAGE)
    info = properties.get("delivery_info")
    if info is None or isinstance(info, list):  # the claim script reads a JSON array as a table without keys
        info = {}
    if not isinstance(info, dict):
        raise ValueError("properties.delivery_info is not an object")
    for key, default in (("exchange", ""), ("routing_key", queue)):
        if key not in info:
            info[key] = default
        elif not isinstance(info[key], str):
            raise ValueError(f"properties.delivery_info.{key} is not a string")
    properties["delivery_info"] = info
    return payload  # type: ignore[no-any-return]

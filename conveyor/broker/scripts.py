"""Running conveyor's Lua scripts by their SHA1, and the helpers they share.

``EVALSHA`` sends 40 bytes instead of the script's text on every acknowledgement; a Redis
that does not know the script yet (restarted, flushed) gets it once with ``EVAL``, which
also caches it there.

Example::

    run(client, _ACK, keys=[...], args=[tag, owner])
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import redis

__all__ = ["LUA_HELPERS", "lua", "run"]

_LUA_DIR = Path(__file__).parent / "lua"


@cache
def lua(name: str) -> str:
    """The text of ``conveyor/broker/lua/<name>.lua`` (its header names its KEYS and ARGV), for ``run``.

    Example::

        run(client, lua("purge_queue"), keys=["default", "default\x06\x163"], args=[])
    """
    return (_LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


# Shared by the scripts that read a claim record or requeue a message (conveyor.broker.owners,
# conveyor.broker.acks). A claim is "<owner> <length of the message> <source list>"; the unacked
# value the claim script wrote is "[" .. message .. "," .. exchange .. "," .. routing key .. "]",
# so the message is its first <length> bytes after the bracket, byte for byte as it was sent.
LUA_HELPERS = """
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
  return (string.gsub(source, '\\6\\22.*$', ''))
end
local function wake(wake_prefix, source, cap)
  local queue = queue_of(source)
  redis.call('LPUSH', wake_prefix .. queue, 1)
  redis.call('LTRIM', wake_prefix .. queue, 0, cap - 1)
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
-- ("<length of source> <source><message>") back to the head of their list while slots are free.
local function unblock(key, to, now, wake_prefix, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local released = 0
  while redis.call('ZCARD', key) + released < to do
    local entry = redis.call('RPOP', key .. ':blocked')
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
"""

_SHAS: dict[str, str] = {}


def run(client: Any, script: str, keys: list[str], args: list[Any]) -> Any:
    """The script's reply; loaded into Redis on first use (or after Redis forgot it)."""
    sha = _SHAS.get(script)
    if sha is None:
        sha = _SHAS[script] = hashlib.sha1(script.encode()).hexdigest()
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        return client.eval(script, len(keys), *keys, *args)

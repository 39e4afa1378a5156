"""What a claim accepts: the claim script, and its mirror in Python for messages read otherwise.

The claim script takes a message from the first non-empty queue list, checks it is a kombu
envelope, and records it as unacknowledged and held by its owner (``conveyor.broker.owners``)
in one atomic step; ``parse_envelope`` applies the same checks to an entry read by ``RPOP``
(``basic_get``) so that a message one accepts, the other does too.

Example::

    payload = parse_envelope(raw_entry, "default")   # ValueError if it is not a kombu message
"""

from __future__ import annotations

from typing import Any

from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

__all__ = ["CLAIM", "parse_envelope"]

# Take the first message of the queue keys (KEYS[6..], in fetch order) and record it as
# unacknowledged as kombu's QoS.append does (unacked hash + index) and as held by this owner
# (claim record + held set, conveyor.broker.owners), atomically. A value that is not a kombu
# envelope is returned with a third element and not recorded (it is buried). An owner whose
# heartbeat has expired claims nothing ({'', '', 'dead'}): what it took could be recovered
# from it before it beats again.
# KEYS: unacked, unacked_index, claims, held, heartbeat, queues... ARGV: now, owner.
CLAIM = """
local owned = ARGV[2] ~= ''  -- '' : super fetch turned off (conveyor_super_fetch = False)
if owned and redis.call('EXISTS', KEYS[5]) == 0 then return {'', '', 'dead'} end
for i = 6, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item then
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
    -- A message missing its routing goes back to the queue it came from (the key without its priority suffix).
    local queue = (string.gsub(KEYS[i], '\\6\\22.*$', ''))
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(delivery['exchange'] or '') .. ','
      .. cjson.encode(delivery['routing_key'] or queue) .. ']')
    if owned then
      redis.call('HSET', KEYS[3], tag, ARGV[2] .. ' ' .. #item .. ' ' .. KEYS[i])
      redis.call('SADD', KEYS[4], tag)
    end
    return {KEYS[i], item, 'ok', tag}
  end
end
return false
"""


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
        raise ValueError("not a kombu message (a JSON object with a body and a properties.delivery_tag string)")
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

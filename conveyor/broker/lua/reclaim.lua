-- After a Sentinel promotion, make a claim this owner made on the old master true on the new one
-- (conveyor.broker.fetch.reliable_fetch, SentinelChannel). The old master takes writes until the
-- clients follow the promotion: a claim made there meanwhile vanished with it (the message is still
-- queued on the new master: it would run twice), and so did an acknowledgement (the message is still
-- held there: it would stay claimed). Idempotent: sent again, it changes nothing.
-- KEYS: 1 unacked, 2 unacked_index, 3 claims, 4 held (this owner's), 5 the list it was claimed from.
-- ARGV: 1 delivery tag, 2 the message as claimed (byte for byte), 3 owner, 4 '1' if this owner
--       acknowledged it already, 5 now.
-- Returns 'held' (the claim is there), 'acked' (its acknowledgement was made again), 'claimed' (taken
-- out of its queue again and held), 'removed' (taken out of its queue: it ran and was acknowledged),
-- 'done' (acknowledged, and the new master has the acknowledgement) or 'gone' (not acknowledged,
-- neither held by this owner nor queued: another worker took it, or it was handed back).
local tag, item = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', KEYS[4], tag) == 1 then
  if ARGV[4] ~= '1' then return 'held' end
  redis.call('SREM', KEYS[4], tag)
  redis.call('HDEL', KEYS[1], tag)
  redis.call('ZREM', KEYS[2], tag)
  redis.call('HDEL', KEYS[3], tag)
  return 'acked'
end
if redis.call('LREM', KEYS[5], 1, item) == 0 then
  if ARGV[4] == '1' then return 'done' end
  return 'gone'
end
if ARGV[4] == '1' then return 'removed' end
-- Recorded as the claim script records it.
local delivery = cjson.decode(item)['properties']['delivery_info'] or {}
record_claim(KEYS, tag, item, delivery, KEYS[5], ARGV[3], tonumber(ARGV[5]))
return 'claimed'

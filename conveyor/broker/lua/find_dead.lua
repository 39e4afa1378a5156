-- The registered owners whose heartbeat key has expired (conveyor.broker.fetch.owners): Redis' own
-- expiry decides, so the workers' clocks do not have to agree.
-- KEYS[2] is the scan gate. A beat (ARGV[2] > 0) scans only if it can set it for ARGV[2] ms: one worker
-- of a fleet scans per interval, not every worker at every beat (each scan reads every owner's
-- heartbeat: N workers cost N² EXISTS an interval). It also holds the recovery grace ('grace …', for a
-- heartbeat TTL): Redis was away (restarted, failed over) and heartbeats may have expired for that
-- reason alone; live workers beat again within it, and nobody is found dead meanwhile.
-- KEYS: 1 the owners (sorted set), 2 the scan gate and recovery grace.
-- ARGV: 1 heartbeat prefix, 2 the gate's time (ms; 0: scan now, unless in the grace).
-- Keys from data: `heartbeat` (the heartbeat key of an owner listed in KEYS[1]).
if tonumber(ARGV[2]) > 0 then
  if not redis.call('SET', KEYS[2], 'scan', 'NX', 'PX', ARGV[2]) then return {} end  -- the grace, or scanned
elseif string.sub(redis.call('GET', KEYS[2]) or '', 1, 5) == 'grace' then
  return {}
end
local dead = {}
for _, owner in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local heartbeat = ARGV[1] .. owner
  if redis.call('EXISTS', heartbeat) == 0 then table.insert(dead, owner) end
end
return dead

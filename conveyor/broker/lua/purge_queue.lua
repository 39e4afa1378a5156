-- Delete every waiting job of one queue: its priority lists (conveyor.broker.views.queue_state.purge).
-- KEYS: 1… the queue's priority lists (kombu's layout: name, name\6\22<n>…).
-- ARGV: none.
-- Returns {jobs deleted, keys left alone}. A key that is not a list is never deleted: a queue name
-- that turned out to be another structure (a sorted set, a hash) is counted and kept, not lost.
local deleted, kept = 0, 0
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind == 'list' then
    deleted = deleted + redis.call('LLEN', KEYS[i])
    redis.call('DEL', KEYS[i])
  elseif kind ~= 'none' then
    kept = kept + 1
  end
end
return {deleted, kept}

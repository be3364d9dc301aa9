-- cancel: a queued job ends 'cancelled' at once. For a running job the
-- request is stored (its process learns it from its next report) and a kill
-- deadline is set for a process that does not stop by itself; asking again
-- changes neither.
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  grace ms before the process is killed
-- ARGV[3]  ttl of a succeeded job (s)
-- ARGV[4]  ttl of a failed or cancelled job (s)
-- Returns: {1, 'cancelled'} when this call ended the job (the caller takes
-- its report, take-report-2.lua) | {2, 'requested'} | {0, current state (''
-- if gone)}
--- @include "includes/now"
--- @include "includes/terminal"
--- @include "includes/beat"
--- @include "includes/finish"

local state = redis.call('HGET', KEYS[1], 'state')
if not state or TERMINAL[state] then return { 0, state or '' } end
local now = now_ms()
if state == 'queued' then
  finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], 'cancelled',
    { 'reason', 'cancelled' }, ARGV[3], ARGV[4], false, now, KEYS[6])
  return { 1, 'cancelled' }
end
if redis.call('HSETNX', KEYS[1], 'cancelRequestedAt', now) == 1 then
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[2]), ARGV[1])
  -- Its process learns of it at its next beat (includes/beat), as at its next report.
  local beat = redis.call('GET', beat_key(KEYS[1]))
  if beat then redis.call('SET', beat_key(KEYS[1]), beat .. ':cancel', 'KEEPTTL') end
end
return { 2, 'requested' }

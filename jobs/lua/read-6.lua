-- read: one job, in one round trip: its fields, its results, its place in
-- the queue, and Redis' clock. A job whose lease has expired is recorded as
-- lost first, so nobody is shown a stale 'running'.
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  'all' (every result) | 'auto' (every result once the job has
--          ended, only the last one while it runs)
-- ARGV[3]  ttl of a succeeded job (s)
-- ARGV[4]  ttl of a failed or cancelled job (s)
-- ARGV[5]  the most results to return, from the first (0: no limit)
-- ARGV[6]  how many of the log's last lines to return (0: none)
-- Returns: {now} when the job does not exist, else
-- {now, fields (flat: name, value, …), results, 0-based queue position or -1,
--  number of results, the log's last lines, number of log lines kept,
--  1 when this read recorded the job lost, else 0}
--- @include "includes/now"
--- @include "includes/terminal"
--- @include "includes/expire-lease"

local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { now } end
local lost = 0
if not TERMINAL[state] then
  if expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[3], ARGV[4], now, KEYS[6]) then lost = 1 end
end
local fields = redis.call('HGETALL', KEYS[1])
state = redis.call('HGET', KEYS[1], 'state')
local results
local limit = tonumber(ARGV[5])
if ARGV[2] == 'all' or TERMINAL[state] then
  results = redis.call('LRANGE', KEYS[2], 0, limit > 0 and limit - 1 or -1)
else
  results = redis.call('LRANGE', KEYS[2], -1, -1)
end
local position = -1
if state == 'queued' then
  position = redis.call('LPOS', KEYS[4], ARGV[1]) or -1
end
local log = KEYS[1] .. ':log'
local tail = {}
if tonumber(ARGV[6]) > 0 then tail = redis.call('LRANGE', log, -tonumber(ARGV[6]), -1) end
return { now, fields, results, position, redis.call('LLEN', KEYS[2]), tail, redis.call('LLEN', log), lost }

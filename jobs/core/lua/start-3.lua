-- start: the job's process marks it running, and its lease now counts from
-- this moment.
--
-- KEYS[1]  job      hash
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[3]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  pid
-- ARGV[3]  host
-- ARGV[4]  lease ms
-- ARGV[5]  the attempt the process was started for ('' for whichever is
--          current): refused when the job is on another (a process slow to
--          start, whose attempt was recorded never-started and retried)
-- Returns: {1, ''}, or {0, current state ('' if gone)} when the job may not
-- start (cancelled, lost, already running, on another attempt).
--- @include "includes/now"
--- @include "includes/index"

local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' then return { 0, state or '' } end
if ARGV[5] ~= '' and (redis.call('HGET', KEYS[1], 'attempt') or '1') ~= ARGV[5] then return { 0, state } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'state', 'running', 'pid', ARGV[2], 'host', ARGV[3], 'startedAt', now, 'updatedAt', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
index_move(KEYS[3], KEYS[1], ARGV[1], 'queued', 'running')
return { 1, '' }

-- start: the job's process marks it running, and its lease now counts from
-- this moment: the leases index and its beat key (includes/beat), which its
-- heartbeats renew. The record's leaseMs is the lease its process keeps.
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
-- Returns: {1, what its process reads of the record as started (flat: name,
-- value, … of STARTED that it has)}, or
-- {0, current state ('' if gone)} when the job may not start (cancelled,
-- lost, already running, on another attempt).
--- @include "includes/now"
--- @include "includes/index"
--- @include "includes/beat"

local STARTED = { 'type', 'params', 'state', 'done', 'total', 'status', 'user', 'submitter', 'timeoutMs', 'ttlOk', 'ttlFail',
  'createdAt', 'startedAt', 'pid', 'host', 'uploads', 'retryOf', 'attempt', 'maxAttempts', 'retryOn', 'attempts', 'leaseMs',
  'slurmJobId', 'slurmState', 'slurmReason' }
local values = redis.call('HMGET', KEYS[1], unpack(STARTED))
local f = {}
for i, name in ipairs(STARTED) do f[name] = values[i] or nil end
if f.state ~= 'queued' then return { 0, f.state or '' } end
local attempt = f.attempt or '1'
if ARGV[5] ~= '' and attempt ~= ARGV[5] then return { 0, f.state } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'state', 'running', 'pid', ARGV[2], 'host', ARGV[3], 'startedAt', now, 'updatedAt', now, 'leaseMs', ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
beat_set(KEYS[1], attempt, ARGV[4])
index_move(KEYS[3], KEYS[1], ARGV[1], 'queued', 'running', { f.type, f.createdAt })
f.state, f.pid, f.host, f.startedAt, f.leaseMs = 'running', ARGV[2], ARGV[3], now, ARGV[4]
local started = {}
for _, name in ipairs(STARTED) do
  if f[name] then
    started[#started + 1] = name
    started[#started + 1] = f[name]
  end
end
return { 1, started }

-- report: the job's process reports progress (done and new results) or only
-- that it is alive, and renews its lease. Fenced: refused unless the job is
-- running and its lease has not expired (an expired lease is recorded as
-- lost first, so a process that was stopped past its lease cannot carry on;
-- that end waits for its report, includes/finish await_report).
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  lease ms
-- ARGV[3]  done ('' for a heartbeat)
-- ARGV[4]  ttl of a succeeded job (s)
-- ARGV[5]  ttl of a failed or cancelled job (s)
-- ARGV[6]  total ('' when unchanged)
-- ARGV[7]  status: a short line saying what the job is doing ('' when unchanged)
-- ARGV[8]  how many results the process had reported before these values ('' when
--          not counted): a report that is sent again after a lost connection
--          (ioredis resends a command whose reply it did not get) appends only
--          the values the results do not hold yet
-- ARGV[9]  '1': a lease that has expired is renewed all the same, unless the
--          job was recorded lost meanwhile: Redis refused this process's
--          renewals (out of memory), and every instance waits a lease after
--          a refused write before it records a job lost (store/core.ts)
-- ARGV[10] the most results the job may keep (0: no limit)
-- ARGV[11] the most bytes its results may take, counted as the values' lengths
--          in the job's resultBytes field (0: no limit)
-- ARGV[12] the attempt the process runs ('' for whichever is current): refused
--          when the job is on another (it was recorded lost and retried)
-- ARGV[13..] values to append to the results (each a JSON text)
-- Returns: {1, 'ok' | 'cancel' | 'full'} ('cancel': a cancel has been
-- requested; 'full': the values would pass ARGV[10] or ARGV[11]: those that
-- fit were appended, the rest were not, and the results stay within both), or
-- {0, current state ('' if gone)} when refused.
--- @include "includes/now"
--- @include "includes/expire-lease"

local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' then return { 0, state or '' } end
if ARGV[12] ~= '' and (redis.call('HGET', KEYS[1], 'attempt') or '1') ~= ARGV[12] then return { 0, state } end
local now = now_ms()
if ARGV[9] ~= '1' then
  local expired, recorded = expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[4], ARGV[5], now, KEYS[6])
  if expired then
    -- An end waits for its server's report (includes/finish); a retry (queued again) is not an end.
    return { 0, recorded }
  end
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[1], 'updatedAt', now)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'done', ARGV[3]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'total', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[7]) end
if #ARGV > 12 then
  local kept = redis.call('LLEN', KEYS[2])
  local skip = 0
  if ARGV[8] ~= '' then
    skip = math.max(0, kept - tonumber(ARGV[8]))
  end
  local first = 13 + skip
  if first <= #ARGV then
    -- The values that fit within both bounds are appended; the rest are not.
    local maxCount = tonumber(ARGV[10])
    local maxBytes = tonumber(ARGV[11])
    local bytes = tonumber(redis.call('HGET', KEYS[1], 'resultBytes') or '0')
    local added = 0
    local last = first - 1
    for i = first, #ARGV do
      if maxCount > 0 and kept + i - first + 1 > maxCount then break end
      if maxBytes > 0 and bytes + added + #ARGV[i] > maxBytes then break end
      added = added + #ARGV[i]
      last = i
    end
    if last >= first then
      redis.call('RPUSH', KEYS[2], unpack(ARGV, first, last))
      redis.call('HINCRBY', KEYS[1], 'resultBytes', added)
    end
    if last < #ARGV then return { 1, 'full' } end
  end
end
if redis.call('HEXISTS', KEYS[1], 'cancelRequestedAt') == 1 then return { 1, 'cancel' } end
return { 1, 'ok' }

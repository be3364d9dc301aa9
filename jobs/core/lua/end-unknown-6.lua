-- end-unknown: ends a queued job whose type no live instance of the
-- deployment knows ('failed', reason 'unknown-type'): a claim passed over it
-- (claim-5.lua), and the caller has just read every live instance's types.
-- Such a record was not written by sidejob, or by an instance that is gone;
-- its type must never pick what runs. A job younger than ARGV[4] ms is left
-- waiting: an instance that knows its type may have taken its submit before
-- its first heartbeat.
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  ttl of a succeeded job (s), for records without their own
-- ARGV[3]  ttl of a failed job (s), for records without their own
-- ARGV[4]  how long a job waits before it may be ended so (ms)
-- ARGV[5 ..]  every type a live instance knows
-- Returns: 1 when this call ended the job (the caller takes its report,
-- take-report-2.lua), else 0: not queued any more, of a known type, or too
-- young.
--- @include "includes/now"
--- @include "includes/finish"

local fields = redis.call('HMGET', KEYS[1], 'state', 'type', 'createdAt')
if fields[1] ~= 'queued' then return 0 end
for i = 5, #ARGV do
  if fields[2] == ARGV[i] then return 0 end
end
local now = now_ms()
if fields[3] and tonumber(fields[3]) and tonumber(fields[3]) > now - tonumber(ARGV[4]) then return 0 end
finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], 'failed', { 'reason', 'unknown-type' },
  ARGV[2], ARGV[3], false, now, KEYS[6])
return 1

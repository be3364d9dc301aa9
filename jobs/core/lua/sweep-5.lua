-- sweep: records every job whose lease has expired as lost, oldest lease
-- first, at most ARGV[3] at a time (a job its type retries goes back to the
-- queue instead, includes/requeue; a running job whose beat key is still
-- there has not expired: its score in the leases index moves up to the beat
-- key's expiry, includes/expire-lease); and lists the ends whose report has
-- waited more than ARGV[4] ms (the server that started the process is gone,
-- or a reply was lost: see includes/finish, await_report), for the caller
-- to take; and the jobs whose cancel grace has run out, as due-kills-1.lua
-- lists them. Cheap when there is nothing to do: three range queries.
--
-- KEYS[4] is the job key prefix, not a key: each job's keys are built from
-- it and an id taken from the lease index (the partition's hash tag, so the
-- same Redis Cluster slot). The keys are one partition's (jobs/core/partitions.ts).
--
-- KEYS[1]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[2]  queue    list
-- KEYS[3]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[4]  job key prefix ("P:{tag}:job:")
-- KEYS[5]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  ttl of a succeeded job (s)
-- ARGV[2]  ttl of a failed or cancelled job (s)
-- ARGV[3]  limit
-- ARGV[4]  how long an end waits for the instance that should take its report (ms)
-- Returns: {lost, waiting, requeued, kills}: lost, the ids this call recorded lost;
-- waiting, the ids of ends whose report has waited longer than ARGV[4] (at
-- most ARGV[3]). The caller takes the report of each (take-report-2.lua).
-- requeued: the ids whose lease had expired and that went back to the queue
-- for another attempt (the caller reports each retry). kills: the jobs whose
-- cancel grace has run out (at most 100): their processes are to be killed.
--- @include "includes/now"
--- @include "includes/expire-lease"

local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 1, 'LIMIT', 0, tonumber(ARGV[3]))
local lost, requeued = {}, {}
for _, id in ipairs(ids) do
  local job = KEYS[4] .. id
  local expired, recorded = expire_lease(job, job .. ':results', KEYS[1], KEYS[2], KEYS[3], id, ARGV[1], ARGV[2], now, KEYS[5])
  if expired and recorded == 'queued' then
    requeued[#requeued + 1] = id
  elseif expired then
    lost[#lost + 1] = id
  elseif recorded then
    -- Its process beats (includes/expire-lease): the index's score catches up with its beat key.
    redis.call('ZADD', KEYS[1], recorded, id)
  end
end
local waiting = redis.call('ZRANGEBYSCORE', KEYS[5] .. 'unreported', '-inf', now - tonumber(ARGV[4]), 'LIMIT', 0, tonumber(ARGV[3]))
local kills = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
return { lost, waiting, requeued, kills }

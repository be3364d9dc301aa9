-- expire_lease(...): if the job's lease has expired, records it lost (failed,
-- with the reason below; 'cancelled' if a cancel was pending; queued again
-- when its type retries it, includes/requeue) and returns true and the state
-- recorded ('queued' when requeued). A lease left behind by a job that has
-- already ended is dropped. Otherwise returns false and the lease's expiry
-- (ms, a number; nil when it has none).
--
-- A running job's lease is two keys (includes/beat): the leases index's
-- score, which start and a renewal after refused writes set, and its beat
-- key, whose TTL every beat and report renews (one command, no script).
-- The score is a time before which the lease cannot have run out: when it
-- has passed, the beat key says whether the lease has (gone) or not (then
-- the sweep moves the score up to the beat key's expiry, and looks again
-- only when that could have come).
--- @include "terminal"
--- @include "beat"
--- @include "finish"

-- The reason codes of a lost job: a claimed job whose process never marked
-- it running, and a running job whose process stopped reporting.
local LOST_STARTING = 'never-started'
local LOST_RUNNING = 'lost'

-- lease_expiry(...): when the job's lease runs out (ms), counting its beat
-- key once the index's score has passed; nil when it has no lease. Writes
-- nothing: the sweep moves the score up (sweep-5.lua).
local function lease_expiry(job, leases, id, now)
  local score = redis.call('ZSCORE', leases, id)
  if not score then return nil end
  score = tonumber(score)
  if score >= now then return score end
  local beat = redis.call('PTTL', beat_key(job))
  if beat > 0 then return now + beat end
  return score
end

local function expire_lease(job, results, leases, queue, kills, id, ttl_ok, ttl_fail, now, ix)
  local lease = lease_expiry(job, leases, id, now)
  if not lease or lease >= now then return false, lease end
  local state = redis.call('HGET', job, 'state')
  if not state or TERMINAL[state] then
    redis.call('ZREM', leases, id)
    return false
  end
  local reason = LOST_RUNNING
  if state == 'queued' then reason = LOST_STARTING end
  return true, finish(job, results, leases, queue, kills, id, 'failed', { 'reason', reason }, ttl_ok, ttl_fail, true, now, ix)
end

-- expire_lease(...): if the job's lease has expired, records it lost (failed,
-- with the reason below; 'cancelled' if a cancel was pending; queued again
-- when its type retries it, includes/requeue) and returns true and the state
-- recorded ('queued' when requeued). A lease left behind by a job that has
-- already ended is dropped. Otherwise returns false and the lease's expiry
-- (ms; nil when it has none).
--- @include "terminal"
--- @include "finish"

-- The reason codes of a lost job: a claimed job whose process never marked
-- it running, and a running job whose process stopped reporting.
local LOST_STARTING = 'never-started'
local LOST_RUNNING = 'lost'

local function expire_lease(job, results, leases, queue, kills, id, ttl_ok, ttl_fail, now, ix)
  local lease = redis.call('ZSCORE', leases, id)
  if not lease or tonumber(lease) >= now then return false, lease end
  local state = redis.call('HGET', job, 'state')
  if not state or TERMINAL[state] then
    redis.call('ZREM', leases, id)
    return false
  end
  local reason = LOST_RUNNING
  if state == 'queued' then reason = LOST_STARTING end
  return true, finish(job, results, leases, queue, kills, id, 'failed', { 'reason', reason }, ttl_ok, ttl_fail, true, now, ix)
end

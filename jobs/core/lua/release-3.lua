-- release: gives back a claim whose process could not be started for want
-- of a resource that comes back (EMFILE, ENFILE: no file descriptor free; a
-- place among the deployment's SLURM_MAX_SUBMITTED Slurm jobs).
-- The job goes back to the head of the queue (and of its submitter's list,
-- includes/turns), unclaimed, and is taken again
-- by the next instance with a free slot. A job that is no longer a queued
-- job claimed by this owner (cancelled, lost, started meanwhile) is left as
-- it is. ARGV[3] '1': the claim's answer never reached its owner, so a
-- submit the claim marked counted (claim-5.lua) was not: the mark goes, and
-- whoever sees the job next counts it.
--
-- KEYS[1]  job      hash
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[3]  queue    list of waiting ids
-- ARGV[1]  id
-- ARGV[2]  owner    the instance that claimed it
-- ARGV[3]  '1' when the claim was not answered, else ''
-- Returns: 1 when released, else 0.
--- @include "includes/turns"

local fields = redis.call('HMGET', KEYS[1], 'state', 'owner')
if fields[1] ~= 'queued' or fields[2] ~= ARGV[2] or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local claimed_by = turns_claimed(KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
turns_unclaim(KEYS[1], ARGV[1], claimed_by)
redis.call('HDEL', KEYS[1], 'owner', 'claimedAt')
redis.call('LPUSH', KEYS[3], ARGV[1])
turns_add(KEYS[1], ARGV[1], true)
if ARGV[3] == '1' and redis.call('HGET', KEYS[1], 'submitted') == 'claim:' .. ARGV[2] then
  redis.call('HDEL', KEYS[1], 'submitted')
end
return 1

-- slurm: records what Slurm says of a job's Slurm job (server/launchers/slurm.ts):
-- its Slurm job id once sbatch answered, then its state and reason as squeue
-- reads them. While the job waits in the cluster's queue (claimed, not yet
-- started by its runner) the instance that submitted it renews its start
-- lease here, as a running job's runner renews its own: a job that waits
-- for Slurm's resources for an hour is not lost, and one whose instance
-- died is (its lease runs out; the Slurm job's runner, when it starts, is
-- refused by start-3.lua). So is a running job's while Slurm has it
-- suspended (its runner is stopped with it, and cannot renew it). Once the job has ended (its runner recorded
-- the end, then left Slurm's queue) only the Slurm state and reason of
-- that same Slurm job are written: how the scheduler saw it end
-- (COMPLETED, FAILED, …). Nothing is written on another attempt.
--
-- KEYS[1]  job      hash
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- ARGV[1]  id
-- ARGV[2]  the attempt the Slurm job runs
-- ARGV[3]  the Slurm job id
-- ARGV[4]  its Slurm state (PENDING, RUNNING, …)
-- ARGV[5]  Slurm's reason ('' for none)
-- ARGV[6]  lease ms: the job's lease is renewed for this long ('' : not renewed; given for a pending or suspended Slurm job)
-- Returns: the job's state ('' if gone), or 'other' when it is on another attempt.
--- @include "includes/now"
--- @include "includes/terminal"

local fields = redis.call('HMGET', KEYS[1], 'state', 'attempt')
local state = fields[1]
if not state then return '' end
if (fields[2] or '1') ~= ARGV[2] then return 'other' end
if TERMINAL[state] then
  if redis.call('HGET', KEYS[1], 'slurmJobId') == ARGV[3] then
    redis.call('HSET', KEYS[1], 'slurmState', ARGV[4], 'slurmReason', ARGV[5])
  end
  return state
end
redis.call('HSET', KEYS[1], 'slurmJobId', ARGV[3], 'slurmState', ARGV[4], 'slurmReason', ARGV[5])
if (state == 'queued' or state == 'running') and ARGV[6] ~= '' and redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[6]), ARGV[1])
end
return state

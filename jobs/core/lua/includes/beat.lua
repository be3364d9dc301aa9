-- A running job's beat key, <job>:beat: a string whose TTL is its lease
-- (includes/expire-lease), renewed by its process with one command per
-- heartbeat (GETEX <key> PX <lease ms>: store/transitions.ts, beat) and by
-- each report. Its value, "<attempt>:<lease ms>", and ":cancel" once a
-- cancel is requested, tell the beating process whether it still runs its
-- attempt and whether to stop. start writes it, finish and requeue delete
-- it: a process whose beat finds none sends a whole report, which tells it
-- why (lost, ended) or writes it again.
local function beat_key(job)
  return job .. ':beat'
end

-- The beat key of a process that runs attempt `attempt` of a job, its lease `lease_ms` long from now.
local function beat_set(job, attempt, lease_ms)
  redis.call('SET', beat_key(job), attempt .. ':' .. lease_ms, 'PX', lease_ms)
end

--- @include "index"
--- @include "turns"
--- @include "beat"
--- @include "requeue"

-- Each end is reported (logged and counted, server/job-events.ts) exactly
-- once. Every end waits in <ix>unreported (id -> when it ended, ms) until one
-- instance takes its report (take-report-2.lua, which tells a retaking
-- instance that it has it already): the server whose call made the job
-- terminal takes it at once, the server that started a job's process when
-- it sees the exit (a process counts nothing); failing both (a reply lost,
-- a server gone), a sweep after REPORT_WAIT_MS.
local function await_report(ix, id, now)
  redis.call('ZADD', ix .. 'unreported', now, id)
end

-- finish(...): ends a job that is not yet terminal: sets the verdict, drops it
-- from every index and gives each of its keys a TTL. fields: a flat list of
-- extra fields (reason, error, exitCode, …). With honour_cancel, a process
-- that died after a cancel was requested ends 'cancelled' (reason
-- 'cancel-killed'), not 'failed'; its exit facts are kept.
-- The TTL is the one stored on the record at create (the job type's
-- retention), else ttl_ok / ttl_fail. Every key of the job gets it: the
-- record, its results, its logs and its files. Its uploads (named from the
-- record's key, so they share its hash tag; the uploads' fields are listed on
-- the record) are kept only as long as they may be needed: a failed job's
-- get its TTL (an operator's retry copies them), a succeeded or cancelled
-- job's are deleted at once (nothing reads them any more).
-- The job moves to its end state's set of the jobs list's index (ix: see
-- includes/index), and the per-minute counts and durations count it. Its end
-- waits for its report (await_report).
-- A job about to be recorded failed goes back to the queue instead when its
-- type's retry policy allows another attempt (includes/requeue): then it
-- returns 'queued', and nothing ends.
-- Returns the state recorded, or 'queued' when the job was requeued.
-- What finish reads of the record, in one HMGET (finish_read): a caller that
-- needs some of it first reads it so and passes it on.
local FINISH_FIELDS = { 'state', 'attempt', 'sq', 'owner', 'ttlOk', 'ttlFail', 'uploads', 'type', 'createdAt', 'startedAt',
  'cancelRequestedAt', 'reason', 'peakMemoryBytes', 'cpuMs' }

-- extra: more fields to read in the same HMGET (the caller's own).
local function finish_read(job, extra)
  local names = FINISH_FIELDS
  if extra then
    names = {}
    for _, name in ipairs(FINISH_FIELDS) do names[#names + 1] = name end
    for _, name in ipairs(extra) do names[#names + 1] = name end
  end
  local values = redis.call('HMGET', job, unpack(names))
  local f = {}
  for i, name in ipairs(names) do f[name] = values[i] or nil end
  return f
end

local function finish(job, results, leases, queue, kills, id, state, fields, ttl_ok, ttl_fail, honour_cancel, now, ix, f)
  f = f or finish_read(job)
  if honour_cancel and state == 'failed' and f.cancelRequestedAt then
    state = 'cancelled'
    local kept = { 'reason', 'cancel-killed' }
    for i = 1, #fields, 2 do
      if fields[i] ~= 'reason' and fields[i] ~= 'error' then kept[#kept + 1] = fields[i]; kept[#kept + 1] = fields[i + 1] end
    end
    fields = kept
  end
  if state == 'failed' and requeue(job, results, leases, queue, kills, id, fields, now, ix) then return 'queued' end
  local from = f.state
  -- The record as it ends: what it held, and the end's own fields over it.
  local ended = {}
  for name, value in pairs(f) do ended[name] = value end
  local set = { 'state', state, 'finishedAt', now, 'updatedAt', now }
  for i = 1, #fields, 2 do
    ended[fields[i]] = fields[i + 1]
    set[#set + 1] = fields[i]
    set[#set + 1] = fields[i + 1]
  end
  redis.call('HSET', job, unpack(set))
  -- Only a claimed job counted as its submitter's; only a waiting one (no owner) is in the queue and its submitter's list.
  if f.sq and f.owner then turns_unclaim(job, id, f.sq) end
  if from == 'queued' and not f.owner then turns_remove(job, id, f.sq) end
  redis.call('ZREM', leases, id)
  redis.call('DEL', beat_key(job))
  if from == 'queued' then redis.call('LREM', queue, 0, id) end
  if f.cancelRequestedAt then redis.call('ZREM', kills, id) end
  local ttl = f.ttlFail or ttl_fail
  if state == 'succeeded' then ttl = f.ttlOk or ttl_ok end
  redis.call('EXPIRE', job, ttl)
  redis.call('EXPIRE', results, ttl)
  -- The log and files, when the job has any (one EXISTS where three EXPIREs would find nothing).
  local extras = { job .. ':log', job .. ':fulllog', job .. ':files' }
  if redis.call('EXISTS', unpack(extras)) > 0 then
    for _, key in ipairs(extras) do redis.call('EXPIRE', key, ttl) end
  end
  if f.uploads then
    for field in string.gmatch(f.uploads, '[^,]+') do
      if state == 'failed' then
        redis.call('EXPIRE', job .. ':upload:' .. field, ttl)
      else
        redis.call('DEL', job .. ':upload:' .. field)
      end
    end
  end
  local set_key = index_move(ix, job, id, from, state, { f.type, f.createdAt })
  -- A quarter of the ends each check four times as many old entries (the id's last digit picks them).
  if tonumber(string.sub(id, -1), 16) % 4 == 0 then
    index_trim(set_key, string.sub(job, 1, #job - #id), now - tonumber(ttl) * 1000, 4 * INDEX_TRIM_CHECKS)
  end
  index_count(ix, job, state, ended.reason, now, ended)
  await_report(ix, id, now)
  return state
end

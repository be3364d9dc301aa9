--- @include "index"
--- @include "turns"
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
local function finish(job, results, leases, queue, kills, id, state, fields, ttl_ok, ttl_fail, honour_cancel, now, ix)
  if honour_cancel and state == 'failed' and redis.call('HEXISTS', job, 'cancelRequestedAt') == 1 then
    state = 'cancelled'
    local kept = { 'reason', 'cancel-killed' }
    for i = 1, #fields, 2 do
      if fields[i] ~= 'reason' and fields[i] ~= 'error' then kept[#kept + 1] = fields[i]; kept[#kept + 1] = fields[i + 1] end
    end
    fields = kept
  end
  if state == 'failed' and requeue(job, results, leases, queue, kills, id, fields, now, ix) then return 'queued' end
  local from = redis.call('HGET', job, 'state')
  local claimed_by = turns_claimed(job)
  redis.call('HSET', job, 'state', state, 'finishedAt', now, 'updatedAt', now)
  turns_unclaim(job, id, claimed_by)
  turns_remove(job, id)
  if #fields > 0 then redis.call('HSET', job, unpack(fields)) end
  redis.call('ZREM', leases, id)
  redis.call('LREM', queue, 0, id)
  redis.call('ZREM', kills, id)
  local own = redis.call('HMGET', job, 'ttlOk', 'ttlFail')
  local ttl = own[2] or ttl_fail
  if state == 'succeeded' then ttl = own[1] or ttl_ok end
  redis.call('EXPIRE', job, ttl)
  redis.call('EXPIRE', results, ttl)
  redis.call('EXPIRE', job .. ':log', ttl)
  redis.call('EXPIRE', job .. ':fulllog', ttl)
  redis.call('EXPIRE', job .. ':files', ttl)
  local uploads = redis.call('HGET', job, 'uploads')
  if uploads then
    for field in string.gmatch(uploads, '[^,]+') do
      if state == 'failed' then
        redis.call('EXPIRE', job .. ':upload:' .. field, ttl)
      else
        redis.call('DEL', job .. ':upload:' .. field)
      end
    end
  end
  local set = index_move(ix, job, id, from, state)
  index_trim(set, string.sub(job, 1, #job - #id), now - tonumber(ttl) * 1000, INDEX_TRIM_CHECKS)
  index_count(ix, job, state, redis.call('HGET', job, 'reason'), now)
  await_report(ix, id, now)
  return state
end

-- requeue(...): a job that is about to be recorded failed goes back to the
-- queue instead, when its type's retry policy (stored on the record at
-- create: maxAttempts, retryOn, retryBackoffMs) allows another attempt for
-- the reason it failed. Returns true when it requeued the job.
--
-- Retried: a job lost to the infrastructure (its process stopped reporting,
-- 'lost'; it never started, 'never-started'), and the reasons its type lists
-- in retryOn, while attempt < maxAttempts. Never: a job whose cancel was
-- requested, a cancelled one, one whose type no instance knows. A record
-- without maxAttempts (written before retries) is not retried.
--
-- The ended attempt is appended to the record's attempts (JSON: attempt,
-- reason, claimedAt, startedAt, endedAt, host, pid, exitCode, signal, error,
-- usage, and a Slurm job's id and how Slurm saw it end),
-- its process facts and results are cleared (the next attempt starts with
-- none; the log is kept, one attempt's lines after the other's), attempt
-- goes up by one, and the job waits at the head of its queue (it was
-- submitted before those behind it), not claimable before notBefore: now +
-- retryBackoffMs × 2^(attempts ended − 1). Its lease and kill deadline are
-- dropped; it moves to the queued set of the index, and to the head of its
-- submitter's list (includes/turns).
--- @include "index"
--- @include "turns"
--- @include "beat"

local RETRIED_ALWAYS = { ['lost'] = true, ['never-started'] = true }
local RETRIED_NEVER = { ['cancelled'] = true, ['cancel-killed'] = true, ['unknown-type'] = true }
-- The facts of one attempt: kept in attempts, then cleared from the record.
local ATTEMPT_FACTS = { 'claimedAt', 'startedAt', 'host', 'pid', 'exitCode', 'signal', 'error', 'peakMemoryBytes', 'cpuMs',
  'slurmJobId', 'slurmState' }
local TEXT_FACTS = { host = true, signal = true, error = true, slurmJobId = true, slurmState = true }
local ATTEMPT_CLEARED = { 'owner', 'claimedAt', 'startedAt', 'host', 'pid', 'exitCode', 'signal', 'error', 'detail',
  'reason', 'status', 'resultBytes', 'resultCount', 'cancelRequestedAt', 'peakMemoryBytes', 'cpuMs', 'limit',
  'slurmJobId', 'slurmState', 'slurmReason' }

-- A reason listed as '<reason>:once' (a type's resubmit: with a larger limit)
-- is retried after the first attempt only, whatever maxAttempts says;
-- 'timeout:once:<ms>' also gives the next attempt that time limit (the
-- record's timeoutMs, which its page states). Returns true, and that limit.
local function retryable(job, reason)
  if not reason or RETRIED_NEVER[reason] then return false end
  local f = redis.call('HMGET', job, 'attempt', 'maxAttempts', 'retryOn', 'cancelRequestedAt')
  local max = tonumber(f[2])
  if not max or f[4] then return false end
  local attempt = tonumber(f[1]) or 1
  for listed in string.gmatch(f[3] or '', '[^,]+') do
    local once, limit = string.match(listed, '^([%w-]+):once:?(%d*)$')
    if once == reason then return attempt == 1, tonumber(limit) end
  end
  if attempt >= max then return false end
  if RETRIED_ALWAYS[reason] then return true end
  for listed in string.gmatch(f[3] or '', '[^,]+') do
    if listed == reason then return true end
  end
  return false
end

-- fields: the end's fields as finish got them (reason, error, exitCode, …): they describe the attempt.
local function requeue(job, results, leases, queue, kills, id, fields, now, ix)
  local ended = {}
  for i = 1, #fields, 2 do ended[fields[i]] = fields[i + 1] end
  local again, resubmit_timeout = retryable(job, ended.reason)
  if not again then return false end
  local attempt = tonumber(redis.call('HGET', job, 'attempt')) or 1
  local entry = { attempt = attempt, reason = ended.reason, endedAt = now }
  local facts = redis.call('HMGET', job, unpack(ATTEMPT_FACTS))
  for i, name in ipairs(ATTEMPT_FACTS) do
    local value = ended[name] or facts[i]
    if value and value ~= '' then
      if TEXT_FACTS[name] then entry[name] = value else entry[name] = tonumber(value) end
    end
  end
  local attempts = cjson.decode(redis.call('HGET', job, 'attempts') or '[]')
  attempts[#attempts + 1] = entry
  local from = redis.call('HGET', job, 'state')
  local backoff = (tonumber(redis.call('HGET', job, 'retryBackoffMs')) or 0) * 2 ^ (#attempts - 1)
  local claimed_by = turns_claimed(job)
  redis.call('HDEL', job, unpack(ATTEMPT_CLEARED))
  redis.call('HSET', job, 'state', 'queued', 'attempt', attempt + 1, 'attempts', cjson.encode(attempts),
    'done', 0, 'updatedAt', now, 'notBefore', now + math.floor(backoff))
  turns_unclaim(job, id, claimed_by)
  turns_remove(job, id)
  redis.call('DEL', results, job .. ':files')
  redis.call('ZREM', leases, id)
  redis.call('DEL', beat_key(job))
  redis.call('ZREM', kills, id)
  redis.call('LREM', queue, 0, id)
  redis.call('LPUSH', queue, id)
  turns_add(job, id, true)
  if resubmit_timeout then redis.call('HSET', job, 'timeoutMs', resubmit_timeout) end
  -- The uploads are the next attempt's input: kept until the job ends (finish gives them its TTL).
  local uploads = redis.call('HGET', job, 'uploads')
  if uploads then
    for field in string.gmatch(uploads, '[^,]+') do redis.call('PERSIST', job .. ':upload:' .. field) end
  end
  index_move(ix, job, id, from, 'queued')
  return true
end

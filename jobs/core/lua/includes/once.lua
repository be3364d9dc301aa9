-- A submit key's record (an Idempotency-Key, or a form's submission token):
-- a hash, request fingerprint -> the id of the job that request created. The
-- create scripts read it before they create anything and write it in the
-- same step as the job, so a submit whose answer was lost either created
-- nothing, or created the job this record names.
--   scope 'key':  one request per key: another fingerprint is refused.
--   scope 'form': one job per fingerprint: other values are another job.
-- An entry whose job is gone (expired, deleted) is dropped: the key is free
-- again for that request. The record is kept at most ttl seconds from the
-- last job it recorded.

-- once_held(record, job, id, scope, fingerprint): the reply for a submit the
-- record already answers ({0, 'duplicate', id} or {0, 'key_reused'}), or nil
-- when the job may be created. job and id are the new job's record key and
-- id: the other jobs' keys are named the same way, in the same partition.
local function once_held(record, job, id, scope, fingerprint)
  if scope == '' then return nil end
  local base = string.sub(job, 1, #job - #id)
  local held = redis.call('HGETALL', record)
  local reused = false
  for i = 1, #held, 2 do
    if redis.call('EXISTS', base .. held[i + 1]) == 0 then
      redis.call('HDEL', record, held[i])
    elseif held[i] == fingerprint then
      return { 0, 'duplicate', held[i + 1] }
    else
      reused = true
    end
  end
  if reused and scope == 'key' then return { 0, 'key_reused' } end
  return nil
end

-- once_keep(record, scope, fingerprint, id, ttl): records the job just created.
local function once_keep(record, scope, fingerprint, id, ttl)
  if scope == '' then return end
  redis.call('HSET', record, fingerprint, id)
  redis.call('EXPIRE', record, ttl)
end

-- finish(...): ends a job that is not yet terminal: sets the verdict, drops it
-- from every index and gives each of its keys a TTL. fields: a flat list of
-- extra fields. With honour_cancel, a process that died after a cancel was
-- requested ends 'cancelled', not 'failed'.
-- Returns the state recorded.
local function finish(job, results, leases, queue, kills, id, state, fields, ttl_ok, ttl_fail, honour_cancel, now)
  if honour_cancel and state == 'failed' and redis.call('HEXISTS', job, 'cancelRequestedAt') == 1 then
    state = 'cancelled'
    local kept = { 'error', 'Cancelled: the process was stopped after the cancel request.' }
    for i = 1, #fields, 2 do
      if fields[i] ~= 'error' then kept[#kept + 1] = fields[i]; kept[#kept + 1] = fields[i + 1] end
    end
    fields = kept
  end
  redis.call('HSET', job, 'state', state, 'finishedAt', now, 'updatedAt', now)
  if #fields > 0 then redis.call('HSET', job, unpack(fields)) end
  redis.call('ZREM', leases, id)
  redis.call('LREM', queue, 0, id)
  redis.call('ZREM', kills, id)
  local ttl = ttl_fail
  if state == 'succeeded' then ttl = ttl_ok end
  redis.call('EXPIRE', job, ttl)
  redis.call('EXPIRE', results, ttl)
  return state
end

-- take_report(job, ix, id, taker, fresh): takes the report of a job's end
-- for the instance `taker` (includes/finish, await_report): out of
-- <ix>unreported, the record names its taker, and the submit is counted with
-- it when no instance had counted it (submitted-1.lua). An instance that
-- takes it again (its reply was lost) is told it is its own, unless `fresh`:
-- then only an end still waiting is taken (a finish that meets an end its
-- own instance has reported already, by another call, reports nothing); no
-- other instance is. Returns
-- 1 (taken), submit (1 when the taker counts the submit too) and what the
-- report says of the job (flat: name, value, … of REPORTED); or 0 when the
-- report is not the taker's (another has it, no end waits, or the record is
-- gone). known: the record as the caller read it in the same call, nothing
-- written since, with every field of TAKE_FIELDS (none read again).
local REPORTED = { 'type', 'params', 'state', 'reason', 'createdAt', 'startedAt', 'finishedAt', 'peakMemoryBytes', 'cpuMs' }
local TAKE_FIELDS = { 'reportedBy', 'reportSubmit', 'submitted', unpack(REPORTED) }

local function take_report(job, ix, id, taker, fresh, known)
  local f
  if known then
    f = {}
    for i, name in ipairs(TAKE_FIELDS) do f[i] = known[name] or false end
  else
    f = redis.call('HMGET', job, unpack(TAKE_FIELDS))
  end
  -- Every record has a state.
  local exists = f[6] ~= false
  local fields = {}
  for i, name in ipairs(REPORTED) do
    if f[i + 3] then
      fields[#fields + 1] = name
      fields[#fields + 1] = f[i + 3]
    end
  end
  if redis.call('ZREM', ix .. 'unreported', id) == 1 then
    if not exists then return 0 end
    -- Its submit is counted here when no one had counted it (submitted-1.lua).
    if f[3] then
      redis.call('HSET', job, 'reportedBy', taker, 'reportSubmit', 0)
      return 1, 0, fields
    end
    redis.call('HSET', job, 'reportedBy', taker, 'reportSubmit', 1, 'submitted', 'end')
    return 1, 1, fields
  end
  if not fresh and exists and f[1] == taker then return 1, tonumber(f[2]), fields end
  return 0
end

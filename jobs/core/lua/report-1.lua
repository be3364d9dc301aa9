-- report: the job's process reports progress (done and new results) or only
-- that it is alive, and renews its lease (its beat key, includes/beat; a
-- heartbeat between reports renews it alone, without this script). Fenced:
-- refused unless the job is running and its lease has not expired (an
-- expired lease is recorded as lost first, so a process that was stopped
-- past its lease cannot carry on; that end waits for its report,
-- includes/finish await_report). With ARGV[13], its last report also
-- records the job's end, as finish-6.lua does in mode 'job' (one script
-- where a report and a finish took two); not when its values would pass
-- the job's bounds ('full': then its process ends it results-limit).
--
-- KEYS[1]  job      hash; the partition's other keys are named from it
--                   (includes/partition): a report is the call a job sends
--                   most, and its keys were most of its bytes
-- ARGV[1]  id
-- ARGV[2]  lease ms
-- ARGV[3]  done ('' for a heartbeat)
-- ARGV[4]  ttl of a succeeded job (s)
-- ARGV[5]  ttl of a failed or cancelled job (s)
-- ARGV[6]  total ('' when unchanged)
-- ARGV[7]  status: a short line saying what the job is doing ('' when unchanged)
-- ARGV[8]  how many results the process had reported before these values ('' when
--          not counted): a report that is sent again after a lost connection
--          (ioredis resends a command whose reply it did not get) appends only
--          the values the results do not hold yet
-- ARGV[9]  '1': a lease that has expired is renewed all the same, unless the
--          job was recorded lost meanwhile: Redis refused this process's
--          renewals (out of memory), and every instance waits a lease after
--          a refused write before it records a job lost (store/core.ts);
--          '0': the process renewed its lease less than half a heartbeat
--          ago, so it cannot have run out: neither renewed nor checked
--          (the record's state and attempt still fence the report);
--          '': renewed
-- ARGV[10] the most results the job may keep (0: no limit)
-- ARGV[11] the most bytes its results may take, counted as the values' lengths
--          in the job's resultBytes field (0: no limit)
-- ARGV[12] the attempt the process runs ('' for whichever is current): refused
--          when the job is on another (it was recorded lost and retried)
-- ARGV[13] the end to record after this report ('' for none): succeeded,
--          failed or cancelled
-- ARGV[14] how many arguments of the end's fields follow (E, even)
-- ARGV[15 .. 14+E] the end's field, value pairs (reason, error, exitCode, usage…)
-- ARGV[15+E ..]    values to append to the results (each a JSON text)
-- Returns: {1, 'ok' | 'cancel' | 'full'} ('cancel': a cancel has been
-- requested; 'full': the values would pass ARGV[10] or ARGV[11]: those that
-- fit were appended, the rest were not, and the results stay within both;
-- nothing ended), {1, 'ended', state recorded ('queued' when a failure its
-- type retries sent it back to the queue; 'cancelled' for a job that
-- succeeded after a cancel was asked for, as its process records it when a
-- report says 'cancel')} with ARGV[13], or {0, current state ('' if gone)}
-- when refused.
--- @include "includes/now"
--- @include "includes/beat"
--- @include "includes/finish"
--- @include "includes/expire-lease"
--- @include "includes/partition"

local K = partition_keys(KEYS[1], ARGV[1])
local ending = ARGV[13] ~= ''
-- A report that ends the job reads in the same call what its finish reads (one HMGET).
local f
if ending then
  f = finish_read(KEYS[1], { 'resultBytes', 'resultCount' })
else
  local v = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'cancelRequestedAt', 'resultBytes', 'resultCount')
  f = { state = v[1] or nil, attempt = v[2] or nil, cancelRequestedAt = v[3] or nil, resultBytes = v[4] or nil, resultCount = v[5] or nil }
end
local state = f.state
if state ~= 'running' then return { 0, state or '' } end
local attempt = f.attempt or '1'
if ARGV[12] ~= '' and attempt ~= ARGV[12] then return { 0, state } end
local now = now_ms()
local beat = attempt .. ':' .. ARGV[2]
if f.cancelRequestedAt then beat = beat .. ':cancel' end
-- The lease: its beat key renewed if it is there (SET is the first write, which Redis refuses when it is out
-- of memory); a report that ends the job only checks it (PTTL), its end deletes it. A lease renewed less than
-- half a beat ago is left as it is.
if ARGV[9] == '1' then
  redis.call('SET', beat_key(KEYS[1]), beat, 'PX', ARGV[2])
  redis.call('ZADD', K.leases, now + tonumber(ARGV[2]), ARGV[1])
elseif ARGV[9] == '' and ((ending and redis.call('PTTL', beat_key(KEYS[1])) <= 0)
  or (not ending and not redis.call('SET', beat_key(KEYS[1]), beat, 'PX', ARGV[2], 'XX', 'GET'))) then
  -- No beat key: its lease is the index's (a start from before beat keys), or it has run out.
  local expired, recorded = expire_lease(KEYS[1], K.results, K.leases, K.queue, K.kills, ARGV[1], ARGV[4], ARGV[5], now, K.ix)
  if expired then
    -- An end waits for its server's report (includes/finish); a retry (queued again) is not an end.
    return { 0, recorded }
  end
  if not ending then redis.call('SET', beat_key(KEYS[1]), beat, 'PX', ARGV[2]) end
end
local fields = { 'updatedAt', now }
if ARGV[3] ~= '' then fields[#fields + 1] = 'done'; fields[#fields + 1] = ARGV[3] end
if ARGV[6] ~= '' then fields[#fields + 1] = 'total'; fields[#fields + 1] = ARGV[6] end
if ARGV[7] ~= '' then fields[#fields + 1] = 'status'; fields[#fields + 1] = ARGV[7] end
local reply = 'ok'
local values = 15 + tonumber(ARGV[14])
if values <= #ARGV then
  -- How many it holds: the record counts them (none without resultBytes; a record from before it counted them: the list's length).
  local kept = tonumber(f.resultCount) or (f.resultBytes and redis.call('LLEN', K.results)) or 0
  local skip = 0
  if ARGV[8] ~= '' then
    skip = math.max(0, kept - tonumber(ARGV[8]))
  end
  local first = values + skip
  if first <= #ARGV then
    -- The values that fit within both bounds are appended; the rest are not.
    local maxCount = tonumber(ARGV[10])
    local maxBytes = tonumber(ARGV[11])
    local bytes = tonumber(f.resultBytes or '0')
    local added = 0
    local last = first - 1
    for i = first, #ARGV do
      if maxCount > 0 and kept + i - first + 1 > maxCount then break end
      if maxBytes > 0 and bytes + added + #ARGV[i] > maxBytes then break end
      added = added + #ARGV[i]
      last = i
    end
    if last >= first then
      redis.call('RPUSH', K.results, unpack(ARGV, first, last))
      fields[#fields + 1] = 'resultBytes'
      fields[#fields + 1] = bytes + added
      fields[#fields + 1] = 'resultCount'
      fields[#fields + 1] = kept + last - first + 1
    end
    if last < #ARGV then reply = 'full' end
  end
end
if ending and reply ~= 'full' then
  -- The progress goes with the end's own fields, in its one HSET. A cancel asked for before this report ends
  -- a job that succeeded cancelled, as this report's reply would have told its process to record it.
  local state = ARGV[13]
  local cancelled = state == 'succeeded' and f.cancelRequestedAt
  if cancelled then
    state = 'cancelled'
    fields[#fields + 1] = 'reason'
    fields[#fields + 1] = 'cancelled'
  end
  for i = 15, 14 + tonumber(ARGV[14]), 2 do
    if not (cancelled and (ARGV[i] == 'reason' or ARGV[i] == 'error')) then
      fields[#fields + 1] = ARGV[i]
      fields[#fields + 1] = ARGV[i + 1]
    end
  end
  local recorded = finish(KEYS[1], K.results, K.leases, K.queue, K.kills, ARGV[1], state, fields, ARGV[4], ARGV[5], false, now, K.ix, f)
  return { 1, 'ended', recorded }
end
redis.call('HSET', KEYS[1], unpack(fields))
if reply == 'ok' and f.cancelRequestedAt then reply = 'cancel' end
return { 1, reply }

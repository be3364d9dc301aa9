-- finish: records a job's end: its verdict and fields, out of every index,
-- a TTL on both of its keys. A job that has ended never changes again.
--   mode 'job':   from the job's own process; fenced like report (the job is
--                 running and its lease has not expired). The process counts
--                 nothing: the server that started it takes the report of
--                 its end when it sees the exit (includes/finish,
--                 await_report).
--   mode 'exit':  the spawning server saw the process exit; a pending cancel
--                 turns 'failed' into 'cancelled'. When the lease had run out
--                 before, the job is recorded lost, as the sweep would have
--                 recorded it: whichever looks first, the end is the same.
--                 An end whose report waits (the job's own process recorded
--                 it) is the caller's to take (reply 2).
--   mode 'force': the server decides (a cancel of a queued job, the time limit).
-- A failure its type retries sends the job back to the queue instead
-- (includes/requeue). ARGV[6] fences by attempt: the process of an attempt
-- that was recorded lost and retried cannot end the next one.
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  state    succeeded | failed | cancelled
-- ARGV[3]  mode     job | exit | force
-- ARGV[4]  ttl of a succeeded job (s)
-- ARGV[5]  ttl of a failed or cancelled job (s)
-- ARGV[6]  the attempt this end is of ('' for whichever is current): refused
--          when the job's attempt is another
-- ARGV[7]  the caller's instance id, which takes the report of the end in
--          this call (replies 1 and 2: includes/report), or '' (it takes it
--          itself, take-report-2.lua)
-- ARGV[8..] field, value pairs (reason, error, exitCode, signal, detail)
-- Returns: {1, state recorded} when this call made the job terminal (mode
-- 'exit' or 'force': the caller takes its report, take-report-2.lua);
-- {3, state recorded} when it did in mode 'job' (its server reports it);
-- {2, state} (mode 'exit') when the job had ended and its report waits (the
-- caller takes it, unless a sweep does first); with ARGV[7], replies 1 and 2
-- are {1 or 2, state, taken, submit, report} when this call took the report
-- too (taken 1; submit and report as take-report-2.lua returns them), taken
-- 0 when another instance has it; {4, 'queued'} when the job went back to
-- the queue for another attempt (by this end, or by its lease found
-- expired): a retry, not an end; or {0, current state ('' if gone)} when
-- the job had already ended (and its end is someone else's to report), is
-- on another attempt, or (mode 'job') is not running or has lost its lease.
--- @include "includes/now"
--- @include "includes/terminal"
--- @include "includes/finish"
--- @include "includes/expire-lease"
--- @include "includes/report"

-- Reply 1 or 2, with the report taken by ARGV[7] when it is given.
local function ended(code, state)
  if ARGV[7] == '' then return { code, state } end
  local taken, submit, report = take_report(KEYS[1], KEYS[6], ARGV[1], ARGV[7], true)
  if taken == 1 then return { code, state, 1, submit, report } end
  return { code, state, 0 }
end

-- An exit's finish that takes a report reads what the take needs in the same HMGET (the job's own end is most often recorded already).
local taking = ARGV[3] == 'exit' and ARGV[7] ~= ''
local f = finish_read(KEYS[1], taking and TAKE_FIELDS or nil)
local state = f.state
-- Another attempt's end (fenced first: the exit of an attempt that was retried must not take the report of its
-- successor's end, which that attempt's own exit takes).
if state and ARGV[6] ~= '' and (f.attempt or '1') ~= ARGV[6] then return { 0, state } end
if not state or TERMINAL[state] then
  if state and ARGV[3] == 'exit' then
    if ARGV[7] ~= '' then
      -- Taken here when it waits (a finish whose reply was lost leaves it to a take: take-report-2.lua).
      local taken, submit, report = take_report(KEYS[1], KEYS[6], ARGV[1], ARGV[7], true, f)
      if taken == 1 then return { 2, state, 1, submit, report } end
    elseif redis.call('ZSCORE', KEYS[6] .. 'unreported', ARGV[1]) then
      return { 2, state }
    end
  end
  return { 0, state or '' }
end
local now = now_ms()
if ARGV[3] == 'job' and state ~= 'running' then return { 0, state } end
if ARGV[3] ~= 'force' then
  local expired, recorded = expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[4], ARGV[5], now, KEYS[6])
  if expired and recorded == 'queued' then return { 4, 'queued' } end
  if expired then
    -- Recorded lost by this call: a server's call takes its report, a process's waits for its server.
    if ARGV[3] == 'job' then return { 0, recorded } end
    return ended(1, recorded)
  end
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local recorded = finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], fields,
  ARGV[4], ARGV[5], ARGV[3] == 'exit', now, KEYS[6], f)
if recorded == 'queued' then return { 4, 'queued' } end
if ARGV[3] == 'job' then return { 3, recorded } end
return ended(1, recorded)

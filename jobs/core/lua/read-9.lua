-- read: one job, in one round trip: its fields, its results, its place in
-- the queue, its log's last lines, its lease, its files once it has ended,
-- and Redis' clock. A job whose lease has expired is recorded as lost first,
-- so nobody is shown a stale 'running'.
--
-- Every key of the job it reads is one of its KEYS: a connection with CLIENT
-- TRACKING on (server/job-cache.ts) is then told when any of them changes.
--
-- KEYS[1]  job      hash
-- KEYS[2]  results  list
-- KEYS[3]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[4]  queue    list
-- KEYS[5]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[6]  index key prefix ("P:{tag}:ix:"), see includes/index (not read:
--          only written, when this read records the job lost)
-- KEYS[7]  log      list of lines, oldest first
-- KEYS[8]  files    hash, file name -> content
-- KEYS[9]  beat     string, the running job's beat key (includes/beat): read
--          through KEYS[1], declared so that a tracking connection is told
--          of each beat (the page says when the job was last heard from)
-- ARGV[1]  id
-- ARGV[2]  'all' (every result) | 'auto' (every result once the job has
--          ended, only the last one while it runs)
-- ARGV[3]  ttl of a succeeded job (s)
-- ARGV[4]  ttl of a failed or cancelled job (s)
-- ARGV[5]  the most results to return, from the first (0: no limit)
-- ARGV[6]  how many of the log's last lines to return (0: none)
-- ARGV[7]  '1': list the files of a job that has ended (names and sizes)
-- ARGV[8]  '0': do not record a job whose lease has expired lost (Redis
--          refused writes a moment ago, so its process could not renew it)
-- ARGV[9]  the most bytes of results to return (their JSON texts), from the
--          first (0: no limit): the results stop before the one that would
--          pass it, but the first is always returned
-- Returns: {now} when the job does not exist, else
-- {now, fields (flat: name, value, …), results, 0-based queue position or -1,
--  number of results, the log's last lines, number of log lines kept,
--  lease expiry (ms) or -1, files (flat: name, size, … by name; empty unless
--  asked for and ended), 1 when this read recorded the job lost (the caller
--  takes its report, take-report-2.lua), 2 when it found its lease expired
--  and requeued it for another attempt (includes/requeue; the caller reports
--  the retry), else 0}
--- @include "includes/now"
--- @include "includes/terminal"
--- @include "includes/beat"
--- @include "includes/expire-lease"

local now = now_ms()
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return { now } end
local state
for i = 1, #fields, 2 do
  if fields[i] == 'state' then state = fields[i + 1] end
end
local lease = -1
local lost = 0
if not TERMINAL[state] and ARGV[8] == '0' then
  lease = lease_expiry(KEYS[1], KEYS[3], ARGV[1], now) or -1
elseif not TERMINAL[state] then
  local expired, expiry = expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[3], ARGV[4], now, KEYS[6])
  if expired then
    lost = 1
    if expiry == 'queued' then lost = 2 end
    fields = redis.call('HGETALL', KEYS[1])
    state = redis.call('HGET', KEYS[1], 'state')
  elseif expiry then
    lease = tonumber(expiry)
  end
end
local results
local limit = tonumber(ARGV[5])
local budget = tonumber(ARGV[9])
if (ARGV[2] == 'all' or TERMINAL[state]) and budget > 0 then
  -- A page at a time, so that no more than the budget (and one page) is read.
  results = {}
  local bytes = 0
  local start = 0
  local full = false
  while not full do
    local stop = start + 99
    if limit > 0 then stop = math.min(stop, limit - 1) end
    if stop < start then break end
    local page = redis.call('LRANGE', KEYS[2], start, stop)
    for _, value in ipairs(page) do
      bytes = bytes + #value
      if bytes > budget and #results > 0 then
        full = true
        break
      end
      results[#results + 1] = value
    end
    if #page < stop - start + 1 then break end
    start = stop + 1
  end
elseif ARGV[2] == 'all' or TERMINAL[state] then
  results = redis.call('LRANGE', KEYS[2], 0, limit > 0 and limit - 1 or -1)
else
  results = redis.call('LRANGE', KEYS[2], -1, -1)
end
local position = -1
if state == 'queued' then
  position = redis.call('LPOS', KEYS[4], ARGV[1]) or -1
end
local tail = {}
if tonumber(ARGV[6]) > 0 then tail = redis.call('LRANGE', KEYS[7], -tonumber(ARGV[6]), -1) end
local files = {}
if ARGV[7] == '1' and TERMINAL[state] then
  local names = redis.call('HKEYS', KEYS[8])
  table.sort(names)
  for _, name in ipairs(names) do
    files[#files + 1] = name
    files[#files + 1] = redis.call('HSTRLEN', KEYS[8], name)
  end
end
return { now, fields, results, position, redis.call('LLEN', KEYS[2]), tail, redis.call('LLEN', KEYS[7]), lease, files, lost }

-- claim: takes the oldest queued job of a type this instance has a free slot
-- for, and gives it a start lease (if its process never reports, the sweep
-- ends it). On the way it drops ids whose job is no longer queued
-- (cancelled, lost, expired), and passes over a job whose type the caller
-- does not know, returning its id: the caller ends it (end-unknown-6.lua)
-- once no live instance of the deployment knows its type. Its type must
-- never pick what runs; and an instance of another version (a rolling
-- upgrade, another JOB_TYPES_DIR) may know it.
--
-- Submitters take turns (includes/turns): the claim looks first at the
-- submitters whose last job was taken longest ago (SUBS of them), at the first HEAD
-- jobs of each, and takes the first it can: a person's 500 waiting jobs do
-- not hold up another person's one by more than one start per free slot.
-- A submitter at its limit of running jobs (JOB_MAX_RUNNING_PER_SUBMITTER:
-- the caller names them, counted over every partition) is passed over.
-- Then, for jobs no turn reached (no submitter: records from before turns;
-- or further back than SUBS or HEAD), the queue: one partition's list
-- (jobs/core/partitions.ts), first in first out, whose first SCAN ids are
-- looked at: a job further back waits until the head drains.
--
-- An empty queue answers at once (one LLEN). Before it scans, the index's queued sets (includes/index) say whether the
-- scan can find anything: a job of a free type, or an id the index does not
-- account for (a type no instance knows, a record written before the index,
-- an id left behind). When every waiting job is of a type with no free slot,
-- the claim costs a few ZCARDs, not a read of each waiting job. (A claimed
-- job stays in its queued set until it starts, so the sets can count more
-- than the list holds; then the scan is skipped until it starts, at most its
-- start lease.)
--
-- A job waiting for its next attempt (includes/requeue) is not taken before
-- its notBefore: the scan passes over it, as over a job of a busy type.
--
-- KEYS[4] is the job key prefix, not a key: a job's key is built from it and
-- an id taken from the queue. Every key of a partition shares its hash tag,
-- so that key is in the same Redis Cluster slot as the others.
--
-- KEYS[1]  queue    list of waiting ids
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[3]  kills    sorted set, id -> kill deadline (ms)
-- KEYS[4]  job key prefix ("P:{tag}:job:")
-- KEYS[5]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  lease ms
-- ARGV[2]  owner    the claiming instance's id
-- ARGV[3]  the submitters (their sq digests) at their limit of running jobs,
--          comma-separated ('' for none)
-- ARGV[4]  '1' when the caller has seen a job of a free type in this
--          partition's queued sets just before (then no check that one waits)
-- ARGV[5]  how many types follow with a free slot (F)
-- ARGV[6 .. 5+F]   the types with a free slot here
-- ARGV[6+F ..]     every other known type
-- Returns: {id, type, submit, attempt, sd, taken at, unknown…}, or false (nil) when nothing
-- was taken nor passed over for its type; id and type are '' when nothing
-- was taken. submit is 1
-- when this claim counts the job's submit (no instance did: the answer to its
-- create was lost; the 'submitted' field, see submitted-1.lua), else 0.
-- attempt: the attempt the claim is for (includes/requeue), '' when nothing
-- was taken. sd: the submitter whose turn it was ('' for none), and when
-- (ms): the caller takes that turn in the other partitions too. A job waiting for its retry's backoff (notBefore) is passed over.
-- unknown: the ids of queued jobs of a type the caller does not know (at most
-- UNKNOWN of them).
--- @include "includes/now"
--- @include "includes/turns"

local SCAN = 1000
local SUBS = 100
local HEAD = 20
local UNKNOWN = 20
local free, known, blocked = {}, {}, {}
local nfree = tonumber(ARGV[5])
for i = 6, #ARGV do
  known[ARGV[i]] = true
  if i < 6 + nfree then free[ARGV[i]] = true end
end
for sd in string.gmatch(ARGV[3], '[^,]+') do blocked[sd] = true end
-- Worth a scan: a job of a free type waits (the caller saw one, or one ZCARD finds the first free type has
-- one), or ids the sets do not account for. Every queued job is in the queue: an empty one has nothing to take.
local worth = ARGV[4] == '1'
local queued = 0
if not worth then
  queued = redis.call('LLEN', KEYS[1])
  if queued == 0 then return false end
end
if not worth then
  for t in pairs(free) do
    if redis.call('ZCARD', KEYS[5] .. t .. ':queued') > 0 then
      worth = true
      break
    end
  end
end
if not worth then
  local accounted = 0
  for t in pairs(known) do
    if not free[t] then accounted = accounted + redis.call('ZCARD', KEYS[5] .. t .. ':queued') end
  end
  if queued <= accounted then return false end
end

local unknown = {}
local function seen_unknown(id)
  for _, other in ipairs(unknown) do
    if other == id then return end
  end
  if #unknown < UNKNOWN then unknown[#unknown + 1] = id end
end

-- Takes a queued job: out of the queue and its submitter's list, its submitter's turn taken. left: how
-- many ids its submitter's list keeps after it, when the scan knows (0: none, and the submitter leaves the turns).
local function take(id, job, fields, left)
  local now = now_ms()
  redis.call('LREM', KEYS[1], 1, id)
  local sd = fields[5]
  local turn = sd ~= nil and sd ~= false
  if turn and left then
    redis.call('LREM', KEYS[5] .. 'sq:' .. sd, 0, id)
    if left == 0 then
      redis.call('ZREM', KEYS[5] .. 'turns', sd)
      redis.call('HDEL', KEYS[5] .. 'subnames', sd)
      turn = false
    end
  elseif turn then
    turns_remove(job, id, sd)
  end
  redis.call('HSET', job, 'owner', ARGV[2], 'claimedAt', now)
  if fields[3] then redis.call('HDEL', job, 'notBefore') end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
  if sd then
    if turn then redis.call('ZADD', KEYS[5] .. 'turns', 'XX', now, sd) end
    redis.call('HINCRBY', KEYS[5] .. 'subrun', sd, 1)
  end
  -- Its submit is counted by whoever marks it first (submitted-1.lua): usually its create's instance, already.
  local submit = 0
  if not fields[6] then submit = redis.call('HSETNX', job, 'submitted', 'claim:' .. ARGV[2]) end
  return { id, fields[2], submit, fields[4] or '1', sd or '', now, unpack(unknown) }
end

-- What a queued id is to this claim: 'gone' (no longer queued), 'unknown' (of a type it does not know), 'take', or 'wait'.
local function judge(fields)
  local state, type = fields[1], fields[2]
  if state ~= 'queued' then return 'gone' end
  if not type or not known[type] then return 'unknown' end
  if fields[5] and blocked[fields[5]] then return 'wait' end
  if free[type] and (not fields[3] or tonumber(fields[3]) <= now_ms()) then return 'take' end
  return 'wait'
end

-- The submitters' turns, oldest first.
for _, sd in ipairs(redis.call('ZRANGE', KEYS[5] .. 'turns', 0, SUBS - 1)) do
  if not blocked[sd] then
    local list = KEYS[5] .. 'sq:' .. sd
    local ids = redis.call('LRANGE', list, 0, HEAD - 1)
    -- What the list keeps (exact when it held fewer than HEAD).
    local kept = #ids
    for _, id in ipairs(ids) do
      local job = KEYS[4] .. id
      local fields = redis.call('HMGET', job, 'state', 'type', 'notBefore', 'attempt', 'sq', 'submitted')
      local verdict = judge(fields)
      if verdict == 'take' then
        local left = kept - 1
        if #ids == HEAD and left == 0 then left = nil end
        return take(id, job, fields, left)
      end
      if verdict == 'unknown' then seen_unknown(id) end
      if verdict == 'gone' then
        redis.call('LREM', list, 0, id)
        kept = kept - 1
      end
    end
    if kept == 0 and (#ids < HEAD or redis.call('LLEN', list) == 0) then
      redis.call('ZREM', KEYS[5] .. 'turns', sd)
      redis.call('HDEL', KEYS[5] .. 'subnames', sd)
    end
  end
end

-- The queue, first in first out: the jobs no turn reached.
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, SCAN - 1)) do
  local job = KEYS[4] .. id
  local fields = redis.call('HMGET', job, 'state', 'type', 'notBefore', 'attempt', 'sq', 'submitted')
  local verdict = judge(fields)
  if verdict == 'take' then return take(id, job, fields) end
  if verdict == 'unknown' then seen_unknown(id) end
  if verdict == 'gone' then redis.call('LREM', KEYS[1], 1, id) end
end
if #unknown == 0 then return false end
return { '', '', 0, '', '', 0, unpack(unknown) }

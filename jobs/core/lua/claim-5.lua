-- claim: takes the oldest queued job of a type this instance has a free slot
-- for, and gives it a start lease (if its process never reports, the sweep
-- ends it). On the way it drops ids whose job is no longer queued
-- (cancelled, lost, expired), and passes over a job whose type the caller
-- does not know, returning its id: the caller ends it (end-unknown-6.lua)
-- once no live instance of the deployment knows its type. Its type must
-- never pick what runs; and an instance of another version (a rolling
-- upgrade, another JOB_TYPES_DIR) may know it.
--
-- The queue is one partition's list (jobs/core/partitions.ts), first in first
-- out. A job waits while every job ahead of it is of a type with no free slot
-- here; the scan looks at the first SCAN ids only, so a job further back
-- waits until the head drains.
--
-- Before it scans, the index's queued sets (includes/index) say whether the
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
-- ARGV[3]  how many types follow with a free slot (F)
-- ARGV[4 .. 3+F]   the types with a free slot here
-- ARGV[4+F ..]     every other known type
-- Returns: {id, type, submit, attempt, unknown…}, or false (nil) when nothing
-- was taken nor passed over for its type; id and type are '' when nothing
-- was taken. submit is 1
-- when this claim counts the job's submit (no instance did: the answer to its
-- create was lost; the 'submitted' field, see submitted-1.lua), else 0.
-- attempt: the attempt the claim is for (includes/requeue), '' when nothing
-- was taken. A job waiting for its retry's backoff (notBefore) is passed over.
-- unknown: the ids of queued jobs of a type the caller does not know (at most
-- UNKNOWN of them).
--- @include "includes/now"

local SCAN = 1000
local UNKNOWN = 20
local free, known = {}, {}
local nfree = tonumber(ARGV[3])
for i = 4, #ARGV do
  known[ARGV[i]] = true
  if i < 4 + nfree then free[ARGV[i]] = true end
end
local accounted, worth = 0, false
for t in pairs(known) do
  local n = redis.call('ZCARD', KEYS[5] .. t .. ':queued')
  accounted = accounted + n
  if n > 0 and free[t] then worth = true end
end
if not worth and redis.call('LLEN', KEYS[1]) <= accounted then return false end

local ids = redis.call('LRANGE', KEYS[1], 0, SCAN - 1)
local unknown = {}
for _, id in ipairs(ids) do
  local job = KEYS[4] .. id
  local fields = redis.call('HMGET', job, 'state', 'type', 'notBefore', 'attempt')
  local state, type = fields[1], fields[2]
  if state ~= 'queued' then
    redis.call('LREM', KEYS[1], 1, id)
  elseif not type or not known[type] then
    if #unknown < UNKNOWN then unknown[#unknown + 1] = id end
  elseif free[type] and (not fields[3] or tonumber(fields[3]) <= now_ms()) then
    redis.call('LREM', KEYS[1], 1, id)
    local now = now_ms()
    redis.call('HSET', job, 'owner', ARGV[2], 'claimedAt', now)
    redis.call('HDEL', job, 'notBefore')
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    return { id, type, redis.call('HSETNX', job, 'submitted', 'claim:' .. ARGV[2]), fields[4] or '1', unpack(unknown) }
  end
end
if #unknown == 0 then return false end
return { '', '', 0, '', unpack(unknown) }

-- claim: takes the oldest queued job of a type this instance has a free slot
-- for, and gives it a start lease (if its process never reports, the sweep
-- ends it). On the way it drops ids whose job is no longer queued
-- (cancelled, lost, expired), and ends a job whose type no instance of this
-- deployment knows ('failed', reason 'unknown-type'): such a record was not
-- written by sidejob, and its type must never pick what runs.
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
-- ARGV[3]  ttl of a succeeded job (s), for records without their own
-- ARGV[4]  ttl of a failed job (s), for records without their own
-- ARGV[5]  how many types follow with a free slot (F)
-- ARGV[6 .. 5+F]   the types with a free slot here
-- ARGV[6+F ..]     every other known type
-- Returns: {id, type, submit, attempt, ended…}, or false (nil) when nothing
-- was taken nor ended; id and type are '' when nothing was taken. submit is 1
-- when this claim counts the job's submit (no instance did: the answer to its
-- create was lost; the 'submitted' field, see submitted-1.lua), else 0.
-- attempt: the attempt the claim is for (includes/requeue), '' when nothing
-- was taken. A job waiting for its retry's backoff (notBefore) is passed over.
-- ended: the ids of jobs this call ended (unknown type), each followed by its
-- submit flag (includes/finish count_submit): the caller reports each end.
--- @include "includes/now"
--- @include "includes/finish"

local SCAN = 1000
local free, known = {}, {}
local nfree = tonumber(ARGV[5])
for i = 6, #ARGV do
  known[ARGV[i]] = true
  if i < 6 + nfree then free[ARGV[i]] = true end
end
local accounted, worth = 0, false
for t in pairs(known) do
  local n = redis.call('ZCARD', KEYS[5] .. t .. ':queued')
  accounted = accounted + n
  if n > 0 and free[t] then worth = true end
end
if not worth and redis.call('LLEN', KEYS[1]) <= accounted then return false end

local ids = redis.call('LRANGE', KEYS[1], 0, SCAN - 1)
local ended = {}
for _, id in ipairs(ids) do
  local job = KEYS[4] .. id
  local fields = redis.call('HMGET', job, 'state', 'type', 'notBefore', 'attempt')
  local state, type = fields[1], fields[2]
  if state ~= 'queued' then
    redis.call('LREM', KEYS[1], 1, id)
  elseif not type or not known[type] then
    finish(job, job .. ':results', KEYS[2], KEYS[1], KEYS[3], id, 'failed', { 'reason', 'unknown-type' },
      ARGV[3], ARGV[4], false, now_ms(), KEYS[5])
    ended[#ended + 1] = id
    ended[#ended + 1] = count_submit(job)
  elseif free[type] and (not fields[3] or tonumber(fields[3]) <= now_ms()) then
    redis.call('LREM', KEYS[1], 1, id)
    local now = now_ms()
    redis.call('HSET', job, 'owner', ARGV[2], 'claimedAt', now)
    redis.call('HDEL', job, 'notBefore')
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    return { id, type, redis.call('HSETNX', job, 'submitted', 'claim'), fields[4] or '1', unpack(ended) }
  end
end
if #ended == 0 then return false end
return { '', '', 0, '', unpack(ended) }

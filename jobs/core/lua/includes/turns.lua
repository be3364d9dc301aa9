-- Fair turns between submitters (server/submitters.ts names who submitted a
-- job: a signed-in person, else the client's address). Each partition keeps,
-- under its index prefix ix (so in its Cluster slot):
--   <ix>sq:<sd>     list: a submitter's queued ids, oldest first; sd, a digest
--                   of who submitted, is the record's field sq
--   <ix>turns       sorted set: sd -> when its last job was taken (ms; 0 for
--                   none yet), for every submitter with a queued job
--   <ix>subrun      hash: sd -> its jobs claimed or running (a job counts
--                   while its record has an owner: claim sets it, release,
--                   requeue and finish end it)
--   <ix>subnames    hash: sd -> who, as /admin shows it
-- A claim (claim-5.lua) takes the submitter whose last job was taken
-- longest ago, and its oldest job: a person with 500 jobs waiting takes one
-- turn, then the next person. A submitter that joins comes first (0): a
-- person's one job waits for no one's backlog. The times are Redis' clock,
-- so partitions compare them (transitions.ts, claim, asks first the
-- partition whose next turn is oldest). Jobs with no sq (created before
-- turns existed) are taken first in, first out, as before.

-- The partition's index prefix, from a job's key: "P:{T}:job:<id>" -> "P:{T}:ix:".
local function turns_ix(job, id)
  return string.sub(job, 1, #job - #id - 4) .. 'ix:'
end

-- A submitter joins the turns (when it is not in them yet), with its name for /admin (its record's submitter).
local function turns_join(ix, sd, job, name)
  if redis.call('ZADD', ix .. 'turns', 'NX', 0, sd) == 1 then
    name = name or redis.call('HGET', job, 'submitter')
    if name then redis.call('HSET', ix .. 'subnames', sd, name) end
  end
end

-- A job joins its submitter's list: at its end (a new job), or at its head
-- (a claim given back, an attempt retried). sd and name: its record's sq
-- and submitter, when the caller has them.
local function turns_add(job, id, front, sd, name)
  sd = sd or redis.call('HGET', job, 'sq')
  if not sd then return end
  local ix = turns_ix(job, id)
  if front then
    redis.call('LPUSH', ix .. 'sq:' .. sd, id)
  else
    redis.call('RPUSH', ix .. 'sq:' .. sd, id)
  end
  turns_join(ix, sd, job, name)
end

-- A job leaves its submitter's list (claimed, ended while waiting); a
-- submitter with none left leaves the turns. sd: its record's sq, when the
-- caller has it.
local function turns_remove(job, id, sd)
  sd = sd or redis.call('HGET', job, 'sq')
  if not sd then return end
  local ix = turns_ix(job, id)
  local list = ix .. 'sq:' .. sd
  redis.call('LREM', list, 0, id)
  if redis.call('LLEN', list) == 0 then
    redis.call('ZREM', ix .. 'turns', sd)
    redis.call('HDEL', ix .. 'subnames', sd)
  end
end

-- A claimed job stops counting for its submitter (release, requeue, finish):
-- only one whose record has an owner was counted. turns_claimed reads who
-- (before the owner is cleared), turns_unclaim counts it off: a script's
-- first write must stay the one Redis refuses when it is out of memory
-- (HSET), since a script that has written once is let finish.
local function turns_claimed(job)
  local f = redis.call('HMGET', job, 'sq', 'owner')
  if f[1] and f[2] then return f[1] end
  return nil
end

local function turns_unclaim(job, id, sd)
  if not sd then return end
  local ix = turns_ix(job, id)
  if redis.call('HINCRBY', ix .. 'subrun', sd, -1) <= 0 then redis.call('HDEL', ix .. 'subrun', sd) end
end

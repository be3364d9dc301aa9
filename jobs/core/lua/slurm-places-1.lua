-- slurm-places: the places of the Slurm jobs a deployment keeps submitted at
-- once (SLURM_MAX_SUBMITTED), over all its instances. An instance takes a
-- place before it runs sbatch for a job, renews its jobs' places with each
-- read of Slurm's queue, and gives a place back when its Slurm job has left
-- the queue (or sbatch failed). A place no instance renewed lapses: one whose
-- instance died without another tracking its Slurm job.
--
-- KEYS[1]  places   sorted set, id -> when its place lapses (ms)
-- ARGV[1]  'take' (one id: a place if one is free or it has one),
--          'renew' (every id given has a place: its Slurm job is in the queue)
--          or 'leave' (the ids give theirs back)
-- ARGV[2]  how long a place is held without renewal (ms)
-- ARGV[3]  the number of places (SLURM_MAX_SUBMITTED)
-- ARGV[4..] ids
-- Returns: take: 1 when the id has a place, else 0; renew and leave: the number of places taken now.
--- @include "includes/now"

local now = now_ms()
local until_ms = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
if ARGV[1] == 'take' then
  local id = ids[1]
  if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], until_ms, id)
    return 1
  end
  return 0
end
for _, id in ipairs(ids) do
  if ARGV[1] == 'renew' then redis.call('ZADD', KEYS[1], until_ms, id) else redis.call('ZREM', KEYS[1], id) end
end
return redis.call('ZCARD', KEYS[1])

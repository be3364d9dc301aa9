-- The jobs list's index: one sorted set per job type and state,
-- <ix><type>:<state>, id -> createdAt (ms). A job is in exactly one of them
-- at a time, so the index costs one entry per job; the list reads a page of
-- each set and merges them (newest first), and the counts per state and per
-- type are their sizes. ix is the index key prefix ("P:{tag}:ix:"), passed
-- to each script as a KEY: every set shares the hash tag of the jobs it holds.
--
-- An entry of a job that has ended stays until the job's keys have expired:
-- each time a job ends in a set, the oldest entries created more than that
-- set's retention ago are checked (INDEX_TRIM_CHECKS of them) and dropped
-- when their job is gone; the supervisors do the same every minute (trim),
-- and the list drops an entry whose job it finds gone. Whatever happens, an
-- entry older than its retention plus INDEX_HARD_MS (a week of time limit
-- and a day of waiting) is dropped.
local INDEX_HARD_MS = 8 * 86400000
local INDEX_TRIM_CHECKS = 10

local function index_set(ix, type, state)
  return ix .. (type or '') .. ':' .. state
end

-- Adds a new job (state queued) to the index. f: its type and createdAt when the caller has them ({type, createdAt}).
local function index_add(ix, job, id, state, f)
  f = f or redis.call('HMGET', job, 'type', 'createdAt')
  redis.call('ZADD', index_set(ix, f[1], state), tonumber(f[2]) or 0, id)
end

-- Moves a job from the set of its old state to that of its new one. f: its
-- type and createdAt when the caller has read them ({type, createdAt}).
local function index_move(ix, job, id, from, to, f)
  f = f or redis.call('HMGET', job, 'type', 'createdAt')
  if from then redis.call('ZREM', index_set(ix, f[1], from), id) end
  local set = index_set(ix, f[1], to)
  redis.call('ZADD', set, tonumber(f[2]) or 0, id)
  return set
end

-- Drops entries of jobs that have expired from a set of ended jobs: of the
-- entries created before horizon (now - the set's retention), the `checks`
-- oldest whose job key (base .. id) is gone. Returns how many it dropped.
local function index_trim(set, base, horizon, checks)
  local old = redis.call('ZRANGEBYSCORE', set, '-inf', horizon, 'LIMIT', 0, checks)
  -- Nothing older than the horizon: nothing older than the hard bound either.
  if #old == 0 then return 0 end
  local dropped = 0
  for _, other in ipairs(old) do
    if redis.call('EXISTS', base .. other) == 0 then
      redis.call('ZREM', set, other)
      dropped = dropped + 1
    end
  end
  redis.call('ZREMRANGEBYSCORE', set, '-inf', horizon - INDEX_HARD_MS)
  return dropped
end

-- Per-minute counts of ended jobs (<ix>m:<minute>: s, f, c, and l for lost
-- ones) kept two hours, and per-hour durations of jobs that ran, by type
-- (<ix>d:<type>:<hour>: bucket -> count, bucket b holding durations up to
-- 2^(b/4) ms) kept 25 hours. The keys take Redis' clock.
-- And what the jobs that ended with their usage measured used, by type and
-- hour (<ix>u:<type>:<hour>: m<b> -> count of peak memories up to 2^(b/4)
-- bytes, c<b> -> count of CPU times up to 2^(b/4) ms), kept 25 hours: the
-- p50 and p95 on /admin (store/operator.ts, usage). Counted here, in the
-- script that records the end, so each end is counted once whoever reports
-- it, and a day of them costs at most 25 small hashes per type.
local COUNTS_TTL_S = 7200
local DURATIONS_TTL_S = 90000
local ENDED_FIELD = { succeeded = 's', failed = 'f', cancelled = 'c' }

local function log_bucket(v)
  return math.ceil(math.log(math.max(1, v)) / math.log(2) * 4)
end

-- f: the record's type, startedAt, peakMemoryBytes and cpuMs as the end
-- leaves them, when the caller has them. A counts hash gets its TTL when it
-- is made (its first count is 1), not at each count.
local function index_count(ix, job, state, reason, now, f)
  local minute = ix .. 'm:' .. math.floor(now / 60000)
  if redis.call('HINCRBY', minute, ENDED_FIELD[state], 1) == 1 then redis.call('EXPIRE', minute, COUNTS_TTL_S) end
  if reason == 'lost' or reason == 'never-started' then
    if redis.call('HINCRBY', minute, 'l', 1) == 1 then redis.call('EXPIRE', minute, COUNTS_TTL_S) end
  end
  if not f then
    local v = redis.call('HMGET', job, 'type', 'startedAt', 'peakMemoryBytes', 'cpuMs')
    f = { type = v[1] or nil, startedAt = v[2] or nil, peakMemoryBytes = v[3] or nil, cpuMs = v[4] or nil }
  end
  local started = tonumber(f.startedAt)
  if started and f.type then
    local ms = math.max(1, now - started)
    local bucket = math.ceil(math.log(ms) / math.log(2) * 4)
    local hour = ix .. 'd:' .. f.type .. ':' .. math.floor(now / 3600000)
    if redis.call('HINCRBY', hour, bucket, 1) == 1 then redis.call('EXPIRE', hour, DURATIONS_TTL_S) end
  end
  local memory, cpu = tonumber(f.peakMemoryBytes), tonumber(f.cpuMs)
  if memory and cpu and f.type then
    local hour = ix .. 'u:' .. f.type .. ':' .. math.floor(now / 3600000)
    local m = redis.call('HINCRBY', hour, 'm' .. log_bucket(memory), 1)
    local c = redis.call('HINCRBY', hour, 'c' .. log_bucket(cpu), 1)
    if m == 1 or c == 1 then redis.call('EXPIRE', hour, DURATIONS_TTL_S) end
  end
end

-- A signed-in person's jobs ("my jobs"): one sorted set per person in each
-- partition, <ix>user:<key>, id -> createdAt, key a digest of the person's
-- name made by the caller. Written with the job, never moved: its entries of
-- jobs that have expired are dropped by whoever reads it and find them gone,
-- and past INDEX_HARD_MS by the person's next job.
local function user_add(ix, job, id, user, key, now)
  if user == '' then return end
  redis.call('HSET', job, 'user', user)
  local set = ix .. 'user:' .. key
  redis.call('ZADD', set, now, id)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now - INDEX_HARD_MS)
end

// The Lua scripts behind every change to a job. Each runs atomically in Redis,
// so a transition is checked and applied in one step: a job that has finished
// never changes again, whatever a late or stopped process writes.
//
// Keys are passed in, never built from user input. Every key shares one
// Redis Cluster hash tag ("{jobs}"), so the scripts that reach a job's keys
// from an index (claim, sweep) stay in one slot; they get the key prefix as
// their last KEY for that reason.
//
// Times come from Redis (TIME), so every instance and every job process, on
// any host, agrees on when a lease expires.

/** Shared helpers, prepended to each script that needs them. */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local TERMINAL = { succeeded = true, failed = true, cancelled = true }

-- Ends a job that is not yet terminal: sets the verdict, drops it from every
-- index and gives each of its keys a TTL. fields: a flat list of extra fields.
-- A process that died after a cancel was requested ends 'cancelled', not 'failed'.
local function finish(job, results, leases, queue, kills, id, state, fields, ttl_ok, ttl_fail, honour_cancel, now)
  if honour_cancel and state == 'failed' and redis.call('HEXISTS', job, 'cancelRequestedAt') == 1 then
    state = 'cancelled'
    local kept = { 'error', 'Cancelled: the process was stopped after the cancel request.' }
    for i = 1, #fields, 2 do
      if fields[i] ~= 'error' then kept[#kept + 1] = fields[i]; kept[#kept + 1] = fields[i + 1] end
    end
    fields = kept
  end
  redis.call('HSET', job, 'state', state, 'finishedAt', now, 'updatedAt', now)
  if #fields > 0 then redis.call('HSET', job, unpack(fields)) end
  redis.call('ZREM', leases, id)
  redis.call('LREM', queue, 0, id)
  redis.call('ZREM', kills, id)
  local ttl = ttl_fail
  if state == 'succeeded' then ttl = ttl_ok end
  redis.call('EXPIRE', job, ttl)
  redis.call('EXPIRE', results, ttl)
  return state
end

local LOST_RUNNING = 'lost: the job\\'s process stopped reporting'
local LOST_STARTING = 'lost: the job\\'s process never reported that it started'

-- If the job's lease has expired, records it lost and returns true.
local function expire_lease(job, results, leases, queue, kills, id, ttl_ok, ttl_fail, now)
  local lease = redis.call('ZSCORE', leases, id)
  if not lease or tonumber(lease) >= now then return false end
  local state = redis.call('HGET', job, 'state')
  if not state or TERMINAL[state] then
    redis.call('ZREM', leases, id)
    return false
  end
  local reason = LOST_RUNNING
  if state == 'queued' then reason = LOST_STARTING end
  finish(job, results, leases, queue, kills, id, 'failed', { 'error', reason }, ttl_ok, ttl_fail, true, now)
  return true
end
`;

/**
 * create: writes a new job record and appends it to the queue.
 * KEYS: 1 job, 2 queue
 * ARGV: 1 id, 2 type, 3 params (JSON), 4 total, 5 queue max
 * Returns: {1, createdAt} or {0, 'queue_full'}
 */
export const CREATE = `${COMMON}
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[5]) then return { 0, 'queue_full' } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'type', ARGV[2], 'params', ARGV[3], 'state', 'queued',
  'createdAt', now, 'updatedAt', now, 'done', 0, 'total', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[1])
return { 1, now }
`;

/**
 * claim: takes the oldest queued job for an instance that has a free slot,
 * and gives it a start lease (if its process never reports, the sweep ends it).
 * KEYS: 1 queue, 2 leases, 3 job key prefix
 * ARGV: 1 lease ms, 2 owner (instance id)
 * Returns: {id, type}, or false when nothing is waiting.
 */
export const CLAIM = `${COMMON}
while true do
  local id = redis.call('LPOP', KEYS[1])
  if not id then return false end
  local job = KEYS[3] .. id
  if redis.call('HGET', job, 'state') == 'queued' then
    local now = now_ms()
    redis.call('HSET', job, 'owner', ARGV[2], 'claimedAt', now)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    return { id, redis.call('HGET', job, 'type') }
  end
end
`;

/**
 * start: the job's process marks it running.
 * KEYS: 1 job, 2 leases
 * ARGV: 1 id, 2 pid, 3 host, 4 lease ms
 * Returns: {1, ''} or {0, current state} when the job may not start (cancelled, lost, gone).
 */
export const START = `${COMMON}
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' then return { 0, state or '' } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'state', 'running', 'pid', ARGV[2], 'host', ARGV[3], 'startedAt', now, 'updatedAt', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
return { 1, '' }
`;

/**
 * report: the job's process reports progress (done and new results) or only
 * that it is alive, and renews its lease. Fenced: refused unless the job is
 * running and its lease has not expired (an expired lease is recorded as lost).
 * KEYS: 1 job, 2 results, 3 leases, 4 queue, 5 kills
 * ARGV: 1 id, 2 lease ms, 3 done ('' for a heartbeat), 4 ttl succeeded, 5 ttl failed, 6.. values to append
 * Returns: {1, 'ok' | 'cancel'} or {0, current state}
 */
export const REPORT = `${COMMON}
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' then return { 0, state or '' } end
local now = now_ms()
if expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[4], ARGV[5], now) then
  return { 0, 'failed' }
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'done', ARGV[3], 'updatedAt', now)
else
  redis.call('HSET', KEYS[1], 'updatedAt', now)
end
if #ARGV > 5 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 6)) end
if redis.call('HEXISTS', KEYS[1], 'cancelRequestedAt') == 1 then return { 1, 'cancel' } end
return { 1, 'ok' }
`;

/**
 * finish: records a job's end.
 * KEYS: 1 job, 2 results, 3 leases, 4 queue, 5 kills
 * ARGV: 1 id, 2 state, 3 mode, 4 ttl succeeded, 5 ttl failed, 6.. field, value pairs (error, exitCode, …)
 *   mode 'job': the job's own process; fenced like report (running, lease valid).
 *   mode 'exit': the spawning server saw the process exit; a pending cancel turns failed into cancelled.
 *   mode 'force': the server decides (cancel of a queued job, time limit).
 * Returns: {1, state recorded} or {0, current state} when the job had already ended (or is gone).
 */
export const FINISH = `${COMMON}
local state = redis.call('HGET', KEYS[1], 'state')
if not state or TERMINAL[state] then return { 0, state or '' } end
local now = now_ms()
if ARGV[3] == 'job' then
  if state ~= 'running' then return { 0, state } end
  if expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[4], ARGV[5], now) then
    return { 0, 'failed' }
  end
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
local recorded = finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], fields,
  ARGV[4], ARGV[5], ARGV[3] == 'exit', now)
return { 1, recorded }
`;

/**
 * cancel: a queued job ends 'cancelled' at once; for a running job the request
 * is stored (its process learns it from its next report) and a kill deadline
 * is set for a process that does not stop by itself.
 * KEYS: 1 job, 2 results, 3 leases, 4 queue, 5 kills
 * ARGV: 1 id, 2 grace ms, 3 ttl succeeded, 4 ttl failed
 * Returns: {1, 'cancelled'} | {2, 'requested'} | {0, current state ('' if gone)}
 */
export const CANCEL = `${COMMON}
local state = redis.call('HGET', KEYS[1], 'state')
if not state or TERMINAL[state] then return { 0, state or '' } end
local now = now_ms()
if state == 'queued' then
  finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], 'cancelled',
    { 'error', 'Cancelled before it started.' }, ARGV[3], ARGV[4], false, now)
  return { 1, 'cancelled' }
end
if redis.call('HSETNX', KEYS[1], 'cancelRequestedAt', now) == 1 then
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[2]), ARGV[1])
end
return { 2, 'requested' }
`;

/**
 * read: one job, in one round trip: its fields, its results (all; or, with
 * 'auto', all once it has ended and only the last one while it runs), its place in the queue, and Redis' clock. A job whose lease has
 * expired is recorded as lost first, so nobody is shown a stale 'running'.
 * KEYS: 1 job, 2 results, 3 leases, 4 queue, 5 kills
 * ARGV: 1 id, 2 'all' | 'auto', 3 ttl succeeded, 4 ttl failed
 * Returns: {now} when the job does not exist, else {now, fields (flat), results, queue position or -1}
 */
export const READ = `${COMMON}
local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { now } end
if not TERMINAL[state] then
  expire_lease(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[3], ARGV[4], now)
end
local fields = redis.call('HGETALL', KEYS[1])
state = redis.call('HGET', KEYS[1], 'state')
local results
if ARGV[2] == 'all' or TERMINAL[state] then
  results = redis.call('LRANGE', KEYS[2], 0, -1)
else
  results = redis.call('LRANGE', KEYS[2], -1, -1)
end
local position = -1
if state == 'queued' then
  position = redis.call('LPOS', KEYS[4], ARGV[1]) or -1
end
return { now, fields, results, position }
`;

/**
 * sweep: records every job whose lease has expired as lost. Cheap when there
 * is nothing to do: one range query on the lease index.
 * KEYS: 1 leases, 2 queue, 3 kills, 4 job key prefix
 * ARGV: 1 ttl succeeded, 2 ttl failed, 3 limit
 * Returns: the ids recorded as lost.
 */
export const SWEEP = `${COMMON}
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 1, 'LIMIT', 0, tonumber(ARGV[3]))
local lost = {}
for _, id in ipairs(ids) do
  local job = KEYS[4] .. id
  if expire_lease(job, job .. ':results', KEYS[1], KEYS[2], KEYS[3], id, ARGV[1], ARGV[2], now) then
    lost[#lost + 1] = id
  end
end
return lost
`;

/**
 * due_kills: ids whose cancel grace has run out, with Redis' clock.
 * KEYS: 1 kills
 * Returns: {now, id, id, …}
 */
export const DUE_KILLS = `${COMMON}
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
table.insert(ids, 1, now)
return ids
`;

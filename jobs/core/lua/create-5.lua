-- create: writes a new job record (queued, nothing done) and appends its id
-- to the queue, unless the queue is full; or, when the queue is empty and
-- the caller would take the job at once (ARGV[22]: it has a free slot for
-- its type), writes it already claimed by the caller, as the claim that
-- would follow: one script instead of two. The record keeps its type's
-- retention, time limit and retry policy (includes/requeue), so every
-- process that ends or watches the job applies the same ones. The job's uploads (stored before, each under
-- <job key>:upload:<field> with a short safety TTL) must all be there; they
-- lose that TTL and are kept until the job ends (finish gives them its TTL).
-- With a submit key (ARGV[11]), a request its record already answers creates
-- nothing (includes/once); otherwise the record is written with the job.
--
-- KEYS[1]  job      hash, the new job's record
-- KEYS[2]  queue    list of waiting ids
-- KEYS[3]  index key prefix ("P:{tag}:ix:"), see includes/index
-- KEYS[4]  once     hash, the submit key's record (includes/once); without a key, the job's key (unused)
-- KEYS[5]  leases   sorted set, id -> lease expiry (ms): a job created claimed (ARGV[22]) gets its start lease
-- ARGV[1]  id
-- ARGV[2]  type
-- ARGV[3]  params (JSON)
-- ARGV[4]  total    how many steps the job will take (0: not known yet)
-- ARGV[5]  queue max
-- ARGV[6]  ttl of the job once it has succeeded (s)
-- ARGV[7]  ttl of the job once it has failed or been cancelled (s)
-- ARGV[8]  time limit (ms)
-- ARGV[9]  the fields with an upload, comma-separated ('' for none)
-- ARGV[10] the id of the job this one retries ('' for none)
-- ARGV[11] the submit key's scope: 'key', 'form', or '' for none
-- ARGV[12] the request's fingerprint ('' for none)
-- ARGV[13] how long the submit key's record is kept (s)
-- ARGV[14] maxAttempts: attempts in all for a job lost to the infrastructure
-- ARGV[15] retryOn: the other end reasons retried, comma-separated ('' for none)
-- ARGV[16] the wait before a second attempt (ms), doubled for each one after
-- ARGV[17] the signed-in person who submitted it ('' for none), kept as its
--          field user and in their jobs' set (includes/index, user_add)
-- ARGV[18] the key of that person's set (a digest of their name)
-- ARGV[19] who submitted it, as a digest ('' for none): its field sq, its
--          submitter's list and turn (includes/turns)
-- ARGV[20] who submitted it, in words (a person's name, a client address)
-- ARGV[21] how many more jobs that submitter may have waiting in this
--          partition (JOB_MAX_QUEUED_PER_SUBMITTER less those waiting in
--          the others; '' for no limit)
-- ARGV[22] the instance that would take the job at once ('' for none): when
--          the queue is empty, the job is created already claimed by it,
--          as claim-5.lua would claim it (nothing waits before it), and
--          never enters the queue; its submit is marked by that claim
--          (the caller counts it: no submitted-1.lua after it)
-- ARGV[23] that claim's lease ms
-- ARGV[24] '1' when the caller drew the id for this call (no job can have
--          it: no check that none exists), '' when it was chosen before
-- Returns: {1, createdAt, 1 when it was created claimed by ARGV[22] else 0},
--          {0, 'duplicate', id of the job the key names},
--          {0, 'submitter_full', jobs that submitter has waiting here},
--          or {0, 'key_reused' | 'queue_full' | 'exists' | 'upload_missing'}
--- @include "includes/now"
--- @include "includes/index"
--- @include "includes/once"
--- @include "includes/turns"

local held = once_held(KEYS[4], KEYS[1], ARGV[1], ARGV[11], ARGV[12])
if held then return held end
local queued = redis.call('LLEN', KEYS[2])
if queued >= tonumber(ARGV[5]) then return { 0, 'queue_full' } end
if ARGV[24] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return { 0, 'exists' } end
local claim = ARGV[22] ~= '' and queued == 0
if ARGV[19] ~= '' and ARGV[21] ~= '' and not claim then
  local waiting = redis.call('LLEN', KEYS[3] .. 'sq:' .. ARGV[19])
  if waiting >= tonumber(ARGV[21]) then return { 0, 'submitter_full', waiting } end
end
local uploads = {}
for field in string.gmatch(ARGV[9], '[^,]+') do
  local key = KEYS[1] .. ':upload:' .. field
  if redis.call('EXISTS', key) == 0 then return { 0, 'upload_missing' } end
  uploads[#uploads + 1] = key
end
for _, key in ipairs(uploads) do redis.call('PERSIST', key) end
local now = now_ms()
local fields = { 'id', ARGV[1], 'type', ARGV[2], 'params', ARGV[3], 'state', 'queued',
  'createdAt', now, 'updatedAt', now, 'done', 0, 'total', ARGV[4],
  'ttlOk', ARGV[6], 'ttlFail', ARGV[7], 'timeoutMs', ARGV[8],
  'attempt', 1, 'maxAttempts', ARGV[14], 'retryOn', ARGV[15], 'retryBackoffMs', ARGV[16] }
if ARGV[9] ~= '' then fields[#fields + 1] = 'uploads'; fields[#fields + 1] = ARGV[9] end
if ARGV[10] ~= '' then fields[#fields + 1] = 'retryOf'; fields[#fields + 1] = ARGV[10] end
if ARGV[19] ~= '' then
  fields[#fields + 1] = 'sq'; fields[#fields + 1] = ARGV[19]
  fields[#fields + 1] = 'submitter'; fields[#fields + 1] = ARGV[20]
end
if claim then
  -- Its submit is marked by its claim, as claim-5.lua marks one: the caller counts it with this answer, and a
  -- claim whose answer was lost gives the mark back when it is released (release-3.lua).
  fields[#fields + 1] = 'owner'; fields[#fields + 1] = ARGV[22]
  fields[#fields + 1] = 'claimedAt'; fields[#fields + 1] = now
  fields[#fields + 1] = 'submitted'; fields[#fields + 1] = 'claim:' .. ARGV[22]
end
redis.call('HSET', KEYS[1], unpack(fields))
index_add(KEYS[3], KEYS[1], ARGV[1], 'queued', { ARGV[2], now })
user_add(KEYS[3], KEYS[1], ARGV[1], ARGV[17], ARGV[18], now)
if claim then
  -- Taken at once, as a claim takes it: its start lease, and it counts as its submitter's running job (includes/turns).
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[23]), ARGV[1])
  if ARGV[19] ~= '' then redis.call('HINCRBY', KEYS[3] .. 'subrun', ARGV[19], 1) end
else
  redis.call('RPUSH', KEYS[2], ARGV[1])
  if ARGV[19] ~= '' then turns_add(KEYS[1], ARGV[1], false, ARGV[19], ARGV[20]) end
end
once_keep(KEYS[4], ARGV[11], ARGV[12], ARGV[1], ARGV[13])
if claim then return { 1, now, 1 } end
return { 1, now, 0 }

-- create-claimed: writes a new job record already claimed by the instance
-- that will start its process at once (JOB_QUEUE_MAX=0: no waiting). The
-- record is the one create writes, plus the claim that claim would add; the
-- job never enters the queue. Its start lease is set as claim sets it.
-- With a submit key (ARGV[11]), a request its record already answers creates
-- nothing (includes/once); otherwise the record is written with the job.
--
-- KEYS[1]  job      hash, the new job's record
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[3]  index key prefix ("P:{tag}:ix:"), see includes/index
-- KEYS[4]  once     hash, the submit key's record (includes/once); without a key, the job's key (unused)
-- ARGV[1]  id
-- ARGV[2]  type
-- ARGV[3]  params (JSON)
-- ARGV[4]  total    how many steps the job will take (0: not known yet)
-- ARGV[5]  ttl of the job once it has succeeded (s)
-- ARGV[6]  ttl of the job once it has failed or been cancelled (s)
-- ARGV[7]  time limit (ms)
-- ARGV[8]  owner    the claiming instance's id
-- ARGV[9]  lease ms
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
-- Returns: {1, createdAt}, or {0, 'duplicate', id of the job the key names}, or {0, 'key_reused'}
--- @include "includes/now"
--- @include "includes/index"
--- @include "includes/once"
--- @include "includes/turns"

local held = once_held(KEYS[4], KEYS[1], ARGV[1], ARGV[11], ARGV[12])
if held then return held end
local now = now_ms()
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'type', ARGV[2], 'params', ARGV[3], 'state', 'queued',
  'createdAt', now, 'updatedAt', now, 'done', 0, 'total', ARGV[4],
  'ttlOk', ARGV[5], 'ttlFail', ARGV[6], 'timeoutMs', ARGV[7],
  'owner', ARGV[8], 'claimedAt', now)
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'retryOf', ARGV[10]) end
redis.call('HSET', KEYS[1], 'attempt', 1, 'maxAttempts', ARGV[14], 'retryOn', ARGV[15], 'retryBackoffMs', ARGV[16])
index_add(KEYS[3], KEYS[1], ARGV[1], 'queued')
user_add(KEYS[3], KEYS[1], ARGV[1], ARGV[17], ARGV[18], now)
-- Claimed at once: it counts as its submitter's running job (includes/turns), and never waits.
if ARGV[19] ~= '' then
  redis.call('HSET', KEYS[1], 'sq', ARGV[19], 'submitter', ARGV[20])
  redis.call('HINCRBY', KEYS[3] .. 'subrun', ARGV[19], 1)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[9]), ARGV[1])
once_keep(KEYS[4], ARGV[11], ARGV[12], ARGV[1], ARGV[13])
return { 1, now }

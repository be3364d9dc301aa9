-- notify-outcome: records how one delivery of a job's end went so far
-- (attempts, the last status or error, when), for the operators' pages. The
-- notify hash keeps the record's TTL: it goes with the job.
--
-- KEYS[1]  job      hash, the job's record
-- KEYS[2]  notify   hash: channel ('email', 'webhook') -> JSON of its delivery
-- ARGV[1]  the channel
-- ARGV[2]  the JSON of its delivery
-- Returns: 1 when recorded, 0 when the job is gone (nothing written).

local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1

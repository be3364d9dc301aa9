-- retried: records on a job that a retry of it was created (an operator's
-- action), for its page to link to the new job. A job that is gone is left
-- gone: nothing is written.
--
-- KEYS[1]  job      hash
-- ARGV[1]  the new job's id
-- Returns: 1, or 0 when the job does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'retriedAs', ARGV[1])
return 1

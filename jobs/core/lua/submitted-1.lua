-- submitted: the instance whose create was answered marks the job's submit
-- counted. Counted once, by whoever marks it first: this call, a claim that
-- finds it unmarked, or the call that ends it (includes/finish count_submit),
-- so a job whose create ran but whose answer was lost (a Redis outage, a
-- server killed) is counted submitted all the same, by the first instance to
-- see it.
--
-- KEYS[1]  job      hash
-- ARGV[1]  who marks it ('create')
-- Returns: 1 when this call marked it (the caller counts the submit), else 0
-- (marked already, or the job is gone).

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'submitted', ARGV[1])

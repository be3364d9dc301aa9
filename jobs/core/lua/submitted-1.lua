-- submitted: the instance whose create was answered marks the job's submit
-- counted. Counted once, by whoever marks it first: this call, a claim that
-- finds it unmarked, or the instance that takes the report of its end
-- (take-report-2.lua), so a job whose create ran but whose answer was lost
-- (a Redis outage, a server killed) is counted submitted all the same, by
-- the first instance to see it. The mark names its instance, so an instance
-- that asks again (its reply was lost) is told that the mark is its own.
--
-- KEYS[1]  job      hash
-- ARGV[1]  the mark: 'create:' and the instance's id
-- Returns: 1 when the mark is this caller's (the caller counts the submit),
-- else 0 (marked by another, or the job is gone).

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'submitted', ARGV[1]) == 1 then return 1 end
if redis.call('HGET', KEYS[1], 'submitted') == ARGV[1] then return 1 end
return 0

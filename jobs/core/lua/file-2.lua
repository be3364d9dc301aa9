-- file: stores one output file of a running job (a download on its page).
-- Fenced: only while the job is running, so a late process cannot add files
-- to a job that has ended; the files get the job's TTL when it ends.
--
-- KEYS[1]  job      hash
-- KEYS[2]  files    hash, file name -> content
-- ARGV[1]  file name
-- ARGV[2]  content
-- Returns: 1, or 0 when the job is not running.
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1

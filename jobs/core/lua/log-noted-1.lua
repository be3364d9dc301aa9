-- log-noted: counts what was appended to a job's whole log kept outside Redis
-- (FILE_STORE_DIR: the log is a file, jobs/core/store/file-dir.ts), after it
-- was written there. The job's fields logLines and logBytes change with it,
-- so a connection that tracks the job (server/job-cache.ts) is told, and the
-- page reads the log's new last lines from the file. Nothing is written for a
-- job that does not exist (never did, or expired).
--
-- KEYS[1]  job      hash
-- ARGV[1]  lines appended (line ends)
-- ARGV[2]  bytes appended
-- ARGV[3]  1 when the log now ends within a line (its last line is not
--          ended yet, and counts as one), else 0
-- Returns: 1, or 0 when the job does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'logLines', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'logBytes', ARGV[2])
redis.call('HSET', KEYS[1], 'logOpen', ARGV[3])
return 1

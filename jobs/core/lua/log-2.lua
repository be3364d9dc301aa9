-- log: appends lines to a job's log, which keeps only its last max lines and
-- counts the ones it dropped (the record's logDropped, shown as a marker
-- where the log was cut). The log lives as long as its job: a log written
-- after the job ended takes the record's remaining TTL. Nothing is written
-- for a job that does not exist (never did, or expired).
--
-- KEYS[1]  job      hash
-- KEYS[2]  log      list of lines, oldest first
-- ARGV[1]  max lines kept
-- ARGV[2..] lines
-- Returns: 1, or 0 when the job does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
local max = tonumber(ARGV[1])
if n > max then
  redis.call('LTRIM', KEYS[2], n - max, -1)
  redis.call('HINCRBY', KEYS[1], 'logDropped', n - max)
end
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return 1

-- log-all: appends text to a job's whole log (the one downloaded), up to max
-- bytes; what passes it is dropped, and the marker written once in its place.
-- Like the last lines (log-2.lua), the log lives as long as its job: one
-- written after the job ended takes the record's remaining TTL, and nothing
-- is written for a job that does not exist.
--
-- KEYS[1]  job      hash
-- KEYS[2]  fullLog  string: the whole log
-- ARGV[1]  max bytes
-- ARGV[2]  text
-- ARGV[3]  marker
-- Returns: 1, or 0 when the job does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local size = redis.call('STRLEN', KEYS[2])
local max = tonumber(ARGV[1])
if size < max then
  if size + #ARGV[2] <= max then
    redis.call('APPEND', KEYS[2], ARGV[2])
  else
    redis.call('APPEND', KEYS[2], string.sub(ARGV[2], 1, max - size) .. ARGV[3])
  end
end
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return 1

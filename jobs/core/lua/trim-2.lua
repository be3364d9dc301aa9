-- trim: drops the jobs list's entries of ended jobs that have expired (see
-- includes/index), for every type given: of each set of ended jobs, the
-- oldest ARGV[1] entries created more than its retention ago whose job is
-- gone. The supervisors run it every minute, so the index follows its jobs
-- even when no job ends.
--
-- KEYS[2] is the job key prefix, not a key: a job's key is built from it and
-- an id taken from the index; both share the partition's hash tag.
--
-- KEYS[1]  index key prefix ("P:{tag}:ix:")
-- KEYS[2]  job key prefix ("P:{tag}:job:")
-- ARGV[1]  how many entries to check per set
-- ARGV[2..] triples: type, ttl of its succeeded jobs (s), of its failed and cancelled ones (s)
-- Returns: how many entries it dropped.
--- @include "includes/now"
--- @include "includes/index"

local now = now_ms()
local checks = tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV, 3 do
  local ok, fail = tonumber(ARGV[i + 1]) * 1000, tonumber(ARGV[i + 2]) * 1000
  dropped = dropped + index_trim(index_set(KEYS[1], ARGV[i], 'succeeded'), KEYS[2], now - ok, checks)
  dropped = dropped + index_trim(index_set(KEYS[1], ARGV[i], 'failed'), KEYS[2], now - fail, checks)
  dropped = dropped + index_trim(index_set(KEYS[1], ARGV[i], 'cancelled'), KEYS[2], now - fail, checks)
end
return dropped

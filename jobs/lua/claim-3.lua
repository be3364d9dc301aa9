-- claim: takes the oldest queued job for an instance that has a free slot,
-- and gives it a start lease (if its process never reports, the sweep ends
-- it). Ids in the queue whose job is no longer queued (cancelled, lost,
-- expired) are dropped on the way.
--
-- KEYS[3] is the job key prefix, not a key: the job's key is built from it
-- and an id taken from the queue. Every key shares the "{jobs}" hash tag, so
-- that key is in the same Redis Cluster slot as the others.
--
-- KEYS[1]  queue    list of waiting ids
-- KEYS[2]  leases   sorted set, id -> lease expiry (ms)
-- KEYS[3]  job key prefix ("P:{jobs}:job:")
-- ARGV[1]  lease ms
-- ARGV[2]  owner    the claiming instance's id
-- Returns: {id, type}, or false (nil) when nothing is waiting.
--- @include "includes/now"

while true do
  local id = redis.call('LPOP', KEYS[1])
  if not id then return false end
  local job = KEYS[3] .. id
  if redis.call('HGET', job, 'state') == 'queued' then
    local now = now_ms()
    redis.call('HSET', job, 'owner', ARGV[2], 'claimedAt', now)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    return { id, redis.call('HGET', job, 'type') }
  end
end

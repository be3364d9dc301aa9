-- beat: an instance's heartbeat. Each instance writes its facts every few
-- seconds; an instance that stops writing drops out of the registry once its
-- beat is ttl old. Both keys expire when no instance beats any more.
--
-- KEYS[1]  beats      sorted set, instance id -> when its beat runs out (ms)
-- KEYS[2]  instances  hash, instance id -> its facts (JSON)
-- ARGV[1]  instance id
-- ARGV[2]  its facts (JSON)
-- ARGV[3]  ttl ms
-- Returns: Redis' clock (ms).
--- @include "includes/now"

local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local ttl = math.ceil(tonumber(ARGV[3]) / 1000)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return now

-- login-reserve: counts a login attempt as failed before its password is
-- checked, unless the client's address or every address together has had
-- its most failures in the window. A correct password then takes the
-- attempt back (the store's loginSucceeded). So a burst of attempts sent at
-- once checks at most the limit, whichever instance each one reaches.
--
-- KEYS[1]  address  sorted set, attempt id -> when (ms), one client address
-- KEYS[2]  all      sorted set, attempt id -> when (ms), every address
-- ARGV[1]  attempt id
-- ARGV[2]  window ms
-- ARGV[3]  most failures of one address in a window
-- ARGV[4]  most failures of every address together in a window
-- Returns: 0 when the attempt may be checked; else the ms until one may be made.
--- @include "includes/now"

local now = now_ms()
local window = tonumber(ARGV[2])

local function wait(key, max)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n < max then return 0 end
  local oldest = redis.call('ZRANGE', key, n - max, n - max, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end

local ms = math.max(wait(KEYS[1], tonumber(ARGV[3])), wait(KEYS[2], tonumber(ARGV[4])))
if ms > 0 then return ms end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, window)
end
return 0

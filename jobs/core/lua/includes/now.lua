-- now_ms(): Redis' clock, in ms. Times come from Redis (TIME), never from the
-- caller, so every instance and every job process, on any host, agrees on
-- when a lease expires.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

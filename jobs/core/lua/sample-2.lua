-- sample: records the queue's length for this minute (the last sample of a
-- minute wins), for the queue chart. The samples hash holds one field per
-- minute of the hour (0..59), "<minute since epoch>:<length>", so it never
-- holds more than an hour; a field of an older hour is ignored when read.
--
-- KEYS[1]  queue    list of waiting ids
-- KEYS[2]  samples  hash, minute of the hour -> "<minute>:<length>"
-- Returns: the queue's length.
--- @include "includes/now"

local minute = math.floor(now_ms() / 60000)
local length = redis.call('LLEN', KEYS[1])
redis.call('HSET', KEYS[2], minute % 60, minute .. ':' .. length)
redis.call('EXPIRE', KEYS[2], 7200)
return length

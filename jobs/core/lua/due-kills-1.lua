-- due-kills: the jobs whose cancel grace has run out, at most 100: their
-- processes ignored the request and must be killed. Writes nothing: a job
-- leaves the index when its end is recorded.
--
-- KEYS[1]  kills    sorted set, id -> kill deadline (ms)
-- Returns: the ids.
--- @include "includes/now"

return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, 100)

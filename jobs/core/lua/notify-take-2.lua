-- notify-take: takes the telling of a job's end for one instance: who asked
-- to be told (notify-ask-1.lua), each marked pending in the job's notify
-- hash, which gets the record's TTL (it goes with the job). Taken once per
-- job: the taker is named on the record (notifyBy), so a take sent again
-- after a lost reply is answered as the first was, and no other instance
-- gets it. Only an ended job is told.
--
-- KEYS[1]  job      hash, the job's record
-- KEYS[2]  notify   hash: channel ('email', 'webhook') -> JSON of its delivery
-- ARGV[1]  the taking instance's id
-- ARGV[2]  the JSON of a delivery not tried yet
-- Returns: {email, webhook} ('' for one not asked) when the telling is this
-- instance's; {} when nothing was asked, the job has not ended, is gone, or
-- another instance tells it.
--- @include "includes/terminal"

local f = redis.call('HMGET', KEYS[1], 'state', 'notifyEmail', 'notifyWebhook', 'notifyBy')
if not f[1] or not TERMINAL[f[1]] then return {} end
if not f[2] and not f[3] then return {} end
if f[4] then
  if f[4] == ARGV[1] then return { f[2] or '', f[3] or '' } end
  return {}
end
redis.call('HSET', KEYS[1], 'notifyBy', ARGV[1])
if f[2] then redis.call('HSET', KEYS[2], 'email', ARGV[2]) end
if f[3] then redis.call('HSET', KEYS[2], 'webhook', ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return { f[2] or '', f[3] or '' }

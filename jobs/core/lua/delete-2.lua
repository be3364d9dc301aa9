-- delete: removes a job that has ended, and all its keys, now (an operator's
-- action); a job that has not ended is left as it is.
--
-- KEYS[1]  job      hash
-- KEYS[2]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- Returns: {1, state it had}, or {0, current state ('' if gone)}.
--- @include "includes/terminal"
--- @include "includes/index"

local f = redis.call('HMGET', KEYS[1], 'state', 'type', 'uploads')
local state = f[1]
if not state or not TERMINAL[state] then return { 0, state or '' } end
redis.call('ZREM', index_set(KEYS[2], f[2], state), ARGV[1])
local keys = { KEYS[1], KEYS[1] .. ':results', KEYS[1] .. ':log', KEYS[1] .. ':fulllog', KEYS[1] .. ':files', KEYS[1] .. ':notify' }
if f[3] then
  for field in string.gmatch(f[3], '[^,]+') do keys[#keys + 1] = KEYS[1] .. ':upload:' .. field end
end
redis.call('DEL', unpack(keys))
return { 1, state }

-- upload-append: appends one chunk of an upload at its offset, and renews the
-- upload's safety TTL (it outlives a server that dies mid-upload by no more
-- than that). A chunk sent again because its answer came too late (Redis
-- slow past the web's deadline, but it ran the first one) is not appended a
-- second time: the server can retry a chunk write until Redis answers.
--
-- KEYS[1]  upload   string, the bytes received so far
-- ARGV[1]  offset: the upload's size before this chunk
-- ARGV[2]  the chunk
-- ARGV[3]  ttl (s)
-- Returns: the upload's size after the chunk, or -1 when its size is neither
-- the offset nor the offset plus the chunk (nothing is written).

local size = redis.call('STRLEN', KEYS[1])
local at = tonumber(ARGV[1])
if size == at then
  size = redis.call('APPEND', KEYS[1], ARGV[2])
elseif size ~= at + #ARGV[2] then
  return -1
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return size

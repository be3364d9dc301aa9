-- file-range: bytes of one output file, for a download read a chunk at a time.
-- A hash field has no GETRANGE: the slice is cut here, so only the chunk
-- crosses the network and the server never holds the file whole.
--
-- KEYS[1]  files    hash, file name -> content
-- ARGV[1]  file name
-- ARGV[2]  first byte (from 0)
-- ARGV[3]  last byte (inclusive)
-- Returns: the bytes (fewer past the file's end), or false when there is no such file.
local content = redis.call('HGET', KEYS[1], ARGV[1])
if not content then return false end
return string.sub(content, tonumber(ARGV[2]) + 1, tonumber(ARGV[3]) + 1)

-- partition_keys(job, id): the keys of a job's partition, named from its
-- record's key (P:{tag}:job:<id>; store/keys.ts names them the same way): a
-- script called with the job's key alone reaches the others, all in the
-- same hash slot.
local function partition_keys(job, id)
  local base = string.sub(job, 1, #job - #id - #'job:')
  return {
    results = job .. ':results',
    leases = base .. 'leases',
    queue = base .. 'queue',
    kills = base .. 'kills',
    ix = base .. 'ix:',
  }
end

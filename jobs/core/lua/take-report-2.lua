-- take-report: takes the report of a job's end (includes/finish
-- await_report) for one instance, which then logs and counts it
-- (server/job-events.ts). An end is taken once: by the server whose call
-- ended the job, by the one that saw its process exit, or by a sweep. The
-- taker is named on the record, so an instance that asks again (its reply
-- was lost) is told that the report is its own, and no other is: each end
-- is counted once, whatever reply is lost.
--
-- KEYS[1]  job      hash
-- KEYS[2]  index key prefix ("P:{tag}:ix:"), see includes/index
-- ARGV[1]  id
-- ARGV[2]  the taking instance's id
-- Returns: {1, submit, what the report says of the job (flat: name, value,
-- … of its type, params, state, reason, times and usage)} when the report
-- is this instance's (taken now, or by an earlier call of its own): the
-- caller reports the end from it, with no read of its own; submit is 1 when
-- it counts the job's submit too (no instance had: the answer to its create
-- was lost, see submitted-1.lua). Else {0, 0}: another instance has it, no
-- end waits, or the record is gone (its retention ran out: nothing is left
-- to report).
--- @include "includes/report"

local taken, submit, fields = take_report(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if taken == 1 then return { 1, submit, fields } end
return { 0, 0 }

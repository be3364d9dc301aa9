-- notify-ask: keeps on a job's record who is to be told when it ends: an
-- email address and a webhook URL, either or both. Written by the submit
-- that created the job, just after its create (server/routes/forms.ts),
-- and written again, the same, by a submit sent again under its key. The
-- end is told by whoever takes it (notify-take-2.lua): the instance that
-- took the end's report, or, when the report was taken before this ran (a
-- job that ended at once), the caller, told so by the reply.
--
-- KEYS[1]  job      hash, the job's record
-- ARGV[1]  the email address ('' for none)
-- ARGV[2]  the webhook URL ('' for none)
-- Returns: 0 when the record is gone (nothing written), 1 when kept, 2 when
-- kept and the end's report was taken already (the caller takes the telling).

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'notifyEmail', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'notifyWebhook', ARGV[2]) end
if redis.call('HEXISTS', KEYS[1], 'reportedBy') == 1 then return 2 end
return 1

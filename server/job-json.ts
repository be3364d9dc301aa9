// A job as a JSON client sees it: the answer of GET /jobs/:id (and of its
// status poll) under Accept: application/json, and the base of the
// operator's JSON view of a job (server/admin/job.ts). The same facts as
// the view model (job-view.ts), in the API's names; its schema, the
// document's too: api-schemas.ts (JobSchema).
import { isTerminal, type JobRecord } from "../jobs/core/store.ts";
import type { Params } from "../jobs/core/fields.ts";
import { jobType, JOB_TYPES } from "../jobs/types/index.ts";
import { announcement, failureMessage, titleOf } from "./job-words.ts";
import { logIsPublic, type ViewSettings } from "./job-view.ts";
import type { Job } from "./api-schemas.ts";
import { fileUrl, jobUrl, logUrl, statusUrl } from "./urls.ts";
import { keptUntil } from "./job-times.ts";

/** The most results a JSON answer holds (resultCount says how many there are; result.json has them all). */
export const JSON_RESULTS_MAX = 1000;
/** And at most this many bytes of them (the first always), as a job page. */
export const JSON_RESULTS_MAX_BYTES = 512 * 1024;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job as a JSON client sees it. pid, host and detail only with SHOW_JOB_INTERNALS; logUrl only when the log is public. */
export function jobJson(job: JobRecord, files: readonly { name: string; size: number }[], settings: ViewSettings): Job {
  const type = jobType(job.type, settings.types ?? JOB_TYPES);
  const unit = type?.unit ?? (["step", "steps"] as const);
  return {
    id: job.id,
    url: jobUrl(job.id),
    type: job.type,
    title: type ? titleOf(type, job.params as Params) : null,
    state: job.state,
    /** Why it ended (failed or cancelled), a code: see docs/api.md, "The JSON of a job". */
    reason: job.reason,
    /** What the page says about the job's state, in a sentence. */
    message: job.state === "failed" ? failureMessage(job, type?.words?.noun ?? "the job", unit) : announcement(job, type),
    /** The job's own error message (reason job-error). */
    error: job.error,
    /** What the job says it is doing. */
    status: job.status,
    params: job.params,
    done: job.done,
    total: job.total,
    resultCount: job.resultCount,
    /** The first results (at most JSON_RESULTS_MAX, JSON_RESULTS_MAX_BYTES); result.json has them all. */
    results: job.results,
    resultsUrl: { json: `${jobUrl(job.id)}/result.json`, csv: `${jobUrl(job.id)}/result.csv` },
    /** 1-based, while it waits: 1 is next. */
    queuePosition: job.queuePosition === null ? null : job.queuePosition + 1,
    cancelRequested: job.cancelRequestedAt !== null,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
    /** How long it ran (this attempt): finishedAt − startedAt, once it has ended; null before, or when it never started. */
    durationMs: job.finishedAt !== null && job.startedAt !== null ? Math.max(0, job.finishedAt - job.startedAt) : null,
    /** When it and all it made are deleted, once it has ended (its type's retention for that end). */
    keptUntil: iso(keptUntil(job, type, settings)),
    timeoutMs: job.timeoutMs,
    exitCode: job.exitCode,
    signal: job.signal,
    /** What it used, once it has ended (null while it runs, or when its runner could not measure it). */
    usage: isTerminal(job.state) ? job.usage : null,
    /** The value of the limit that stopped it (reasons memory-limit …), in its type's units; else null. */
    limit: job.limit,
    /** A Slurm type's job: its Slurm job id, state and reason, as last read (docs/operations.md, "Jobs on a Slurm cluster"). */
    slurm: job.slurm,
    /** Which attempt this is (1 for the first), of maxAttempts in all (docs/job-types.md, "Retries"). */
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    /** The attempts that ended and were retried, oldest first; the current one is the job itself. */
    attempts: job.attempts.map((a) => ({
      attempt: a.attempt,
      reason: a.reason,
      claimedAt: iso(a.claimedAt),
      startedAt: iso(a.startedAt),
      endedAt: new Date(a.endedAt).toISOString(),
      exitCode: a.exitCode,
      signal: a.signal,
      error: a.error,
      usage: a.usage,
      slurm: a.slurm,
      ...(settings.showJobInternals ? { pid: a.pid, host: a.host } : {}),
    })),
    /** A job waiting for its next attempt does not start before this; else null. */
    nextAttemptAt: job.state === "queued" && job.notBefore !== null && job.notBefore > job.readAt ? iso(job.notBefore) : null,
    files: files.map((f) => ({ name: f.name, size: f.size, url: fileUrl(job.id, f.name) })),
    /** null: the log is the operators' (see logIsPublic). */
    logUrl: logIsPublic(type, settings) ? logUrl(job.id) : null,
    statusUrl: statusUrl(job.id),
    ...(settings.showJobInternals ? { pid: job.pid, host: job.host, detail: job.detail } : {}),
  };
}

// The job transitions this server sees, each written as one log line and
// counted in the metrics:
// - submitted: the submit path created the job (supervisor.submit);
// - started: this instance spawned the job's process;
// - finished: a process started here exited (the job's end is read back, as
//   the job itself or the server recorded it), a queued job was cancelled
//   here, or the sweep (or a page's read) here recorded a job as lost;
// - retried: one of those found an attempt ended (lost, or a failure its type
//   retries) and the job went back to the queue for another attempt: an
//   attempt, not a job, is counted (the job ends once, later).
// Each end is seen by exactly one instance, so counts summed over instances
// count each job once. A job whose server was restarted while it ran records
// its own end, and no instance writes a line for it.
import type { AttemptRecord, JobRecord } from "../jobs/core/store.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** What saw the end: a process exiting here, a cancel here, the sweep here, or a read here that found an expired lease. */
export type EndSeen = "exit" | "cancel" | "sweep" | "read";

export class JobEvents {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics | null = null,
  ) {}

  submitted(id: string, type: string, state: "queued" | "running" = "queued"): void {
    this.metrics?.jobSubmitted(type);
    this.logger.info({ event: "job-submitted", job: id, type, state }, `job ${id} submitted (${type})`);
  }

  started(id: string, type: string, pid: number): void {
    this.logger.info({ event: "job-started", job: id, type, state: "running", pid }, `job ${id} started (${type}, pid ${pid})`);
  }

  /** A running job was asked to stop; type is null when its record could not be read after the request. */
  cancelRequested(id: string, type: string | null): void {
    this.logger.info({ event: "job-cancel-requested", job: id, type }, `job ${id}: cancel requested${type ? ` (${type})` : ""}`);
  }

  /**
   * An attempt of a job ended and the job was queued again: its record as
   * read after; ended: that attempt, when not the last one listed (the job
   * may have been retried again since).
   */
  retried(
    job: Pick<JobRecord, "id" | "type" | "attempt" | "maxAttempts" | "attempts">,
    seen: EndSeen,
    ended: AttemptRecord | undefined = job.attempts.at(-1),
  ): void {
    const reason = ended?.reason ?? "lost";
    const attempt = ended?.attempt ?? job.attempt - 1;
    this.metrics?.attemptRetried(job.type, reason);
    this.logger.warn(
      {
        event: "job-retried",
        job: job.id,
        type: job.type,
        state: "queued",
        reason,
        attempt,
        nextAttempt: attempt + 1,
        maxAttempts: job.maxAttempts,
        seen,
      },
      `job ${job.id} attempt ${attempt} of ${job.maxAttempts} ended (${reason}); queued again (${job.type})`,
    );
  }

  /** A job has ended: its record as read after the end. */
  finished(job: Pick<JobRecord, "id" | "type" | "state" | "reason" | "createdAt" | "startedAt" | "finishedAt">, seen: EndSeen): void {
    const runMs = job.startedAt !== null && job.finishedAt !== null ? job.finishedAt - job.startedAt : null;
    const waitedMs = job.createdAt !== null ? (job.startedAt ?? job.finishedAt ?? job.createdAt) - job.createdAt : null;
    this.metrics?.jobFinished(job.type, job.state, job.reason, runMs);
    if (job.reason === "lost" || job.reason === "never-started") this.metrics?.jobLost(job.type);
    const level = job.state === "succeeded" || job.state === "cancelled" ? "info" : "warn";
    this.logger[level](
      { event: "job-finished", job: job.id, type: job.type, state: job.state, reason: job.reason, durationMs: runMs, waitedMs, seen },
      `job ${job.id} ${job.state}${job.reason ? ` (${job.reason})` : ""} after ${runMs === null ? "not running" : `${runMs} ms`} (${job.type})`,
    );
  }
}

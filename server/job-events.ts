// The job transitions this server sees, each written as one log line and
// counted in the metrics. Counts summed over instances reconcile: per type,
// submitted = finished + queued + running, whatever fails on the way.
//
// - finished: each end is reported once, by the server-side call whose
//   transition made the job terminal; the script's reply says whether it did
//   (jobs/core/store/transitions.ts, FinishReply): a cancel of a waiting job
//   (public page, /admin, a bulk action: `seen: "cancel"`), the time limit
//   (`limit`), the sweep (`sweep`: a lost job), a read that finds a job's lease
//   expired (`read`), a check of a job of a type no live instance knows (`claim`),
//   and a process's exit recorded here (`exit`). A job's own process counts
//   nothing: the end it records waits in Redis until the server that started
//   it sees its exit and takes the report (`exit`); when that server is gone,
//   any instance's sweep takes it after REPORT_WAIT_MS (`sweep`). So a cancel
//   that races the spawn, an exit after a cancel, or a read after the sweep
//   can never count an end twice, and an end is counted even when the server
//   that started its process was killed.
// - submitted: counted once, by whichever instance marks the job's record
//   first (lua/submitted-1.lua): the instance whose create was answered marks
//   it at once (`seen: "create"`); when that answer was lost (Redis stopped
//   after running the create, the server killed), the first instance to
//   claim the job (`claim`) or to end it (`end`, on the end's line) counts
//   it. So a job that exists is counted submitted once it is seen, and a 503
//   whose create ran anyway does not leave a job counted finished and never
//   submitted.
// - started: this instance spawned the job's process. Its `state: "running"`
//   is what the process is about to record: the start transition runs in the
//   job's process, whose reply the server does not see; a process that finds
//   its job cancelled or lost meanwhile exits (code 4) without running it,
//   and the end's line says so (`durationMs: null`).
// - retried: one of those calls found an attempt ended (lost, or a failure
//   its type retries) and sent the job back to the queue for another attempt
//   instead of ending it: an attempt is counted, not a job (the job ends
//   once, later), and neither finished nor submitted changes.
import type { AttemptRecord, JobRecord, JobStore } from "../jobs/core/store.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** Which call made the job terminal (see the header). */
export type EndSeen = "exit" | "cancel" | "sweep" | "read" | "limit" | "claim";
/** Which call counted the submit (see the header). */
export type SubmitSeen = "create" | "claim" | "end";

/** How long a report waits for Redis to read the record of an end, between tries, and in all. */
export const REPORT_RETRY_MS = 250;
export const REPORT_GIVE_UP_MS = 120_000;

type EndFacts = Pick<JobRecord, "id" | "type" | "state" | "reason" | "createdAt" | "startedAt" | "finishedAt">;

export class JobEvents {
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics | null = null,
    /** Where an end's record is read, when its reporter has only the id. */
    private readonly store: JobStore | null = null,
  ) {}

  submitted(id: string, type: string, state: "queued" | "running" = "queued", seen: SubmitSeen = "create"): void {
    this.metrics?.jobSubmitted(type);
    this.logger.info({ event: "job-submitted", job: id, type, state, seen }, `job ${id} submitted (${type})`);
  }

  started(id: string, type: string, pid: number): void {
    this.logger.info({ event: "job-started", job: id, type, state: "running", pid }, `job ${id} started (${type}, pid ${pid})`);
  }

  /** A running job was asked to stop; type is null when its record could not be read after the request. */
  cancelRequested(id: string, type: string | null): void {
    this.logger.info({ event: "job-cancel-requested", job: id, type }, `job ${id}: cancel requested${type ? ` (${type})` : ""}`);
  }

  /**
   * A call made this job terminal (its reply said so): reads its record and
   * reports the end. Redis may fail just after the call: the read is tried
   * again until it answers (REPORT_GIVE_UP_MS at most), so the end is counted
   * once it does. Resolves after the first try.
   */
  async ended(id: string, seen: EndSeen, submitCounted: boolean): Promise<void> {
    const store = this.store;
    if (!store) return;
    const deadline = Date.now() + REPORT_GIVE_UP_MS;
    const attempt = async (): Promise<boolean> => {
      try {
        const job = await store.read(id, "auto", { resultLimit: 1 });
        // Expired already (a retention of seconds): nothing is left to say.
        if (job) this.finished(job, seen, submitCounted);
        return true;
      } catch {
        return false;
      }
    };
    if (await attempt()) return;
    const retry = (): void => {
      if (this.closed || Date.now() > deadline) {
        this.logger.warn({ event: "job-end-unreported", job: id, seen }, `could not read the end of job ${id} to report it`);
        return;
      }
      setTimeout(() => void attempt().then((ok) => ok || retry()), REPORT_RETRY_MS).unref();
    };
    retry();
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

  /** A job has ended by this instance's call: its record as read after the end; submitCounted: its submit is counted here too. */
  finished(job: EndFacts, seen: EndSeen, submitCounted = false): void {
    if (submitCounted) this.submitted(job.id, job.type, "queued", "end");
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

  /** Stops reports still waiting for Redis (the instance is closing). */
  close(): void {
    this.closed = true;
  }
}

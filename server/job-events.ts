// The job transitions this server sees, each written as one log line and
// counted in the metrics. Counts summed over instances reconcile: per type,
// submitted = finished + queued + running, whatever fails on the way.
//
// - finished: each end is reported once, by the instance that takes its
//   report (jobs/core/lua/take-report-2.lua). Every end waits in Redis for
//   that: the server-side call whose transition made the job terminal takes
//   it at once (its script's reply says whether it did,
//   jobs/core/store/transitions.ts, FinishReply): a cancel of a waiting job
//   (public page, /admin, a bulk action: `seen: "cancel"`), the time limit
//   (`limit`), the sweep (`sweep`: a lost job), a read that finds a job's
//   lease expired (`read`), a check of a job of a type no live instance knows
//   (`claim`), and a process's exit recorded here (`exit`). A job's own
//   process counts nothing: the server that started it takes the report when
//   it sees the exit (`exit`). An end whose report nobody took (that server
//   is gone, or a reply was lost) is taken by any instance's sweep after
//   REPORT_WAIT_MS (`sweep`). The taker is named on the record, so a take
//   sent again after a lost reply says the report is the caller's, and no
//   one else's: a cancel that races the spawn, an exit after a cancel, a read
//   after the sweep or a reply lost to a Redis outage can never count an end
//   twice nor leave it uncounted, and an end is counted even when the server
//   that started its process was killed.
// - submitted: counted once, by whichever instance marks the job's record
//   first (lua/submitted-1.lua): the instance whose create was answered marks
//   it at once (`seen: "create"`; the mark names the instance, so a mark sent
//   again after a lost reply is still counted once); when that answer was
//   lost (Redis stopped after running the create, the server killed), the
//   first instance to claim the job (`claim`) or to take the report of its
//   end (`end`, on the end's line) counts it. So a job that exists is counted submitted once it is seen, and a 503
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
import type { AttemptRecord, JobRecord, JobStore, TakenReport } from "../jobs/core/store.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** Which call made the job terminal (see the header). */
export type EndSeen = "exit" | "cancel" | "sweep" | "read" | "limit" | "claim";
/** Which call counted the submit (see the header). */
export type SubmitSeen = "create" | "claim" | "end";

/** How long a report waits for Redis to read the record of an end, between tries, and in all. */
export const REPORT_RETRY_MS = 250;
export const REPORT_GIVE_UP_MS = 120_000;

type EndFacts = Pick<JobRecord, "id" | "type" | "state" | "reason" | "createdAt" | "startedAt" | "finishedAt"> &
  Partial<Pick<JobRecord, "usage">>;

export class JobEvents {
  private closed = false;
  /** Called with each end this instance reported, its record as read then (the notifier's: it never throws nor waits). */
  onFinished: ((job: JobRecord) => void) | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics | null = null,
    /** Where an end's report is taken and its record read. */
    private readonly store: JobStore | null = null,
    /** The instance these events are of (it takes the reports of ends). */
    private readonly instanceId = "",
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
   * A call made this job terminal (its reply said so), or found its end
   * waiting for a report: takes the report and, when it is this instance's,
   * reports the end from the record the take returns. Redis may fail just after the
   * call: the take is tried again until Redis answers
   * (REPORT_GIVE_UP_MS at most; a take sent again is answered as the first
   * was), so the end is counted once. Resolves after the first try.
   */
  async ended(id: string, seen: EndSeen): Promise<void> {
    const store = this.store;
    if (!store) return;
    await this.untilAnswered(id, seen, async () => {
      // The record comes with the report: no read of its own.
      const { taken, submitCounted, job } = await store.takeReport(id, this.instanceId);
      if (!taken || !job) return;
      this.finished(job, seen, submitCounted);
      // The one place each end is seen once: those who asked to be told are told from here (server/notify/).
      this.onFinished?.(job);
    });
  }

  /** A call that recorded an end took its report in the same call (FinishReply.report): reports it, as ended() does once it has taken it. */
  reported(report: TakenReport, seen: EndSeen): void {
    if (!report.taken || !report.job) return;
    this.finished(report.job, seen, report.submitCounted);
    this.onFinished?.(report.job);
  }

  /**
   * This instance's create of a job was answered: marks its submit counted
   * (lua/submitted-1.lua) and counts it, unless a claim or an end counted it
   * first. Tried again while Redis does not answer, as ended() is.
   */
  async createAnswered(id: string, type: string, state: "queued" | "running"): Promise<void> {
    const store = this.store;
    if (!store) return;
    await this.untilAnswered(id, "create", async () => {
      if (await store.markSubmitted(id, this.instanceId)) this.submitted(id, type, state);
    });
  }

  /** Runs call, and again every REPORT_RETRY_MS while it throws (REPORT_GIVE_UP_MS at most); resolves after the first try. */
  private async untilAnswered(id: string, what: EndSeen | "create", call: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + REPORT_GIVE_UP_MS;
    const attempt = (): Promise<boolean> =>
      call().then(
        () => true,
        () => false,
      );
    if (await attempt()) return;
    const retry = (): void => {
      if (this.closed || Date.now() > deadline) {
        const event = what === "create" ? "job-submit-uncounted" : "job-end-unreported";
        this.logger.warn({ event, job: id, seen: what }, `could not reach Redis to count job ${id} (${what})`);
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
    const usage = job.usage ?? null;
    this.metrics?.jobFinished(job.type, job.state, job.reason, runMs, usage);
    if (job.reason === "lost" || job.reason === "never-started") this.metrics?.jobLost(job.type);
    const level = job.state === "succeeded" || job.state === "cancelled" ? "info" : "warn";
    this.logger[level](
      {
        event: "job-finished",
        job: job.id,
        type: job.type,
        state: job.state,
        reason: job.reason,
        durationMs: runMs,
        waitedMs,
        // What it used (null when its runner could not measure it: a lost job, one that never started).
        peakMemoryBytes: usage?.peakMemoryBytes ?? null,
        cpuMs: usage?.cpuMs ?? null,
        seen,
      },
      `job ${job.id} ${job.state}${job.reason ? ` (${job.reason})` : ""} after ${runMs === null ? "not running" : `${runMs} ms`} (${job.type})`,
    );
  }

  /** Stops reports still waiting for Redis (the instance is closing). */
  close(): void {
    this.closed = true;
  }
}

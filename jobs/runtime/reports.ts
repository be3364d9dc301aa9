// A Node type's progress reports (JobContext.report, progress), written to
// Redis at most once per REPORT_INTERVAL_MS (the first at once), with the
// latest counts and every result since, in order, as the runner writes a
// program's messages (messages.ts, Reporter). A report that has to wait is
// kept and report() returns at once: a
// job that reports faster than that (a count without delay, a loop over
// rows) costs Redis one write per interval, not one per call, and its last
// reports go with its end (flush). What a write's reply says (a cancel, the
// job fenced, its results full) is thrown by the next report() or sleep(),
// as a cancel is.
//
// A report with nothing in it (progress({})) asks Redis whether the job may
// go on: it is sent at once, with what waits, and waited for.
import { MAX_PENDING_RESULT_BYTES, REPORT_INTERVAL_MS, RESULTS_PER_REPORT } from "./messages.ts";

export interface Report {
  done?: number;
  total?: number;
  status?: string;
  results?: readonly unknown[];
}

export class Reports {
  private done: number | undefined;
  private total: number | undefined;
  private status: string | undefined;
  private results: unknown[] = [];
  private resultBytes = 0;
  /** Date.now() when the last write was sent. */
  private lastSentAt = -Infinity;
  private sending: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** A write failed in the background (not a refusal: those are the send's own to retry): thrown by the next call. */
  private failure: { error: unknown } | null = null;

  /** send writes one report and throws what its reply means (a cancel, the job fenced). */
  constructor(private readonly send: (report: Report) => Promise<void>) {}

  /** Whether reports wait for a write. */
  get waiting(): boolean {
    return !this.empty;
  }

  private get empty(): boolean {
    return this.done === undefined && this.total === undefined && this.status === undefined && this.results.length === 0;
  }

  /** Adds a report: written now (and waited for) when one is due, else kept for the next write. */
  async add(report: Report): Promise<void> {
    this.rethrow();
    const question = report.done === undefined && report.total === undefined && report.status === undefined && !report.results?.length;
    if (report.done !== undefined) this.done = report.done;
    if (report.total !== undefined) this.total = report.total;
    if (report.status !== undefined) this.status = report.status;
    for (const value of report.results ?? []) {
      this.results.push(value);
      this.resultBytes += (JSON.stringify(value) ?? "null").length;
    }
    const due = Date.now() - this.lastSentAt >= REPORT_INTERVAL_MS;
    // Too much waiting: the job waits for its write (as for a report sent at once).
    const full = this.results.length >= RESULTS_PER_REPORT || this.resultBytes >= MAX_PENDING_RESULT_BYTES;
    if (question || due || full) return this.flush(true);
    this.timer ??= setTimeout(
      () => {
        this.timer = null;
        this.flush().catch((error: unknown) => (this.failure ??= { error }));
      },
      this.lastSentAt + REPORT_INTERVAL_MS - Date.now(),
    );
    this.timer.unref();
  }

  /** Writes what waits (an empty report too when asked), after any write in flight; throws what its reply means. */
  flush(evenEmpty = false): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.empty && !evenEmpty) return this.sending.then(() => this.rethrow());
    const report: Report = { done: this.done, total: this.total, status: this.status, results: this.results };
    this.done = this.total = this.status = undefined;
    this.results = [];
    this.resultBytes = 0;
    this.lastSentAt = Date.now();
    const write = this.sending.then(() => {
      this.rethrow();
      return this.send(report);
    });
    this.sending = write.catch(() => {});
    return write;
  }

  /**
   * What waits, taken out to go with the job's end (null when nothing does),
   * once the write in flight is answered; throws what a write's reply meant.
   */
  async take(): Promise<Report | null> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.sending;
    this.rethrow();
    if (this.empty) return null;
    const report: Report = { done: this.done, total: this.total, status: this.status, results: this.results };
    this.done = this.total = this.status = undefined;
    this.results = [];
    this.resultBytes = 0;
    return report;
  }

  /** Drops what waits (the job is over without it: cancelled, fenced) and stops the timer. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private rethrow(): void {
    if (this.failure) throw this.failure.error;
  }
}

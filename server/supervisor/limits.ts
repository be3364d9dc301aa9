// Time limits of the job processes this instance started: its type's limit
// (else JOB_TIMEOUT_MS) after its start, a job is recorded failed (reason
// 'timeout') and its process is stopped with signals. The job's own process enforces the limit too; this is
// for one whose event loop is stuck. One timer per running process.
import type { FinishReply, JobStore } from "../../jobs/core/store.ts";

export interface TimeLimitsOptions {
  store: JobStore;
  log: (message: string) => void;
  /** Stops the job's process (SIGTERM, then SIGKILL). */
  stop: (id: string) => void;
  /** The limit's finish was recorded: its reply (which says whether it ended the job). */
  recorded: (id: string, reply: FinishReply) => void;
}

export class TimeLimits {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: TimeLimitsOptions) {}

  /** Starts the clock of a job whose process has just been started, for its attempt (the limit never ends another). */
  arm(id: string, timeoutMs: number, attempt: number): void {
    this.disarm(id);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      void this.timeOut(id, attempt);
    }, timeoutMs);
    timer.unref();
    this.timers.set(id, timer);
  }

  /** The job's process has exited: its limit no longer applies. */
  disarm(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async timeOut(id: string, attempt: number): Promise<void> {
    const { store, log, stop, recorded } = this.options;
    try {
      recorded(id, await store.finish(id, "failed", "force", { reason: "timeout" }, attempt));
    } catch (err) {
      log(`could not record the time limit of job ${id}: ${(err as Error).message}`);
    }
    stop(id);
  }
}

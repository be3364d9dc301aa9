// A place that runs jobs for the instance, behind a scheduler: a job is
// submitted, waits in the scheduler's queue, runs the same runner as a local
// job (build/jobs/runner.js, which holds the lease and records the end in
// Redis), and leaves the queue. server/supervisor/remote-jobs.ts tracks the
// jobs submitted to one; each scheduler is one module implementing this
// interface (slurm.ts). Local jobs are processes of the instance (local.ts).
import type { JobType } from "../../jobs/core/job-type.ts";
import type { EndReason } from "../../jobs/core/store.ts";

/** One job to submit: the runner runs `<id> <attempt>` with exactly env. */
export interface RemoteJob {
  id: string;
  attempt: number;
  type: JobType;
  /** The runner's whole environment (the allow-listed job environment: never the server's own). */
  env: Record<string, string>;
  /** Where its stdout and stderr go (a path the compute nodes share). */
  logFile: string;
  /** Its working folder for the scheduler (the log folder). */
  dir: string;
  /** Its time limit (ms) and memory (MiB; 0: none) for this attempt. */
  timeoutMs: number;
  memoryMB: number;
}

/** A sidejob job in the scheduler's queue (pending, running, completing). */
export interface QueuedJob {
  /** The scheduler's id of it. */
  remoteId: string;
  /** The sidejob job and attempt it runs, from its name. */
  id: string;
  attempt: number;
  state: string;
  /** The scheduler's reason ("Resources", "Priority"); "" for none. */
  reason: string;
}

/** How a job that left the queue ended, as the scheduler tells it. */
export interface RemoteEnd {
  /** The scheduler's state (COMPLETED, FAILED, TIMEOUT, CANCELLED, …; "" when it no longer knows the job). */
  state: string;
  reason: EndReason;
  exitCode: number | null;
  signal: string | null;
  /** For the operators: what the scheduler said. */
  detail: string;
  /** The scheduler still has it pending or running (it was missing from one read of the queue only). */
  stillQueued?: boolean;
}

/** The scheduler could not be reached (its controller is down or restarting): try again later; nothing was refused. */
export class SchedulerUnavailable extends Error {}

export interface RemoteLauncher {
  /** "slurm": the value of a type's runOn that it runs. */
  readonly place: string;
  /** Submits a job; its id in the scheduler. Throws SchedulerUnavailable when the scheduler could not be reached. */
  submit(job: RemoteJob): Promise<string>;
  /** Every sidejob job in the scheduler's queue now: one call, whatever their number. */
  queue(): Promise<QueuedJob[]>;
  /** Asks the scheduler to stop these jobs (pending or running). */
  cancel(remoteIds: readonly string[]): Promise<void>;
  /** How a job that has left the queue ended. logFile: its output, where the scheduler may have written why it killed it. */
  ended(remoteId: string, logFile: string): Promise<RemoteEnd>;
}

// The jobs this instance submitted to a scheduler (server/launchers/remote.ts;
// Slurm: server/launchers/slurm.ts), as processes.ts is for local processes.
// Once a claimed job is submitted, its runner on a compute node starts it,
// holds its lease and records its end, as a local runner does. Here:
// - submit: the claim becomes a scheduler's job; its id is recorded on the
//   job (lua/slurm-2.lua), or the job fails spawn-failed;
// - one poll of the scheduler's queue every POLL_MS, whatever the number of
//   jobs: each job's state and reason are recorded when they change (its
//   page shows them), and the lease of a job still waiting in the
//   scheduler's queue, or suspended by it, is renewed;
// - a job that left the queue: its end is recorded as for a process that
//   exited (the runner's own end stands; else the scheduler's reason:
//   memory-limit, timeout, lost for a node failure, a preemption or an
//   operator's cancel, which the type's retry rules may run again);
// - a job whose record was cancelled (or ended by the server, or is gone)
//   while it is still in the queue is cancelled in the scheduler;
// - after a restart, the jobs the queue names (sidejob-<id>-<attempt>) are
//   tracked again, by whichever instance polls;
// - SLURM_MAX_SUBMITTED holds over the deployment: a job takes a place in
//   Redis (lua/slurm-places-1.lua) before sbatch, or goes back to the queue;
//   each read of the queue renews the places of the jobs in it, and a job
//   that left it gives its place back.
import { tail } from "../launchers/local.ts";
import { SchedulerUnavailable, type QueuedJob, type RemoteLauncher } from "../launchers/remote.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import type { FinishReply, JobStore } from "../../jobs/core/store.ts";

/** How often the scheduler's queue is read (one call for all of an instance's jobs). */
export const POLL_MS = 1000;
/** How often a running job's record is looked at (ms), in case it ended while its Slurm job runs on. */
const CHECK_MS = 5000;
/** A job whose record ended is cancelled in the scheduler if its runner has not left the queue in this long (ms). */
const ENDED_GRACE_MS = 10_000;
/** After the scheduler could not be reached for a submit, no claim for this long (ms): the job went back to the queue. */
const UNREACHABLE_WAIT_MS = 5000;
/** Slurm's states of a job that waits (its runner has not started, or Slurm stopped it): its lease is the instance's to renew. */
const HELD = new Set(["PENDING", "CONFIGURING", "SUSPENDED"]);
/** A submitted job's place (SLURM_MAX_SUBMITTED) lapses when no instance renewed it in this long (ms): each queue read renews it. */
export const PLACE_HOLD_MS = 30_000;

interface Tracked {
  remoteId: string;
  attempt: number;
  type: string;
  logFile: string;
  /** What was last recorded of it: "state|reason". */
  recorded: string;
  /** When its record was last written (ms). */
  renewedAt: number;
  /** When its record was first seen ended while it was still queued (ms); 0: not seen. */
  endedSeenAt: number;
  cancelled: boolean;
  /** Its end being recorded. */
  leaving?: boolean;
  /** When it was submitted (ms): a queue read that began before it cannot show it. */
  submittedAt: number;
}

export interface RemoteJobsOptions {
  launcher: RemoteLauncher;
  store: JobStore;
  /** The job environment (never the server's own). */
  env: Record<string, string>;
  logFileFor: (id: string) => string;
  logDir: string;
  /** The time limit and memory (MiB) of an attempt. */
  limitsOf: (type: JobType, attempt: number) => { timeoutMs: number; memoryMB: number };
  typeOf: (name: string) => JobType | undefined;
  /** The start lease a waiting job is renewed for (ms). */
  leaseMs: number;
  /** Jobs kept submitted at once by the whole deployment: each takes a place in Redis before it is submitted. */
  maxSubmitted: number;
  /** Gives a claimed job back to the queue (no place was free for it). */
  release: (id: string) => Promise<void>;
  log: (message: string) => void;
  /** The end of a job that left the queue was recorded: its reply (null: Redis did not answer). */
  onRecorded: (id: string, reply: FinishReply | null, attempt: number) => Promise<void>;
}

export class RemoteJobs {
  private readonly jobs = new Map<string, Tracked>();
  /** Submits in flight. */
  private submitting = 0;
  /** How many sidejob jobs the queue held at the last poll. */
  private queued = 0;
  /** How many places the deployment's jobs held at the last renewal. */
  private places = 0;
  /** A place was refused since the last poll: no claim until the next one. */
  private full = false;
  /** The scheduler could not be reached for a submit: no claim before this (ms). */
  private unreachableUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private pollStartedAt = 0;
  private closed = false;
  private failures = 0;
  /** Why the last read of the queue failed; "" when it did not. */
  private lastError = "";

  constructor(private readonly options: RemoteJobsOptions) {}

  get size(): number {
    return this.jobs.size;
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  countOf(type: string): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.type === type) n++;
    return n;
  }

  /** Whether one more job may be submitted, as far as this instance knows (the place it takes in Redis decides). */
  hasRoom(): boolean {
    return (
      !this.full &&
      Date.now() >= this.unreachableUntil &&
      Math.max(this.jobs.size, this.queued, this.places) + this.submitting < this.options.maxSubmitted
    );
  }

  /** For the instance's heartbeat (/admin): the deployment's jobs submitted (places taken, at the last renewal), at most, and why the queue could not be read. */
  facts(): { submitted: number; max: number; error: string } {
    return { submitted: Math.max(this.places, this.jobs.size), max: this.options.maxSubmitted, error: this.lastError };
  }

  /** Starts polling the queue (at once: a restart takes its jobs back). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
    void this.poll();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Submits a claimed job once it has a place among the deployment's SLURM_MAX_SUBMITTED (else it goes back to the
   * queue); false when it was not submitted (given back, or recorded failed when sbatch refused it).
   */
  async submit(id: string, typeName: string, attempt: number): Promise<boolean> {
    const { launcher, store, env, logDir } = this.options;
    const type = this.options.typeOf(typeName);
    if (!type) return false;
    const logFile = this.options.logFileFor(id);
    this.submitting++;
    const placed = await store.takeSlurmPlace(id, this.options.maxSubmitted, PLACE_HOLD_MS).catch(() => false);
    if (!placed) {
      this.submitting--;
      this.full = true;
      // Every place is taken: no claim until a renewal (each poll makes one now) reads that one is free.
      this.places = Math.max(this.places, this.options.maxSubmitted);
      await this.options.release(id).catch(() => {});
      return false;
    }
    let remoteId: string;
    try {
      remoteId = await launcher.submit({ id, attempt, type, env, logFile, dir: logDir, ...this.options.limitsOf(type, attempt) });
    } catch (err) {
      this.submitting--;
      await store.slurmPlaces("leave", [id], PLACE_HOLD_MS).catch(() => 0);
      if (err instanceof SchedulerUnavailable) {
        // The controller is away (a restart, an outage): the job waits in sidejob's queue, and is submitted once it is back.
        if (Date.now() >= this.unreachableUntil)
          this.options.log(`${launcher.place} could not be reached; job ${id} waits: ${err.message}`);
        this.unreachableUntil = Date.now() + UNREACHABLE_WAIT_MS;
        await this.options.release(id).catch(() => {});
        return false;
      }
      this.options.log(`could not submit job ${id} to ${launcher.place}: ${(err as Error).message}`);
      const reply = await store
        .finish(id, "failed", "force", { reason: "spawn-failed", detail: (err as Error).message }, attempt)
        .catch(() => null);
      await this.options.onRecorded(id, reply, attempt);
      return false;
    }
    this.submitting--;
    this.jobs.set(id, {
      remoteId,
      attempt,
      type: typeName,
      logFile,
      recorded: "",
      renewedAt: 0,
      endedSeenAt: 0,
      cancelled: false,
      submittedAt: Date.now(),
    });
    await this.record(id, { remoteId, id, attempt, state: "PENDING", reason: "" }).catch(() => {});
    return true;
  }

  /** Cancels a job in the scheduler (a cancel its runner did not obey in time). */
  async cancel(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (!job || job.cancelled) return;
    job.cancelled = true;
    await this.options.launcher
      .cancel([job.remoteId])
      .catch((err: Error) => this.options.log(`could not cancel job ${id}: ${err.message}`));
  }

  /** Records a queued job's state and reason when they changed, renewing a waiting job's lease; returns the job's state. */
  private async record(id: string, q: QueuedJob): Promise<string> {
    const job = this.jobs.get(id)!;
    const now = Date.now();
    // A waiting job's lease is renewed here; so is a suspended one's (an operator's scontrol suspend, a preemption by
    // suspension), whose runner is stopped too, so that it is not taken for lost.
    const held = HELD.has(q.state);
    const key = `${q.state}|${q.reason}`;
    // A waiting job is looked at every poll (a cancel of it is the scheduler's to carry out); a running one, whose
    // runner obeys a cancel itself, when its state changes or every CHECK_MS.
    if (key === job.recorded && !held && job.endedSeenAt === 0 && now - job.renewedAt < CHECK_MS) return "";
    const state = await this.options.store.recordSlurm(
      id,
      job.attempt,
      { jobId: q.remoteId, state: q.state, reason: q.reason },
      held ? this.options.leaseMs : null,
    );
    job.recorded = key;
    job.renewedAt = now;
    return state;
  }

  /**
   * The queue could not be read (the controller restarts): the jobs last seen waiting or suspended still are, as
   * far as anyone knows (Slurm keeps its jobs across a restart), so their leases are renewed; a running job's
   * runner renews its own.
   */
  private async holdWaiting(): Promise<void> {
    await Promise.all(
      [...this.jobs].map(async ([id, job]) => {
        const [state = "", reason = ""] = job.recorded.split("|");
        if (!HELD.has(state)) return;
        await this.options.store.recordSlurm(id, job.attempt, { jobId: job.remoteId, state, reason }, this.options.leaseMs).catch(() => "");
      }),
    );
  }

  /** One poll: the queue, then each tracked job. While a read of the queue hangs (up to its timeout), the waiting jobs' leases are renewed meanwhile. */
  poll(): Promise<void> {
    if (this.polling && Date.now() - this.pollStartedAt >= POLL_MS) void this.holdWaiting();
    if (!this.polling) {
      this.pollStartedAt = Date.now();
      this.polling = this.pollOnce().finally(() => (this.polling = null));
    }
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (this.closed) return;
    const { launcher, log } = this.options;
    let queue: QueuedJob[];
    const askedAt = Date.now();
    try {
      queue = await launcher.queue();
      if (this.failures > 0) log(`${launcher.place}: its queue answers again`);
      this.failures = 0;
      this.lastError = "";
    } catch (err) {
      this.lastError = (err as Error).message;
      if (this.failures++ % 30 === 0) log(`${launcher.place}: could not read its queue: ${(err as Error).message}`);
      await this.holdWaiting();
      return;
    }
    this.queued = queue.length;
    this.full = false;
    const inQueue = new Map(queue.map((q) => [q.id, q]));
    // Jobs submitted before a restart (or by an instance that is gone): tracked again.
    for (const q of queue) {
      if (this.jobs.has(q.id)) continue;
      const type = await this.typeOfJob(q.id);
      if (type === null) continue;
      this.jobs.set(q.id, {
        remoteId: q.remoteId,
        attempt: q.attempt,
        type,
        logFile: this.options.logFileFor(q.id),
        recorded: "",
        renewedAt: 0,
        endedSeenAt: 0,
        cancelled: false,
        submittedAt: 0,
      });
    }
    const toCancel: string[] = [];
    await Promise.all(
      [...this.jobs].map(async ([id, job]) => {
        const q = inQueue.get(id);
        if (!q || q.remoteId !== job.remoteId) {
          // Submitted while the queue was being read: the next read shows it.
          if (job.submittedAt >= askedAt) return;
          await this.left(id, job);
          return;
        }
        try {
          const state = await this.record(id, q);
          const gone = state === "" || state === "other" || state === "cancelled" || state === "failed" || state === "succeeded";
          if (!gone || state === "") return;
          // Its record ended (a cancel, the server's limit) or moved on: the runner stops by itself, else the scheduler stops it.
          const now = Date.now();
          if (job.endedSeenAt === 0) job.endedSeenAt = now;
          const waiting = q.state === "PENDING";
          if (!job.cancelled && (waiting || state === "other" || state === "cancelled" || now - job.endedSeenAt >= ENDED_GRACE_MS)) {
            job.cancelled = true;
            toCancel.push(job.remoteId);
          }
        } catch {
          // Redis did not answer: the next poll tries again.
        }
      }),
    );
    if (toCancel.length > 0)
      await launcher.cancel(toCancel).catch((err: Error) => log(`${launcher.place}: could not cancel: ${err.message}`));
    // The places of the jobs in the queue (every instance's that this one tracks) are renewed, in one call.
    const listed = [...this.jobs.keys()].filter((id) => inQueue.has(id));
    if (listed.length > 0 || this.places > 0)
      this.places = await this.options.store.slurmPlaces("renew", listed, PLACE_HOLD_MS).catch(() => this.places);
  }

  /** The type of a job found in the queue that this instance does not track; null when the store does not have it. */
  private async typeOfJob(id: string): Promise<string | null> {
    try {
      const job = await this.options.store.read(id, "auto", { resultLimit: 0 });
      return job && this.options.typeOf(job.type)?.runOn === this.options.launcher.place ? job.type : null;
    } catch {
      return null;
    }
  }

  /** A job left the queue: its end is recorded, as for a process that exited. */
  private async left(id: string, job: Tracked): Promise<void> {
    const { launcher, store } = this.options;
    if (this.jobs.get(id) !== job || job.leaving) return;
    job.leaving = true;
    let reply: FinishReply | null = null;
    try {
      const end = await launcher.ended(job.remoteId, job.logFile);
      if (end.stillQueued) {
        // squeue did not list it, but the scheduler still has it (a read between two of its states): not ended.
        job.leaving = false;
        return;
      }
      this.jobs.delete(id);
      const logTail = await tail(job.logFile);
      const detail = [end.detail, logTail].filter(Boolean).join("\n");
      const type = this.options.typeOf(job.type);
      const memoryMB = type ? this.options.limitsOf(type, job.attempt).memoryMB : 0;
      const limit = end.reason === "memory-limit" && memoryMB > 0 ? { limit: memoryMB } : {};
      await store.recordSlurm(id, job.attempt, { jobId: job.remoteId, state: end.state || "GONE", reason: "" }, null).catch(() => "");
      await store.slurmPlaces("leave", [id], PLACE_HOLD_MS).catch(() => 0);
      reply = await store.finish(
        id,
        "failed",
        "exit",
        { reason: end.reason, exitCode: end.exitCode, signal: end.signal, detail, ...limit },
        job.attempt,
      );
    } catch (err) {
      this.jobs.delete(id);
      this.options.log(`could not record the end of job ${id}: ${(err as Error).message}`);
    }
    await this.options.onRecorded(id, reply, job.attempt);
  }

  /** Resolves once no job is tracked here (for tests). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0 || this.submitting > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

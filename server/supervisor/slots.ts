// Taking queued jobs: whenever this instance has a free slot for some job
// type (fewer processes of that type than its concurrency), claim the oldest
// queued job of such a type from Redis and start it. Any instance may take
// any job, so more instances add capacity.
//
// A claim that fails for want of an answer may still have been run by Redis
// (it answered after the command timeout, or the reply was lost): the job is
// then this instance's, out of the queue, with no process, and would end
// failed (never-started) once its start lease ran out. So after such a
// failure, the next pump first gives back to the queue every claim of this
// instance that has no process here (JobStore.release, which leaves any job
// that is not this owner's queued claim as it is). The same holds for a job
// created already claimed (JOB_QUEUE_MAX=0) whose answer was lost
// (claimUnanswered).
import type { JobStore } from "../../jobs/core/store.ts";

/**
 * Added to the lease of a job that has been claimed but whose process has not
 * reported yet: starting Node on a loaded machine can take seconds, and
 * heartbeats only begin once it runs.
 */
export const START_GRACE_MS = 10_000;

export interface SlotsOptions {
  store: JobStore;
  instanceId: string;
  /** JOB_MAX_RUNNING_PER_SUBMITTER: a claim passes over a submitter with this many jobs claimed or running (0: no limit). */
  maxRunningPerSubmitter: number;
  /** The lease of a running job (three heartbeats). */
  leaseMs: number;
  /** The types this instance has a free slot for, now. */
  freeTypes: () => string[];
  /** Every type a live instance knows, as last read: a queued job of another type is passed over, never run. */
  knownTypes: () => readonly string[];
  /** Queued jobs of a type not in knownTypes that a claim passed over (the caller may end them). */
  unknown: (ids: string[]) => void;
  /** Starts the claimed job's process; submitCounted: this claim counted its submit (no instance had). */
  start: (id: string, type: string, attempt: number, submitCounted: boolean) => void;
  /** Whether a process started here for the job is still running. */
  running: (id: string) => boolean;
  /** Whether a job is being created already claimed by this instance, its answer not yet in (JOB_QUEUE_MAX=0). */
  creating: () => boolean;
  log: (line: string) => void;
  /** Redis did not answer (written once per outage by the caller, not once per pump). */
  failed: (err: unknown) => void;
}

export class Slots {
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private closed = false;
  /** A claim failed without an answer: it may have been run all the same. */
  private unanswered = false;

  constructor(private readonly options: SlotsOptions) {}

  /** Starts queued jobs while there are free slots. Safe to call often: calls during a pump make it look again. */
  pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    // .finally runs after this assignment even when drain() finishes at once.
    this.pumping = this.drain().finally(() => {
      this.pumping = null;
    });
    return this.pumping;
  }

  /** Takes no more jobs; resolves once a pump in progress has finished. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
  }

  private async drain(): Promise<void> {
    const { store, instanceId, leaseMs, freeTypes, knownTypes, unknown, start, failed, maxRunningPerSubmitter } = this.options;
    try {
      if (this.unanswered && !this.options.creating()) {
        await this.releaseUnstarted();
        this.unanswered = false;
      }
      do {
        this.pumpAgain = false;
        for (let free = freeTypes(); !this.closed && free.length > 0; free = freeTypes()) {
          let claimed;
          try {
            const passedOver: string[] = [];
            claimed = await store.claim(instanceId, leaseMs + START_GRACE_MS, free, knownTypes(), passedOver, maxRunningPerSubmitter);
            if (passedOver.length > 0) unknown(passedOver);
          } catch (err) {
            this.unanswered = true;
            throw err;
          }
          if (!claimed) break;
          start(claimed.id, claimed.type, claimed.attempt, claimed.submitCounted);
        }
      } while (this.pumpAgain && !this.closed);
    } catch (err) {
      failed(err);
    }
  }

  /**
   * A job created already claimed by this instance (JOB_QUEUE_MAX=0) failed
   * for want of an answer: Redis may have run it, as with a claim, so the
   * next pump gives such claims back to the queue.
   */
  claimUnanswered(): void {
    this.unanswered = true;
  }

  /** Gives back to the queue this instance's claims that have no process here. */
  private async releaseUnstarted(): Promise<void> {
    const { store, instanceId, running, log } = this.options;
    const candidates = (await store.leasedIds()).filter((id) => !running(id));
    const released = await Promise.all(candidates.map((id) => store.release(id, instanceId, true)));
    const n = released.filter(Boolean).length;
    if (n > 0) log(`supervisor: ${n} claim(s) run by Redis after their answer was given up went back to the queue`);
  }
}

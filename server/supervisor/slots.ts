// Taking queued jobs: whenever this instance has a free slot for some job
// type (fewer processes of that type than its concurrency), claim the oldest
// queued job of such a type from Redis and start it. Any instance may take
// any job, so more instances add capacity.
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
  /** The lease of a running job (three heartbeats). */
  leaseMs: number;
  /** The types this instance has a free slot for, now. */
  freeTypes: () => string[];
  /** Every type this instance knows (a queued job of another type is ended, never run). */
  knownTypes: readonly string[];
  /** Starts the claimed job's process. */
  start: (id: string, type: string) => void;
  /** Redis did not answer (written once per outage by the caller, not once per pump). */
  failed: (err: unknown) => void;
}

export class Slots {
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private closed = false;

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
    const { store, instanceId, leaseMs, freeTypes, knownTypes, start, failed } = this.options;
    try {
      do {
        this.pumpAgain = false;
        for (let free = freeTypes(); !this.closed && free.length > 0; free = freeTypes()) {
          const claimed = await store.claim(instanceId, leaseMs + START_GRACE_MS, free, knownTypes);
          if (!claimed) break;
          start(claimed.id, claimed.type);
        }
      } while (this.pumpAgain && !this.closed);
    } catch (err) {
      failed(err);
    }
  }
}

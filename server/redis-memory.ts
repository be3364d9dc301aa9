// How full Redis is, for the web: new jobs and uploads are refused (503)
// before Redis is full, and a Redis that refuses writes is an outage the log
// and /healthz report, not a bug.
//
// - Room for new work: INFO memory (used_memory, maxmemory; on a Cluster,
//   each master's, the fullest counts), read at most once a second and
//   shared by the requests of that second. At REDIS_MEMORY_REFUSE_PERCENT of
//   maxmemory or more, a submit or an upload answers 503 with Retry-After
//   before it writes anything, so that what is already running (results,
//   logs, the end of each job) still has room. maxmemory 0: no bound to check.
// - Refused writes: every StoreWriteRefusedError a request meets (out of
//   memory, a failed save...) answers 503 (errors.ts) and is written here as
//   one warning when it starts, then every 30 s at most while it lasts, and
//   once when it is over (RepeatedWarning), never with a stack.
import type { JobStore, StoreWriteRefusedError, WriteRefusals } from "../jobs/core/store.ts";
import { HttpError } from "./errors.ts";
import { RepeatedWarning, silentLogger, type Logger } from "./log.ts";

/** How long one reading of INFO memory is used. */
export const MEMORY_CACHE_MS = 1000;
/** A write refused this recently means Redis refuses writes now (/healthz). */
export const REFUSED_RECENT_MS = 5000;

export interface MemoryFacts {
  /** used_memory of the fullest master (bytes). */
  usedBytes: number;
  /** Its maxmemory (bytes); 0: no limit. */
  maxBytes: number;
  /** usedBytes as a share of maxBytes (%, one decimal); null without a limit. */
  usedPercent: number | null;
}

export class RedisMemory {
  private reading: { at: number; facts: Promise<MemoryFacts> } | null = null;
  private readonly warning: RepeatedWarning;

  constructor(
    private readonly store: JobStore,
    /** REDIS_MEMORY_REFUSE_PERCENT. */
    readonly refusePercent: number,
    logger: Logger = silentLogger,
    private readonly refusals: WriteRefusals = store.refusals,
  ) {
    this.warning = new RepeatedWarning("Redis refuses writes, requests that write answer 503", logger);
  }

  /** Used and maximum memory, read at most once per MEMORY_CACHE_MS. */
  facts(now = Date.now()): Promise<MemoryFacts> {
    if (this.reading && now - this.reading.at < MEMORY_CACHE_MS) return this.reading.facts;
    const facts = this.store.memory().then((nodes) => {
      let fullest: MemoryFacts = { usedBytes: 0, maxBytes: 0, usedPercent: null };
      for (const { usedBytes, maxBytes } of nodes) {
        const usedPercent = maxBytes > 0 ? Math.round((usedBytes / maxBytes) * 1000) / 10 : null;
        if (fullest.usedBytes === 0 || (usedPercent ?? -1) > (fullest.usedPercent ?? -1)) fullest = { usedBytes, maxBytes, usedPercent };
      }
      return fullest;
    });
    this.reading = { at: now, facts };
    // A failed reading is not kept: the next request reads again.
    facts.then(
      (f) => {
        if (!this.refusingWrites() && (f.usedPercent === null || f.usedPercent < 100)) this.warning.succeeded();
      },
      () => {
        if (this.reading?.facts === facts) this.reading = null;
      },
    );
    return facts;
  }

  /** A request met a write Redis refused: the warning (once, then every 30 s). */
  refused(err: StoreWriteRefusedError): void {
    this.warning.failed(err);
  }

  /** Whether Redis refused one of this instance's writes within REFUSED_RECENT_MS. */
  refusingWrites(now = Date.now()): boolean {
    return this.refusals.within(REFUSED_RECENT_MS, now);
  }

  /** Whether new jobs and uploads are refused: writes refused now, or memory at the threshold. */
  isFull(facts: MemoryFacts): boolean {
    return this.refusingWrites() || (facts.usedPercent !== null && facts.usedPercent >= this.refusePercent);
  }

  /** Throws a 503 when there is no room for a new job or upload (see isFull); a Redis that does not answer throws its own error. */
  async checkRoom(): Promise<void> {
    const facts = await this.facts();
    if (!this.isFull(facts)) return;
    throw new HttpError(503, "The job store is nearly full, so no new job can be accepted right now. Please try again in a few minutes.", {
      title: "Too busy right now",
      detail: ["Jobs already running are not affected."],
      headers: { "Retry-After": "60" },
      code: "store-full",
    });
  }
}

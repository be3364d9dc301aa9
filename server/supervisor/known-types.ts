// Which job types the deployment knows: this instance's, and those each live
// instance lists in its heartbeat (InstanceFacts.known). A claim passes over
// a queued job of a type not among them (claim-5.lua); such a job is ended
// failed ('unknown-type', end-unknown-6.lua) only when no live instance
// knows its type, read just before, and it has waited a heartbeat's
// lifetime: an instance of another version (a rolling upgrade) or with
// another JOB_TYPES_DIR may run it, and one that has just started may have
// taken its submit before its first heartbeat.
import type { JobStore } from "../../jobs/core/store.ts";
import { typesKnown } from "../type-runners.ts";

export interface KnownTypesOptions {
  store: JobStore;
  /** The types this instance knows. */
  own: readonly string[];
  /** How long a job of a type no live instance knows waits before it ends (ms): a heartbeat's lifetime. */
  waitMs: number;
  /** The least time between two checks of passed-over jobs (ms). */
  checkEveryMs: number;
  /** Each job a check ended, for its caller to report. */
  ended: (id: string) => void;
  /** Redis did not answer a check. */
  failed: (err: unknown) => void;
}

export class KnownTypes {
  /** The types the live instances know, as last read. */
  private live: readonly string[] = [];
  private checkedAt = 0;

  constructor(private readonly options: KnownTypesOptions) {}

  /** Every type a claim may leave waiting: this instance's, and the live instances' as last read. */
  all(): readonly string[] {
    return this.live.length === 0 ? this.options.own : [...new Set([...this.options.own, ...this.live])];
  }

  /** Reads the types the live instances know (with each heartbeat of this instance). */
  async refresh(): Promise<readonly string[]> {
    const { instances } = await this.options.store.instances();
    this.live = [...typesKnown(instances)];
    return this.all();
  }

  /** Queued jobs a claim passed over for their type: ends those no live instance knows (at most one check per checkEveryMs). */
  async passedOver(ids: readonly string[]): Promise<void> {
    const { store, waitMs, checkEveryMs, ended, failed } = this.options;
    if (Date.now() - this.checkedAt < checkEveryMs) return;
    this.checkedAt = Date.now();
    try {
      const known = await this.refresh();
      for (const id of ids) {
        if (await store.endUnknownType(id, known, waitMs)) ended(id);
      }
    } catch (err) {
      failed(err);
    }
  }
}

// Which job types some live instance runs right now, from the instances'
// heartbeats (each carries its slots per type; a type at 0 is not run
// there). A queued job's page reads it to say when no instance runs its
// type. The read is kept a few seconds, so many pages opened at once cost
// Redis one read, and the status poll never reads it.
import type { JobStore } from "../jobs/core/store.ts";

/** How long one read of the heartbeats answers. */
export const TYPE_RUNNERS_TTL_MS = 5000;

/** The types with a slot on some live instance, from its heartbeat's facts (InstanceFacts.types). */
export function typesRun(instances: { facts: Record<string, unknown> }[]): Set<string> {
  const run = new Set<string>();
  for (const { facts } of instances) {
    const types = facts.types;
    if (typeof types !== "object" || types === null) continue;
    for (const [name, slots] of Object.entries(types as Record<string, unknown>)) {
      const total = (slots as { total?: unknown } | null)?.total;
      if (typeof total === "number" && total > 0) run.add(name);
    }
  }
  return run;
}

/** The types some live instance knows, run there or not, from its heartbeat's facts (InstanceFacts.known). */
export function typesKnown(instances: { facts: Record<string, unknown> }[]): Set<string> {
  const known = new Set<string>();
  for (const { facts } of instances) {
    if (Array.isArray(facts.known)) for (const t of facts.known) if (typeof t === "string") known.add(t);
  }
  return known;
}

export class TypeRunners {
  private kept: { at: number; read: Promise<Set<string> | null> } | null = null;

  constructor(
    private readonly store: Pick<JobStore, "instances">,
    private readonly ttlMs = TYPE_RUNNERS_TTL_MS,
  ) {}

  /**
   * Whether some live instance runs this type: true or false, or null when
   * Redis does not answer (the page then says nothing about it).
   */
  async runs(type: string, now = Date.now()): Promise<boolean | null> {
    if (!this.kept || now - this.kept.at >= this.ttlMs) {
      this.kept = {
        at: now,
        read: this.store.instances().then(
          ({ instances }) => typesRun(instances),
          () => null,
        ),
      };
    }
    const run = await this.kept.read;
    return run === null ? null : run.has(type);
  }
}

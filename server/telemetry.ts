// What an instance tells its operators, made once and handed to the app, the
// request listener and the supervisor: the logger (log.ts), the count of
// status polls (request-log.ts), the metrics (metrics.ts) and the job
// transitions (job-events.ts).
import type { JobStore } from "../jobs/core/store.ts";
import { JobEvents } from "./job-events.ts";
import type { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { PollTally } from "./request-log.ts";

export interface Telemetry {
  instanceId: string;
  /** The instance's logger: every line carries `instance`. */
  logger: Logger;
  polls: PollTally;
  metrics: Metrics;
  events: JobEvents;
  /** Writes the last poll count and stops its timer. */
  close(): void;
}

export interface TelemetryOptions {
  instanceId: string;
  /** The job types this instance knows (their metrics exist from the start). */
  types: readonly string[];
  /** The root logger; the telemetry's own adds `instance` to every line. */
  logger: Logger;
  /** The store the pages use: the metrics read the cluster's values through it. */
  store: JobStore;
  /** Every store of the instance, whose Redis errors are counted. */
  stores: readonly JobStore[];
}

export function createTelemetry({ instanceId, types, logger, store, stores }: TelemetryOptions): Telemetry {
  const log = logger.child({ instance: instanceId });
  const polls = new PollTally(log);
  polls.start();
  const metrics = new Metrics({ instanceId, types, store, stores, polls });
  const events = new JobEvents(log, metrics, store, instanceId);
  // An end a call of this instance made on the way (a read that found a
  // job's lease expired) is reported here, once its report is taken.
  for (const s of stores) {
    s.onEnded = (end) => void events.ended(end.id, end.seen);
    // A read that found a job's lease expired and sent it back to the queue: a retry, not an end.
    s.onRetried = (job) => events.retried(job, "read");
  }
  return {
    instanceId,
    logger: log,
    polls,
    metrics,
    events,
    close: () => {
      polls.close();
      events.close();
    },
  };
}

// The server's metrics, in Prometheus' text format at GET /metrics (off
// unless METRICS_TOKEN is set; see docs/operations.md, "Metrics").
//
// Each app has a registry of its own (never prom-client's global one), so
// several apps can run in one process. Counts this instance makes (jobs
// submitted here, processes that ended here, polls served here, Redis errors
// seen here) carry an `instance_id` label: Prometheus sums them over
// instances. The queue length and the jobs running are the cluster's, read
// from Redis at each scrape: they carry no instance label, and every
// instance answers the same.
//
// Every series a job can move exists at 0 from the start (each known type,
// and each end state and reason an end of it can have): a series that first
// appears at 1 has no earlier sample, so Prometheus' increase() would miss
// the first failure after a restart, and an alert on it would not fire.
import crypto from "node:crypto";
import Router from "@koa/router";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  NOTIFY_CHANNELS,
  RETRYABLE_REASONS,
  type EndReason,
  type JobState,
  type JobStore,
  type NotifyChannel,
} from "../jobs/core/store.ts";
import { HttpError } from "./errors.ts";
import type { PollTally } from "./request-log.ts";

/** Buckets of the job duration histogram, in seconds: from a tenth of a second to an hour. */
export const DURATION_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Buckets of the peak memory histogram, in bytes: powers of two from 4 MiB to 16 GiB. */
export const PEAK_MEMORY_BUCKETS_BYTES = Array.from({ length: 13 }, (_, i) => 2 ** (22 + i));
/** Buckets of the CPU time histogram, in seconds: from 10 ms to an hour. */
export const CPU_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * The end state each reason goes with, so every end a job can have is a
 * series from the start. null: it cannot happen to a job of a known type
 * (unknown-type is a record naming a type this deployment lacks). A reason
 * added to END_REASONS fails to compile here until it is placed.
 */
const END_STATE_OF: Record<EndReason, Exclude<JobState, "queued" | "running" | "succeeded"> | null> = {
  lost: "failed",
  "never-started": "failed",
  timeout: "failed",
  signal: "failed",
  "exit-code": "failed",
  "no-result": "failed",
  "job-error": "failed",
  "spawn-failed": "failed",
  "unknown-type": null,
  "results-limit": "failed",
  "memory-limit": "failed",
  "cpu-limit": "failed",
  "process-limit": "failed",
  "output-limit": "failed",
  "file-size-limit": "failed",
  cancelled: "cancelled",
  "cancel-killed": "cancelled",
};

/** Every end state and reason label a job of a known type can finish with (reason "none" for a success). */
export const END_LABELS: readonly { state: JobState; reason: string }[] = [
  { state: "succeeded", reason: "none" },
  ...Object.entries(END_STATE_OF).flatMap(([reason, state]) => (state ? [{ state, reason }] : [])),
];

/** Every reason an attempt can be retried for: lost to the infrastructure, or a failure a type may list in retryOn. */
export const RETRIED_REASONS: readonly string[] = ["lost", "never-started", ...RETRYABLE_REASONS];

/**
 * prom-client's defaults that break Prometheus' naming rules (`promtool check
 * metrics`): gauges named like counters. sum(nodejs_active_handles) and the
 * like give the same totals.
 */
const DEFAULT_METRICS_LEFT_OUT = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export interface MetricsOptions {
  instanceId: string;
  /** The job types this instance knows: each has its series from the start. */
  types: readonly string[];
  /** The store the cluster-wide values are read from at each scrape. */
  store: JobStore;
  /** Every store of this instance, whose failed Redis calls are counted. */
  stores: readonly JobStore[];
  polls: PollTally;
}

type InstanceLabel = "instance_id";

/** How one attempt to tell someone went: sent, failed but tried again later, or failed for good. */
export const NOTIFY_OUTCOMES = ["sent", "retried", "failed"] as const;
export type NotifyOutcome = (typeof NOTIFY_OUTCOMES)[number];

export class Metrics {
  readonly registry = new Registry();
  readonly submitted: Counter<"type" | InstanceLabel>;
  readonly finished: Counter<"type" | "state" | "reason" | InstanceLabel>;
  readonly duration: Histogram<"type" | InstanceLabel>;
  readonly peakMemory: Histogram<"type" | InstanceLabel>;
  readonly cpu: Histogram<"type" | InstanceLabel>;
  readonly lost: Counter<"type" | InstanceLabel>;
  readonly retried: Counter<"type" | "reason" | InstanceLabel>;
  readonly notified: Counter<"channel" | "outcome" | InstanceLabel>;
  private readonly instance: { instance_id: string };

  constructor({ instanceId, types, store, stores, polls }: MetricsOptions) {
    const registers = [this.registry];
    const instance = (this.instance = { instance_id: instanceId });
    this.submitted = new Counter({
      name: "sidejob_jobs_submitted_total",
      help: "Jobs submitted to this instance, by type.",
      labelNames: ["type", "instance_id"],
      registers,
    });
    this.finished = new Counter({
      name: "sidejob_jobs_finished_total",
      help: "Jobs whose end this instance saw, by type, end state and reason (none for a success).",
      labelNames: ["type", "state", "reason", "instance_id"],
      registers,
    });
    this.duration = new Histogram({
      name: "sidejob_job_duration_seconds",
      help: "How long jobs ran, from start to end, by type (jobs whose end this instance saw).",
      labelNames: ["type", "instance_id"],
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    // What each job used, measured by its runner at its end (JobRecord.usage), observed with its duration.
    this.peakMemory = new Histogram({
      name: "sidejob_job_peak_memory_bytes",
      help: "The peak memory of jobs (a command's whole program tree, a Node type's process), by type (jobs whose end this instance saw, with their use measured).",
      labelNames: ["type", "instance_id"],
      buckets: PEAK_MEMORY_BUCKETS_BYTES,
      registers,
    });
    this.cpu = new Histogram({
      name: "sidejob_job_cpu_seconds",
      help: "The CPU time jobs used, user and system, by type (jobs whose end this instance saw, with their use measured).",
      labelNames: ["type", "instance_id"],
      buckets: CPU_BUCKETS_S,
      registers,
    });
    this.lost = new Counter({
      name: "sidejob_jobs_lost_total",
      help: "Jobs this instance recorded as lost (their process stopped reporting).",
      labelNames: ["type", "instance_id"],
      registers,
    });
    // Attempts, apart from jobs: a retried attempt is no job's end, so it is not in finished.
    this.retried = new Counter({
      name: "sidejob_job_attempts_retried_total",
      help: "Attempts of jobs that this instance saw end and sent back to the queue for another, by type and why the attempt ended.",
      labelNames: ["type", "reason", "instance_id"],
      registers,
    });
    // Attempts to tell someone a job ended (server/notify/): sent, failed and tried again, or failed for good.
    this.notified = new Counter({
      name: "sidejob_notify_attempts_total",
      help: "Attempts of this instance to tell someone that a job ended, by channel (email, webhook) and outcome (sent, retried, failed).",
      labelNames: ["channel", "outcome", "instance_id"],
      registers,
    });
    for (const channel of NOTIFY_CHANNELS) for (const outcome of NOTIFY_OUTCOMES) this.notified.inc({ channel, outcome, ...instance }, 0);
    let pollsSeen = 0;
    new Counter({
      name: "sidejob_status_polls_total",
      help: "Status polls this instance served.",
      labelNames: ["instance_id"],
      registers,
      collect() {
        this.inc(instance, polls.served - pollsSeen);
        pollsSeen = polls.served;
      },
    });
    let failuresSeen = 0;
    new Counter({
      name: "sidejob_redis_errors_total",
      help: "Redis calls of this instance that failed because Redis did not answer.",
      labelNames: ["instance_id"],
      registers,
      collect() {
        const failures = stores.reduce((sum, s) => sum + s.failures, 0);
        this.inc(instance, failures - failuresSeen);
        failuresSeen = failures;
      },
    });
    // The cluster's values, one read per scrape; NaN when Redis does not answer.
    let counts: Promise<{ queued: number; running: number } | null> | null = null;
    const read = () => {
      counts ??= store.activeCounts().catch(() => null);
      const current = counts;
      setImmediate(() => {
        if (counts === current) counts = null;
      });
      return current;
    };
    new Gauge({
      name: "sidejob_queue_length",
      help: "Jobs waiting in the queue (the cluster's, read from Redis).",
      registers,
      async collect() {
        this.set((await read())?.queued ?? NaN);
      },
    });
    new Gauge({
      name: "sidejob_jobs_running",
      help: "Jobs claimed or running on any instance (the cluster's, read from Redis).",
      registers,
      async collect() {
        this.set((await read())?.running ?? NaN);
      },
    });
    collectDefaultMetrics({ register: this.registry, labels: instance });
    for (const name of DEFAULT_METRICS_LEFT_OUT) this.registry.removeSingleMetric(name);
    for (const type of types) {
      const labels = { type, ...instance };
      this.submitted.inc(labels, 0);
      this.lost.inc(labels, 0);
      this.duration.zero(labels);
      this.peakMemory.zero(labels);
      this.cpu.zero(labels);
      for (const end of END_LABELS) this.finished.inc({ ...labels, ...end }, 0);
      for (const reason of RETRIED_REASONS) this.retried.inc({ ...labels, reason }, 0);
    }
  }

  /**
   * The exposition text. prom-client writes a NaN sample as `Nan`, which
   * Prometheus' text format spells `NaN` (promtool refuses the other).
   */
  async text(): Promise<string> {
    return (await this.registry.metrics()).replace(/^([^#\n].* )Nan$/gm, "$1NaN");
  }

  jobSubmitted(type: string): void {
    this.submitted.inc({ type, ...this.instance });
  }

  jobFinished(
    type: string,
    state: string,
    reason: string | null,
    runMs: number | null,
    usage: { peakMemoryBytes: number; cpuMs: number } | null = null,
  ): void {
    this.finished.inc({ type, state, reason: reason ?? "none", ...this.instance });
    if (runMs !== null && runMs >= 0) this.duration.observe({ type, ...this.instance }, runMs / 1000);
    if (usage) {
      this.peakMemory.observe({ type, ...this.instance }, usage.peakMemoryBytes);
      this.cpu.observe({ type, ...this.instance }, usage.cpuMs / 1000);
    }
  }

  jobLost(type: string): void {
    this.lost.inc({ type, ...this.instance });
  }

  attemptRetried(type: string, reason: string): void {
    this.retried.inc({ type, reason, ...this.instance });
  }

  notifyAttempt(channel: NotifyChannel, outcome: NotifyOutcome): void {
    this.notified.inc({ channel, outcome, ...this.instance });
  }
}

/** Whether an Authorization header carries the token, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? "";
  // Digests of both: equal lengths, so the comparison takes the same time whatever was sent.
  const digest = (s: string) => crypto.createHash("sha256").update(s).digest();
  return crypto.timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

/** GET /metrics: only when a token is set, and only with it. */
export function metricsRoutes(metrics: Metrics, token: string | null): Router {
  const router = new Router();
  if (!token) return router;
  router.get("/metrics", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    if (!bearerMatches(ctx.get("Authorization") || undefined, token)) {
      throw new HttpError(401, "This address needs the metrics token: send Authorization: Bearer <METRICS_TOKEN>.", {
        title: "Token needed",
        headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
        code: "unauthorized",
      });
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.text();
  });
  return router;
}

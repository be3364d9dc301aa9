// The runtime every job process uses: it loads the job, marks it running,
// keeps its lease alive, reports progress and results, notices a cancel
// request, enforces the time limit, and records how the job ended. A Node job
// type calls runJob("<type>", work) from its module; the runner
// (jobs/runtime/runner.ts) calls the same runJob with a spec that accepts any command
// type and a work function that runs the program.
//
// Exit codes of a job process:
//   0  succeeded, or cancelled (it stopped cleanly)
//   1  failed: the job's own error, or its time limit
//   2  bad invocation: no valid job id, or invalid settings
//   3  could not start: Redis unreachable, or the job is not waiting to run
//   4  fenced: the job was already declared lost or finished; its writes are refused
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError, leaseMsOf, loadJobSettings, redisTarget, type JobSettings } from "../core/settings.ts";
import { formatDuration } from "../core/format.ts";
import { LogSink } from "./log-sink.ts";
import { REFUSED_RETRY_MS, untilAccepted } from "./refused.ts";
import { Reports, type Report } from "./reports.ts";
import { connectRedis, waitUntilReady } from "../core/redis.ts";
import {
  isJobId,
  JobStore,
  StoreWriteRefusedError,
  type FinishReply,
  type JobRecord,
  type Outcome,
  type Progress,
  type ReportReply,
} from "../core/store.ts";
import type { JobUsage } from "../core/store/record.ts";
import { JOB_TYPES } from "../types/index.ts";

/** This process's own peak memory (its largest resident set) and CPU time: what a Node type's job used. */
function ownUsage(): JobUsage {
  const use = process.resourceUsage();
  return { peakMemoryBytes: use.maxRSS * 1024, cpuMs: Math.round((use.userCPUTime + use.systemCPUTime) / 1000) };
}

export interface JobContext {
  id: string;
  job: JobRecord;
  config: JobSettings;
  /** The job's store (output files: putFile). */
  store: JobStore;
  /** Aborted when a cancel is requested, or the time limit is reached. */
  signal: AbortSignal;
  /** Records progress and appends new results; throws once the job is cancelled or fenced. */
  report: (done: number, values?: readonly unknown[]) => Promise<void>;
  /** Records progress in full: done, total, a status line, new results. Throws as report() does. */
  progress: (update: { done?: number; total?: number; status?: string; results?: readonly unknown[] }) => Promise<void>;
  /** Waits, or throws as soon as the job is cancelled. */
  sleep: (ms: number) => Promise<void>;
  /** Appends text to the job's log in Redis only (not to the process's own output, the launcher's log file). */
  /** Writes to the job's log; false when the store is behind: the writer should wait for logDrained() (a program's pipes are paused). */
  writeLog: (text: string | Buffer) => boolean;
  /** Resolves once the log's store has caught up (see writeLog). */
  logDrained: () => Promise<void>;
  /** What the job used, as the runner measured its program (jobs/runtime/box.ts); else this process's own use is recorded. */
  usage?: JobUsage;
}

/**
 * Which jobs a process runs: a Node type's name, or a check of the record
 * (the runner's), with the time limit of its type's resubmitted attempts.
 */
export type JobSpec = string | { accept(job: JobRecord): Outcome | null; resubmitTimeoutMs?(job: JobRecord): number | null };

/**
 * How a job ended, as the work tells it: thrown by the work, it is recorded
 * failed with this outcome. When the job was cancelled or timed out, the
 * job is recorded cancelled or failed 'timeout' and only the outcome's facts
 * (signal, exit code, and for a cancel the reason 'cancel-killed') are kept.
 */
export class JobEnd extends Error {
  constructor(readonly outcome: Outcome) {
    super(outcome.error ?? outcome.reason ?? "failed");
    this.name = "JobEnd";
  }
}

export class Cancelled extends Error {}
/** Stopped by the scheduler that started the runner: its end is the scheduler's to tell (server/supervisor/remote-jobs.ts); nothing is recorded here. */
export class StoppedByScheduler extends Error {}
class Fenced extends Error {}
/** The job's results would pass what one job may keep (JOB_RESULTS_MAX, JOB_RESULTS_MAX_BYTES): it stops, failed. */
export class ResultsFull extends Error {}

const EXIT = { ok: 0, failed: 1, usage: 2, notStarted: 3, fenced: 4 } as const;

/** How long a crashed job process waits for its last reports to be written before it exits. */
const CRASH_FLUSH_MS = 2000;

function die(code: number, message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** The job this process runs, started: its record, settings, store and attempt. */
interface OpenJob {
  id: string;
  config: JobSettings;
  redis: ReturnType<typeof connectRedis>;
  store: JobStore;
  leaseMs: number;
  job: JobRecord;
  attempt: number;
  startedAt: number;
}

/**
 * Reads the job id (and attempt) from argv and the settings from the
 * environment, connects to Redis and records the start; a job this process
 * refuses (spec) ends failed, and the process exits.
 */
async function openJob(spec: JobSpec): Promise<OpenJob> {
  const id = process.argv[2];
  // The attempt the server started this process for (it passes it; by hand, leave it out: whichever is current).
  const given = process.argv[3];
  if (!isJobId(id) || (given !== undefined && !/^[1-9]\d{0,5}$/.test(given)))
    die(EXIT.usage, `usage: node ${process.argv[1]} <job id> (32 hex digits) [attempt]`);
  let config: JobSettings;
  try {
    // The shared settings, and those every registered type declares (the server passes them all).
    config = loadJobSettings(process.env, JOB_TYPES);
  } catch (err) {
    die(EXIT.usage, err instanceof ConfigError ? err.message : String(err));
  }

  const target = redisTarget(config);
  const redis = connectRedis(target, "job");
  const store = new JobStore(redis, {
    prefix: config.redisPrefix,
    partitions: config.redisPartitions,
    ttlSucceededS: config.jobTtlSucceededS,
    ttlFailedS: config.jobTtlFailedS,
    fileDir: config.fileStoreDir,
    waitWhileLoading: true,
  });
  const leaseMs = leaseMsOf(config.jobHeartbeatMs);
  try {
    await waitUntilReady(redis, target, 30_000);
  } catch (err) {
    die(EXIT.notStarted, (err as Error).message);
  }

  const started = await untilAccepted(`job ${id}: start`, () =>
    store.start(id, process.pid, os.hostname(), leaseMs, given === undefined ? undefined : Number(given)),
  );
  if (!started.ok) die(EXIT.notStarted, `job ${id} is ${started.state || "gone"}; not starting it`);
  const startedAt = Date.now();
  const { job } = started;
  // Every write of this process names its attempt: once the job is recorded
  // lost and retried, this process can no longer change it.
  const attempt = given === undefined ? job.attempt : Number(given);
  const refused =
    typeof spec === "string"
      ? job.type === spec
        ? null
        : ({ reason: "spawn-failed", detail: `This is a ${spec} script, but the job is a ${job.type} job.` } satisfies Outcome)
      : spec.accept(job);
  if (refused) {
    await untilAccepted(`job ${id}: finish`, () => store.finish(id, "failed", "job", refused, job.attempt));
    die(EXIT.failed, `job ${id} (type ${job.type}) not run: ${refused.reason}${refused.detail ? `: ${refused.detail}` : ""}`);
  }
  return { id, config, redis, store, leaseMs, job, attempt, startedAt };
}

/**
 * The lease: renewed by every progress report (touch), and by this beat
 * between them (one command, store.beat; none when a report renewed it less
 * than half a beat ago). Redis unreachable: commands wait in ioredis' queue and are
 * sent once it is back (a short restart costs nothing). Out of touch for two
 * whole leases, the job has been (or will be, as soon as Redis answers)
 * declared lost: it stops rather than linger. Redis answering that it
 * refuses writes (out of memory) is contact: the beat is sent again every
 * REFUSED_RETRY_MS until it is accepted, and no instance records the job
 * lost meanwhile (the supervisor's sweep and reads wait a lease after a
 * refused write).
 */
class Lease {
  private lastContact = Date.now();
  /** When Redis last renewed the lease (its start, first): a beat or a report that renewed it. */
  private renewedAt = Date.now();
  private ending = false;
  private retrying: NodeJS.Timeout | null = null;
  private saidRefused = false;
  private readonly beat: NodeJS.Timeout;

  constructor(
    private readonly open: OpenJob,
    private readonly onReply: (reply: ReportReply) => void,
  ) {
    const { id, leaseMs, config } = open;
    let lastBeat = Date.now();
    this.beat = setInterval(() => {
      const now = Date.now();
      // A beat far later than due: this process was stopped (a Slurm job suspended with its runner) or starved, and
      // did not try to reach Redis meanwhile. That time is no lack of contact: the beat now asks whether the lease is
      // still its own, and a refused one stops it (below).
      if (now - lastBeat > leaseMs) this.lastContact += now - lastBeat - config.jobHeartbeatMs;
      lastBeat = now;
      if (now - this.lastContact > 2 * leaseMs) {
        die(
          EXIT.fenced,
          `job ${id} could not reach Redis for ${formatDuration(Date.now() - this.lastContact)}; stopping (it is recorded as lost)`,
        );
      }
      // A report renewed the lease less than half a beat ago: the next beat is soon enough.
      if (!this.retrying && Date.now() - this.lastContact >= config.jobHeartbeatMs / 2) this.send();
    }, config.jobHeartbeatMs);
    this.beat.unref();
  }

  /** Redis answered a report: the lease was renewed. */
  touch(): void {
    this.lastContact = this.renewedAt = Date.now();
  }

  /** Renewed less than half a beat ago (its start, a beat, a report): a report now need not renew it. */
  fresh(): boolean {
    return !this.retrying && Date.now() - this.renewedAt < this.open.config.jobHeartbeatMs / 2;
  }

  /** The job is ending: no more beats (one answered after the end is refused, and is no fence). */
  stop(): void {
    this.ending = true;
    clearInterval(this.beat);
    if (this.retrying) clearTimeout(this.retrying);
  }

  private send(): void {
    const { id, store, leaseMs, attempt } = this.open;
    // One command (the beat key, lua/includes/beat.lua); a whole report when it finds none, or must renew an expired lease.
    store.beat(id, leaseMs, attempt, store.refusals.within(2 * leaseMs)).then(
      (reply) => {
        this.saidRefused = false;
        if (this.ending) return;
        this.lastContact = Date.now();
        if (reply !== "refused") this.renewedAt = this.lastContact;
        this.onReply(reply);
        if (reply === "refused") die(EXIT.fenced, `job ${id} is no longer running here (declared lost or finished); stopping`);
      },
      (err: unknown) => {
        if (!(err instanceof StoreWriteRefusedError) || this.ending) return;
        this.lastContact = Date.now();
        if (!this.saidRefused) process.stderr.write(`job ${id}: heartbeat: ${err.message}; trying again until Redis accepts it\n`);
        this.saidRefused = true;
        this.retrying ??= setTimeout(() => {
          this.retrying = null;
          if (!this.ending) this.send();
        }, REFUSED_RETRY_MS);
        this.retrying.unref();
      },
    );
  }
}

/**
 * Runs one job to its end, then exits the process. spec: the type this
 * process runs (a Node type's name), or the runner's check of the record; a
 * job it refuses ends failed, with the outcome it returns, and nothing runs.
 */
export async function runJob(spec: JobSpec, work: (ctx: JobContext) => Promise<void>): Promise<never> {
  const open = await openJob(spec);
  const { id, config, redis, store, leaseMs, job, attempt, startedAt } = open;

  // What the job writes is its log: kept in the store with the job, so any
  // instance shows it. It still goes to the process's own output too (the
  // launcher's log file), which catches what is written after the last flush
  // of a crashing process.
  const log = new LogSink(store, id, config.jobLogMaxBytes);
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
    stream.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
      log.write(typeof chunk === "string" ? chunk : Buffer.from(chunk));
      return write(chunk, ...rest);
    };
  }

  const cancel = new AbortController();
  let fenced = false;
  let full = false;
  const onReply = (reply: ReportReply) => {
    if (reply === "cancel" && !cancel.signal.aborted) cancel.abort(new Cancelled("cancelled"));
    if (reply === "refused") fenced = true;
    if (reply === "full" && !full) {
      full = true;
      process.stderr.write(
        `sidejob: job ${id} stopped: its results would pass what one job may keep ` +
          `(${config.jobResultsMax} results, ${config.jobResultsMaxBytes} bytes: JOB_RESULTS_MAX, JOB_RESULTS_MAX_BYTES); the results past it were not kept\n`,
      );
      if (!cancel.signal.aborted) cancel.abort(new ResultsFull("results-limit"));
    }
  };

  const lease = new Lease(open, onReply);

  // The time limit (the job type's, stored on the record), counted from the
  // start. The server that spawned the job enforces it too, with signals, in
  // case this event loop is stuck.
  // A resubmitted attempt (after timeout) has its type's larger limit.
  const resubmitMs =
    typeof spec === "string"
      ? (JOB_TYPES.find((t) => t.name === spec)?.resubmit?.timeoutMs ?? null)
      : (spec.resubmitTimeoutMs?.(job) ?? null);
  const timeoutMs = attempt > 1 && resubmitMs ? resubmitMs : (job.timeoutMs ?? config.jobTimeoutMs);
  let timedOut = false;
  const limit = setTimeout(
    () => {
      timedOut = true;
      cancel.abort(new Error("timeout"));
    },
    Math.max(0, timeoutMs - (Date.now() - startedAt)),
  );
  limit.unref();

  // Results this process has reported (a job starts with none).
  let resultsSent = 0;
  // A report as the store takes it: its results counted before the call, in the order the reports are sent,
  // so that a report that ioredis resends after a lost connection appends its values once.
  const progressOf = (update: Report): Progress => {
    const first = resultsSent;
    resultsSent += update.results?.length ?? 0;
    return { ...update, first, resultsMax: config.jobResultsMax, resultBytesMax: config.jobResultsMaxBytes, attempt };
  };
  // One write of reports (several of the job's, batched: reports.ts); what its reply says is thrown.
  const reports = new Reports(async (update) => {
    const progress = progressOf(update);
    // Refused for want of memory: nothing was appended, the same report is sent again.
    const leaseFresh = lease.fresh();
    const reply = await untilAccepted(
      `job ${id}: report`,
      () => store.report(id, leaseMs, { ...progress, renewExpired: store.refusals.within(2 * leaseMs), leaseFresh }),
      cancel.signal,
    );
    if (!leaseFresh) lease.touch();
    onReply(reply);
    if (reply === "refused") throw new Fenced();
  });
  // A crash (an uncaught exception or rejection in the job's code) writes what the job reported that no write has
  // taken yet, then ends the process as Node would: its error on stderr, exit code 1 (its server records the end).
  const crash = (err: unknown) => {
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
    const exit = () => process.exit(1);
    setTimeout(exit, CRASH_FLUSH_MS);
    reports.flush().then(exit, exit);
  };
  // process.exit() called by the job's own code ends it before what waits can be written: its log says so.
  process.once("exit", () => {
    if (reports.waiting)
      process.stderr.write("sidejob: the job's last reports were not written: it called process.exit() before they were sent\n");
  });
  process.once("uncaughtException", crash);
  process.once("unhandledRejection", crash);
  const ctx: JobContext = {
    id,
    job,
    config,
    store,
    signal: cancel.signal,
    report(done, values = []) {
      return ctx.progress({ done, results: values });
    },
    async progress(update) {
      if (cancel.signal.aborted) throw cancel.signal.reason;
      if (fenced) throw new Fenced();
      await reports.add(update);
      if (cancel.signal.aborted) throw cancel.signal.reason;
    },
    async sleep(ms) {
      if (ms > 0) await sleep(ms, undefined, { signal: cancel.signal }).catch(() => {});
      if (cancel.signal.aborted) throw cancel.signal.reason;
    },
    writeLog(text) {
      return log.write(text);
    },
    logDrained() {
      return log.drained();
    },
  };

  let code: number = EXIT.ok;
  // The end is recorded even while Redis refuses writes: sent again until accepted.
  const record = (state: "succeeded" | "failed" | "cancelled", outcome: Outcome) =>
    untilAccepted(`job ${id}: finish`, () => store.finish(id, state, "job", { ...outcome, usage: ctx.usage ?? ownUsage() }, attempt));
  const end = () => {
    lease.stop();
    clearTimeout(limit);
  };
  try {
    await work(ctx);
    // What the job reported last and no write has taken yet goes with its end, in one call (store.reportEnd).
    const last = await reports.take();
    if (cancel.signal.aborted) throw cancel.signal.reason;
    if (timedOut) throw new Error("timeout");
    const leaseFresh = lease.fresh();
    end();
    let ended: FinishReply | "full";
    if (last) {
      const progress = progressOf(last);
      ended = await untilAccepted(`job ${id}: finish`, () =>
        store.reportEnd(id, leaseMs, { ...progress, renewExpired: store.refusals.within(2 * leaseMs), leaseFresh }, "succeeded", {
          usage: ctx.usage ?? ownUsage(),
        }),
      );
    } else ended = await record("succeeded", {});
    // Its last values would pass the job's bounds: those that fit were kept, and it ends results-limit.
    if (ended === "full") {
      onReply("full");
      throw cancel.signal.reason;
    }
    if (ended.outcome === "unchanged") code = EXIT.fenced;
  } catch (err) {
    end();
    // What it reported before it stopped is kept (refused once it is fenced).
    if (!fenced && !(err instanceof Fenced)) await reports.flush().catch(() => {});
    reports.close();
    if (fenced || err instanceof Fenced) {
      code = EXIT.fenced;
      process.stderr.write(`job ${id} is no longer running here (declared lost or finished); stopping\n`);
    } else if (err instanceof StoppedByScheduler) {
      code = EXIT.failed;
      process.stderr.write(`job ${id} stopped by its scheduler (${err.message}); its end is the scheduler's to record\n`);
    } else if (full) {
      code = EXIT.failed;
      const facts = err instanceof JobEnd ? err.outcome : {};
      await store.finish(
        id,
        "failed",
        "job",
        { reason: "results-limit", signal: facts.reason === "cancel-killed" ? facts.signal : undefined, usage: ctx.usage ?? ownUsage() },
        attempt,
      );
    } else if (timedOut) {
      code = EXIT.failed;
      const facts = err instanceof JobEnd ? err.outcome : {};
      await record("failed", { reason: "timeout", exitCode: facts.exitCode, signal: facts.signal });
    } else if (err instanceof Cancelled || (cancel.signal.aborted && cancel.signal.reason instanceof Cancelled)) {
      code = EXIT.ok;
      const facts = err instanceof JobEnd ? err.outcome : {};
      await record("cancelled", {
        reason: facts.reason === "cancel-killed" ? "cancel-killed" : "cancelled",
        exitCode: facts.exitCode,
        signal: facts.signal,
      });
    } else if (err instanceof JobEnd) {
      code = EXIT.failed;
      await record("failed", err.outcome);
    } else {
      code = EXIT.failed;
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`${err instanceof Error && err.stack ? err.stack : message}\n`);
      await record("failed", { reason: "job-error", error: message });
    }
  }
  await log.close(2 * leaseMs);
  redis.disconnect();
  process.exit(code);
}

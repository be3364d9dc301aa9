// The Supervisor: each server instance runs job processes, up to JOB_SLOTS
// at once in all and each job type's concurrency within that, and looks after
// them (JOB_SLOTS=0: none; a type's concurrency 0: none of that type). This file wires the parts together
// and runs the periodic sweep (tick):
// - slots.ts: takes queued jobs while this instance has free slots;
// - processes.ts: starts job processes and records an end they did not record;
// - limits.ts: the time limit of each process started here;
// - kills.ts: SIGTERM then SIGKILL, for local jobs and for due kills of jobs
//   whose server is gone;
// - log-retention.ts: deletes old job logs.
// With FILE_STORE_DIR it also removes the files of jobs Redis no longer names
// (sweepFiles, jobs/core/store/file-dir.ts).
// The sweep also records as lost any job whose lease has expired (its process
// vanished while its server was gone too), whichever instance looks first,
// except while Redis refuses writes (see tick).
import fs from "node:fs";
import os from "node:os";
import { jobEnvironment, slotsOf as slotsOfType, type Config } from "../config.ts";
import { BOX_ENV, describeHost, missingIsolation, probeHost, SCHEDULER_ENV, type HostBox } from "../../jobs/core/host-box.ts";
import {
  FileStoreUnavailableError,
  QueueFullError,
  StoreUnavailableError,
  StoreWriteRefusedError,
  type FinishReply,
  type JobStore,
  type NewJob,
  type RetryPolicy,
} from "../../jobs/core/store.ts";
import { attemptTimeoutMs, resubmitReasons, RETRY_BACKOFF_MS, type JobType } from "../../jobs/core/job-type.ts";
import { leaseMsOf } from "../../jobs/core/settings.ts";
import { jobScript } from "../paths.ts";
import { KnownTypes } from "./known-types.ts";
import { Slots, START_GRACE_MS } from "./slots.ts";
import { Processes } from "./processes.ts";
import { TimeLimits } from "./limits.ts";
import { RemoteKills } from "./kills.ts";
import { LogRetention } from "./log-retention.ts";
import { RemoteJobs } from "./remote-jobs.ts";
import { logFileFor } from "../launchers/local.ts";
import { SlurmLauncher } from "../launchers/slurm.ts";
import type { RemoteLauncher } from "../launchers/remote.ts";
import { RepeatedWarning, silentLogger, warnLine, type Logger, type LogLine } from "../log.ts";
import { JobEvents, type EndSeen } from "../job-events.ts";

export { START_GRACE_MS } from "./slots.ts";
export { TERM_TO_KILL_MS, MAX_REMOTE_KILLS } from "./kills.ts";
export { LOG_SWEEP_INTERVAL_MS } from "./log-retention.ts";
export { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_MS, VERSION, newInstanceId, type InstanceFacts } from "./instance-facts.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_MS, VERSION, newInstanceId, type InstanceFacts } from "./instance-facts.ts";

/** How often the lease index and the kill deadlines are checked. */
export const SWEEP_INTERVAL_MS = 500;
/**
 * How often an instance drops the jobs list's entries of expired jobs in
 * every partition (JobStore.trimIndex): one partition at a time, in turn,
 * so that the work is spread over the interval.
 */
export const INDEX_TRIM_INTERVAL_MS = 60_000;
/**
 * How often an instance samples each partition's queue length for the queue
 * chart (its minute's last sample wins): three times a minute, so that
 * every minute has one whatever the timer's drift.
 */
export const QUEUE_SAMPLE_INTERVAL_MS = 20_000;
/** How often the files of jobs Redis no longer names are removed (FILE_STORE_DIR; also at start). */
export const FILE_SWEEP_INTERVAL_MS = 30_000;

/**
 * How long the end a job's process records waits for the server that started
 * it to see its exit and report it (server/job-events.ts); after that, a
 * sweep reports it: that server is gone, or missed the exit. As START_GRACE_MS,
 * a process's exit can take seconds on a loaded machine.
 */
export const REPORT_WAIT_MS = 10_000;

/** After a spawn failed for want of file descriptors, no job is started for this long. */
export const NO_DESCRIPTORS_WAIT_MS = 1000;

export interface SupervisorOptions {
  store: JobStore;
  config: Config;
  /** The job types this instance runs (default: config.types). */
  types?: readonly JobType[];
  /** What this host offers jobs' boxes (default: found now, jobs/runtime/box.ts). */
  box?: HostBox;
  /** Every type this instance knows (default: the names of types): a queued job of one it does not run waits; a job of a type no live instance knows ends. */
  knownTypes?: readonly string[];
  /** The script that runs a job of this type (default: its bundle, or the runner for a command). */
  scriptFor?: (type: JobType) => string;
  nodeArgs?: string[];
  /** Where its warnings go (default: nowhere). */
  logger?: Logger;
  /** Where a Slurm type's jobs go (default: Slurm's commands, config.slurm). */
  slurm?: RemoteLauncher;
  /** Where the transitions it sees go (default: lines through logger, no metrics). */
  events?: JobEvents;
  /** This instance's id (default: a new one, newInstanceId()). */
  instanceId?: string;
}

export class Supervisor {
  readonly instanceId: string;
  /** What this host offers jobs' boxes, and the types it does not run for want of isolation (name -> why). */
  readonly box: HostBox;
  readonly unboxable: ReadonlyMap<string, string>;
  private readonly slots: Slots;
  private readonly processes: Processes;
  /** The jobs this instance submitted to Slurm (a type with runOn: "slurm"); null when it runs no such type. */
  private readonly remote: RemoteJobs | null;
  private readonly limits: TimeLimits;
  private readonly remoteKills: RemoteKills;
  private readonly logs: LogRetention;
  private readonly log: LogLine;
  private readonly events: JobEvents;
  private ticker: NodeJS.Timeout | null = null;
  private beater: NodeJS.Timeout | null = null;
  private trimmer: NodeJS.Timeout | null = null;
  private sampler: NodeJS.Timeout | null = null;
  /** The partition the next trim of the index takes (they take turns). */
  private nextTrim = 0;
  /** The partitions whose queue was not empty at the last sample (their next sample records it emptied). */
  private sampledNonEmpty: number[] = [];
  private fileSweeper: NodeJS.Timeout | null = null;
  private readonly retention: { type: string; ttlSucceededS: number; ttlFailedS: number }[];
  readonly startedAt = Date.now();
  private readonly slotCounts: () => InstanceFacts["types"];
  private closed = false;
  /** Redis unreachable: written once per outage, then every 30 s, and on recovery. */
  private readonly redisDown: RepeatedWarning;
  private readonly noDescriptors: RepeatedWarning;
  /** Redis refusing writes (out of memory): written once per spell, then every 30 s, and when the sweep resumes. */
  private readonly writesRefused: RepeatedWarning;
  private readonly leaseMs: number;
  private noDescriptorsUntil = 0;
  /** Slots promised to jobs being created with JOB_QUEUE_MAX=0, by type. */
  private readonly reserved = new Map<string, number>();
  /** Submits this instance is marking counted (markSubmitted), by job id. */
  private readonly marking = new Map<string, Promise<void>>();
  private readonly freeTypes: () => string[];
  private readonly startClaimed: (id: string, type: string, attempt: number, submitCounted?: boolean) => void;
  /** A type's retry policy, stored on each of its jobs at create. */
  private readonly retryPolicy: (type: string) => RetryPolicy;
  private readonly startLeaseMs: number;
  /** The types this instance knows, and those the live instances do. */
  private readonly known: KnownTypes;
  private readonly ownKnown: readonly string[];

  constructor(private readonly options: SupervisorOptions) {
    const { store, config } = options;
    const types = options.types ?? options.config.types;
    const byName = new Map(types.map((t) => [t.name, t]));
    this.ownKnown = options.knownTypes ?? types.map((t) => t.name);
    this.known = new KnownTypes({
      store,
      own: this.ownKnown,
      waitMs: HEARTBEAT_TTL_MS,
      checkEveryMs: SWEEP_INTERVAL_MS,
      ended: (id) => void this.events.ended(id, "claim"),
      failed: (err) => this.failed(err),
    });
    this.instanceId = options.instanceId ?? newInstanceId();
    const logger = options.logger ?? silentLogger;
    const log = (this.log = warnLine(logger));
    this.box = options.box ?? probeHost(config.box);
    for (const note of this.box.notes) log(`job boxes: ${note}`);
    const unboxable = new Map<string, string>();
    for (const type of types) {
      // A Slurm type's box is its compute node's, which its runner probes there.
      if (type.runOn === "slurm") continue;
      const missing = missingIsolation(this.box, type);
      if (!missing) continue;
      if (config.box.isolationUnavailable === "refuse") {
        unboxable.set(type.name, missing);
        log(`job type ${type.name} is not run here: ${missing} (ISOLATION_UNAVAILABLE=refuse; =unconfined runs it without)`);
      } else log(`job type ${type.name} runs unconfined here: ${missing} (ISOLATION_UNAVAILABLE=unconfined)`);
    }
    this.unboxable = unboxable;
    // A type's own limit applies inside the instance's (JOB_SLOTS): no type may have more than the instance; none
    // for a type whose isolation this host cannot give.
    const slotsOf = (type: JobType) => (unboxable.has(type.name) ? 0 : slotsOfType(config, type));
    this.events = options.events ?? new JobEvents(logger, null, store, this.instanceId);
    this.redisDown = new RepeatedWarning("supervisor: Redis unreachable, no job is taken or checked", logger);
    this.noDescriptors = new RepeatedWarning("supervisor: out of file descriptors, queued jobs wait", logger);
    this.writesRefused = new RepeatedWarning("supervisor: Redis refuses writes, no job is taken or recorded lost", logger);
    this.leaseMs = leaseMsOf(config.jobHeartbeatMs);
    fs.mkdirSync(config.jobLogDir, { recursive: true });
    this.processes = new Processes({
      store,
      logDir: config.jobLogDir,
      env: { ...jobEnvironment(config), [BOX_ENV]: JSON.stringify(this.box) },
      scriptFor: (name) => {
        const type = byName.get(name);
        // Only a registered type ever runs; claim ends any other before it gets here.
        if (!type) throw new Error(`no job type named ${JSON.stringify(name)}`);
        return (options.scriptFor ?? jobScript)(type);
      },
      nodeArgs: options.nodeArgs,
      log,
      onExit: (id) => this.limits.disarm(id),
      reportTo: this.instanceId,
      // Resolves once the end's report is taken (the first try): idle() waits for it.
      onRecorded: (id, reply, attempt) => {
        const reported = this.reportEnd(id, "exit", reply, attempt);
        if (!this.closed) void this.pump();
        return reported;
      },
      onNoDescriptors: (id, err) => {
        this.noDescriptorsUntil = Date.now() + NO_DESCRIPTORS_WAIT_MS;
        this.noDescriptors.failed(err);
        // If Redis does not answer either, the claim's start lease runs out and the sweep ends the job.
        void store.release(id, this.instanceId).catch(() => {});
      },
      onStarted: (id, type, pid) => {
        this.noDescriptors.succeeded();
        this.events.started(id, type, pid);
      },
    });
    const slurmTypes = types.filter((t) => t.runOn === "slurm");
    this.remote =
      slurmTypes.length === 0
        ? null
        : new RemoteJobs({
            launcher: options.slurm ?? new SlurmLauncher(config.slurm),
            store,
            // The box of a compute node is found there by its runner: no SIDEJOB_BOX. A SIGTERM there is Slurm's.
            env: { ...jobEnvironment(config), [SCHEDULER_ENV]: "slurm" },
            logFileFor: (id) => logFileFor(config.jobLogDir, id),
            logDir: config.jobLogDir,
            limitsOf: (type, attempt) => ({
              timeoutMs: attemptTimeoutMs(type, attempt, config.jobTimeoutMs),
              memoryMB:
                attempt > 1 && type.resubmit?.memoryMB !== undefined
                  ? type.resubmit.memoryMB
                  : (type.limits?.memoryMB ?? config.box.jobMemoryMB),
            }),
            typeOf: (name) => byName.get(name),
            leaseMs: this.leaseMs + START_GRACE_MS,
            maxSubmitted: config.slurm.maxSubmitted,
            release: async (id) => {
              await store.release(id, this.instanceId);
            },
            log,
            onRecorded: (id, reply, attempt) => {
              const reported = this.reportEnd(id, "exit", reply, attempt);
              if (!this.closed) void this.pump();
              return reported;
            },
          });
    const remote = this.remote;
    this.limits = new TimeLimits({
      store,
      log,
      stop: (id) => this.processes.terminate(id),
      recorded: (id, reply) => void this.reportEnd(id, "limit", reply),
    });
    // A type is free while the instance is under JOB_SLOTS, all types together, and the type under its own
    // limit; a type whose limit is 0 never is (this instance does not run it).
    // A Slurm type takes no slot here: it is free while the deployment keeps fewer than SLURM_MAX_SUBMITTED
    // Slurm jobs (JOB_CONCURRENCY_<TYPE>=0: this instance does not submit it).
    this.freeTypes = () => {
      const reservedAll = [...this.reserved.values()].reduce((sum, n) => sum + n, 0);
      const localFree = Date.now() >= this.noDescriptorsUntil && this.processes.size + reservedAll < config.jobSlots;
      return types
        .filter((t) =>
          t.runOn === "slurm"
            ? remote !== null && remote.hasRoom() && (config.jobConcurrencyByType[t.name] ?? 1) > 0
            : localFree && this.processes.countOf(t.name) + (this.reserved.get(t.name) ?? 0) < slotsOf(t),
        )
        .map((t) => t.name);
    };
    this.startClaimed = (id, type, attempt, submitCounted = false) => {
      // A pump claimed a job whose create this instance is still marking (the two replies come on two
      // connections): the start waits for the mark, so the submit's line comes before the start's. Its
      // slot stays taken meanwhile.
      const marking = this.marking.get(id);
      if (marking) {
        this.reserve(type, 1);
        void marking.then(() => {
          this.reserve(type, -1);
          this.startClaimed(id, type, attempt, submitCounted);
        });
        return;
      }
      if (submitCounted) this.events.submitted(id, type, "queued", "claim");
      if (byName.get(type)?.runOn === "slurm") {
        void this.remote?.submit(id, type, attempt);
        return;
      }
      if (this.processes.start(id, type, attempt))
        this.limits.arm(id, attemptTimeoutMs(byName.get(type), attempt, config.jobTimeoutMs), attempt);
    };
    this.startLeaseMs = this.leaseMs + START_GRACE_MS;
    this.retryPolicy = (name) => {
      const type = byName.get(name);
      return {
        maxAttempts: type?.maxAttempts ?? config.jobMaxAttempts,
        retryOn: [...(type?.retryOn ?? []), ...(type ? resubmitReasons(type) : [])],
        backoffMs: type?.retryBackoffMs ?? RETRY_BACKOFF_MS,
      };
    };
    this.retention = types.map((t) => ({
      type: t.name,
      ttlSucceededS: t.ttlSucceededS ?? config.jobTtlSucceededS,
      ttlFailedS: t.ttlFailedS ?? config.jobTtlFailedS,
    }));
    // A Slurm type's "slots" are the Slurm jobs this instance may keep submitted (SLURM_MAX_SUBMITTED).
    this.slotCounts = () =>
      Object.fromEntries(
        types.map((t) => [
          t.name,
          t.runOn === "slurm"
            ? {
                used: this.remote?.countOf(t.name) ?? 0,
                total: (config.jobConcurrencyByType[t.name] ?? 1) > 0 ? config.slurm.maxSubmitted : 0,
              }
            : { used: this.processes.countOf(t.name), total: slotsOf(t) },
        ]),
      );
    this.slots = new Slots({
      store,
      instanceId: this.instanceId,
      maxRunningPerSubmitter: config.jobMaxRunningPerSubmitter,
      leaseMs: this.leaseMs,
      freeTypes: this.freeTypes,
      knownTypes: () => this.known.all(),
      unknown: (ids) => void (!this.closed && this.known.passedOver(ids)),
      start: this.startClaimed,
      running: (id) => this.processes.has(id) || (this.remote?.has(id) ?? false),
      creating: () => [...this.reserved.values()].some((n) => n > 0),
      log,
      failed: (err) => this.failed(err),
    });
    this.remoteKills = new RemoteKills({ store, log });
    this.logs = new LogRetention({ config, isRunning: (id) => this.processes.has(id) || (this.remote?.has(id) ?? false), log });
  }

  /** Job processes this instance started that are still running. */
  get size(): number {
    return this.processes.size;
  }

  /** For tests: how many times in a row Redis has not answered the supervisor (0 while it does). */
  get redisFailures(): number {
    return this.redisDown.failures;
  }

  /** For tests: kills of other instances' jobs in flight, being checked or under way (at most MAX_REMOTE_KILLS). */
  get remoteKillsInFlight(): number {
    return this.remoteKills.size;
  }

  /**
   * For tests: kills of other instances' jobs this instance has started (a
   * job whose record and host are still being checked, by this tick or a
   * timer's, is not one).
   */
  get remoteKillsStarted(): number {
    return this.remoteKills.started;
  }

  /** Starts the periodic sweep; also takes any jobs already waiting. */
  start(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => void this.tick(), SWEEP_INTERVAL_MS);
    this.ticker.unref();
    void this.tick();
    this.logs.start();
    this.remote?.start();
    this.beater = setInterval(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS);
    this.beater.unref();
    void this.heartbeat();
    this.trimmer = setInterval(() => void this.trimIndex(this.nextTrim++), INDEX_TRIM_INTERVAL_MS / this.options.store.partitions.length);
    this.trimmer.unref();
    this.sampler = setInterval(() => void this.sampleQueues(), QUEUE_SAMPLE_INTERVAL_MS);
    this.sampler.unref();
    void this.sampleQueues();
    if (this.options.store.fileDir) {
      this.fileSweeper = setInterval(() => void this.sweepFiles(), FILE_SWEEP_INTERVAL_MS);
      this.fileSweeper.unref();
      void this.sweepFiles();
    }
  }

  /**
   * FILE_STORE_DIR: removes the files of jobs Redis no longer names (expired,
   * deleted, or an upload whose job was never created); see
   * jobs/core/store/file-dir.ts. A Redis that does not answer is the sweep's
   * to report; a disk that cannot be read is logged.
   */
  async sweepFiles(): Promise<{ folders: number; files: number }> {
    const none = { folders: 0, files: 0 };
    if (this.closed) return none;
    try {
      const removed = await this.options.store.sweepFiles();
      if (removed.folders + removed.files > 0)
        this.log(`file store: removed the files of ${removed.folders} job(s) Redis no longer names, and ${removed.files} other file(s)`);
      return removed;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || err instanceof FileStoreUnavailableError)
        this.log(`file store: the sweep failed: ${(err as Error).message}`);
      return none;
    }
  }

  /** Samples each partition's queue length (the queue chart); a Redis that does not answer is the sweep's to report. */
  async sampleQueues(): Promise<void> {
    if (this.closed) return;
    this.sampledNonEmpty = await this.options.store.sampleQueues(this.sampledNonEmpty).catch(() => this.sampledNonEmpty);
  }

  /**
   * Drops the jobs list's entries of jobs that have expired, in one partition
   * (every partition when none is named); a Redis that does not answer is the sweep's to report.
   */
  async trimIndex(partition?: number): Promise<number> {
    if (this.closed) return 0;
    return this.options.store.trimIndex(this.retention, 100, partition).catch(() => 0);
  }

  /** This instance's facts, as its heartbeat writes them. */
  facts(): InstanceFacts {
    const types = this.slotCounts();
    const slots = Object.values(types);
    return {
      host: os.hostname(),
      pid: process.pid,
      version: VERSION,
      startedAt: this.startedAt,
      slotsUsed: this.processes.size,
      slotsTotal: Math.min(
        this.options.config.jobSlots,
        slots.reduce((sum, s) => sum + s.total, 0),
      ),
      types,
      known: [...this.ownKnown],
      box: {
        gives: describeHost(this.box),
        notes: [...this.box.notes, ...[...this.unboxable].map(([type, why]) => `the type ${type} is not run here: ${why}`)],
      },
      ...(this.remote ? { slurm: this.remote.facts() } : {}),
    };
  }

  /**
   * Writes this instance's heartbeat, and reads which types the live
   * instances know; a Redis that does not answer is the sweep's to report.
   */
  async heartbeat(): Promise<void> {
    if (this.closed) return;
    await this.options.store.heartbeat(this.instanceId, this.facts(), HEARTBEAT_TTL_MS).catch(() => {});
    await this.known.refresh().catch(() => {});
  }

  /** Deletes job logs older than the longest-kept job record; returns how many. */
  deleteOldLogs(now = Date.now()): Promise<number> {
    return this.logs.deleteOld(now);
  }

  /** Stops taking jobs. Job processes keep running: they do not depend on this server. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.beater) clearInterval(this.beater);
    if (this.trimmer) clearInterval(this.trimmer);
    if (this.sampler) clearInterval(this.sampler);
    if (this.fileSweeper) clearInterval(this.fileSweeper);
    this.logs.close();
    this.limits.close();
    this.processes.close();
    this.remote?.close();
    this.remoteKills.close();
    await this.slots.close();
  }

  /**
   * Creates a job and sees that it starts. With JOB_QUEUE_MAX=0 nothing
   * waits: the job is created only when this instance has a free slot for
   * its type right now, already claimed, and its process is started at once;
   * otherwise QueueFullError (a 503), and nothing is written. Slots are per
   * instance: another instance's free slot does not count. A submit its key
   * already answers throws AlreadySubmittedError (store.create), and is
   * neither logged nor counted again.
   */
  async submit(job: NewJob): Promise<string> {
    const { store, config } = this.options;
    const input = {
      ...job,
      retry: job.retry ?? this.retryPolicy(job.type),
      maxQueuedPerSubmitter: job.maxQueuedPerSubmitter ?? config.jobMaxQueuedPerSubmitter,
    };
    if (config.jobQueueMax > 0) {
      // A free slot here for its type (and no running jobs per submitter to count first): when nothing waits,
      // the job is created already claimed and started at once, one script where a create and a claim took two.
      if (this.closed || config.jobMaxRunningPerSubmitter > 0 || !this.freeTypes().includes(input.type)) {
        const id = await store.create({ ...input, queueMax: config.jobQueueMax });
        await this.markSubmitted(id, input.type, "queued");
        // Only a free slot for its type can take it now; one that frees later pumps by itself.
        if (!this.closed && this.freeTypes().includes(input.type)) void this.pump();
        return id;
      }
      const { id, claimed } = await this.reserving(input.type, () =>
        store.createOrClaim({ ...input, queueMax: config.jobQueueMax }, this.instanceId, this.startLeaseMs),
      );
      if (!claimed) {
        this.reserve(input.type, -1);
        await this.markSubmitted(id, input.type, "queued");
        if (!this.closed && this.freeTypes().includes(input.type)) void this.pump();
        return id;
      }
      // Its submit is marked by its claim, in the create (create-5.lua), and counted here. Queued: its
      // record's state until its process starts, as when a claim takes it a moment later.
      this.events.submitted(id, input.type, "queued", "create");
      await this.startReserved(id, input.type, Promise.resolve());
      return id;
    }
    if (this.closed || !this.freeTypes().includes(input.type)) {
      // A repeat under a submit key still gets its job (AlreadySubmittedError); nothing else is created.
      if (input.once) await store.create({ ...input, queueMax: 0 });
      throw new QueueFullError();
    }
    const { id } = await this.reserving(input.type, async () => ({
      id: await store.createClaimed(input, this.instanceId, this.startLeaseMs),
    }));
    await this.startReserved(id, input.type, this.markSubmitted(id, input.type, "running"));
    return id;
  }

  /**
   * Takes a slot of the type for a create that may claim its job, and keeps
   * it once the create has answered: the caller gives it back (reserve -1)
   * or hands it to the job's process (startReserved). A pump meanwhile sees
   * the slot taken, so an instance never claims past its concurrency.
   */
  private async reserving<T>(type: string, create: () => Promise<T>): Promise<T> {
    this.reserve(type, 1);
    try {
      return await create();
    } catch (err) {
      this.reserve(type, -1);
      // Redis may have run it all the same: the job would be this instance's, with no process.
      if (err instanceof StoreUnavailableError && !(err instanceof StoreWriteRefusedError)) this.slots.claimUnanswered();
      throw err;
    }
  }

  /** Starts a job created claimed once its submit is marked, its reserved slot passing to its process in the same turn. */
  private async startReserved(id: string, type: string, marked: Promise<void>): Promise<void> {
    try {
      await marked;
    } finally {
      this.reserve(type, -1);
      this.startClaimed(id, type, 1);
    }
  }

  /**
   * The create was answered: counts the submit, unless a claim or an end
   * counted it first; tried again while Redis does not answer
   * (server/job-events.ts).
   */
  private markSubmitted(id: string, type: string, state: "queued" | "running"): Promise<void> {
    const marking = this.events.createAnswered(id, type, state).finally(() => this.marking.delete(id));
    this.marking.set(id, marking);
    return marking;
  }

  /** A slot of the type taken (1) or given back (-1) by a job that has no process yet. */
  private reserve(type: string, n: 1 | -1): void {
    this.reserved.set(type, (this.reserved.get(type) ?? 0) + n);
  }

  /** Starts queued jobs while this instance has free slots. Safe to call often. */
  pump(): Promise<void> {
    return this.slots.pump();
  }

  /** One round of housekeeping: lost jobs, overdue cancels, free slots. */
  async tick(): Promise<void> {
    if (this.closed) return;
    const { store } = this.options;
    try {
      // While Redis refuses writes (out of memory), no job can renew its
      // lease, so an expired lease says nothing about its process then; and
      // Redis would refuse to record the loss anyway. The sweep waits until a
      // whole lease (and a tick) has passed since the last refused write this
      // instance saw (any of its stores: they share store.refusals), which it
      // probes at each tick while refusals last: by then every job,
      // which sends a refused beat again every 250 ms, has renewed its lease,
      // and a job still expired has really stopped. Extending every lease
      // instead would need a write, which Redis refuses too; and an instance
      // that saw no refusal could sweep before the extension. Reads wait the
      // same lease before they record a job lost (StoreOptions.refusalGraceMs).
      let due: string[];
      if (store.refusals.within(this.leaseMs + SWEEP_INTERVAL_MS)) {
        // A write at each tick (this instance's heartbeat) tells when Redis
        // accepts writes again: the lease of grace counts from then, to
        // within a tick.
        await store.heartbeat(this.instanceId, this.facts(), HEARTBEAT_TTL_MS).catch(() => {});
        due = await store.dueKills();
      } else {
        // One call per partition with leases, kills or ends waiting (one command when there are none).
        const swept = await store.sweep(100, REPORT_WAIT_MS);
        for (const id of [...swept.lost, ...swept.waiting]) void this.events.ended(id, "sweep");
        for (const id of swept.requeued) void this.reportRetry(id, "sweep");
        this.writesRefused.succeeded();
        due = swept.kills;
      }
      for (const id of due) {
        if (this.processes.has(id)) this.processes.terminate(id);
        else if (this.remote?.has(id)) await this.remote.cancel(id);
        else await this.remoteKills.kill(id);
      }
      this.redisDown.succeeded();
    } catch (err) {
      // Redis unreachable, or refusing writes: try again next tick.
      this.failed(err);
    }
    await this.pump();
  }

  /** A call of the sweep or a claim failed: Redis unreachable, or refusing writes. */
  private failed(err: unknown): void {
    if (err instanceof StoreWriteRefusedError) this.writesRefused.failed(err);
    else this.redisDown.failed(err);
  }

  /**
   * Reports a job's end (a line and the metrics) when this finish ended it,
   * or took the report of the end its process recorded; a retry when it sent
   * the job back to the queue. exited: the attempt whose process exited here:
   * when that process recorded its own failure and its type retries it, the
   * job is already on its next attempt (the finish here changed nothing), and
   * the retry is reported from here. (An attempt lost to its lease is
   * reported by the sweep or read that found it.)
   */
  private async reportEnd(id: string, seen: EndSeen, reply: FinishReply | null, exited?: number): Promise<void> {
    // Taken in the finish's own call (its report), else taken now. A finish Redis may have run without
    // answering may have taken it for this instance: a take asks again (it is answered the same).
    if (reply?.outcome === "ended" || reply?.outcome === "reported") {
      if (reply.report) this.events.reported(reply.report, seen);
      else await this.events.ended(id, seen);
    } else if (reply === null) await this.events.ended(id, seen);
    else if (reply?.outcome === "requeued") await this.reportRetry(id, seen);
    // Its next attempt may have ended already: whatever the state, the attempts say whether this one was retried.
    else if (exited !== undefined && reply?.outcome === "unchanged" && reply.state !== "") await this.reportRetry(id, seen, exited);
  }

  /**
   * Reads a job whose attempt ended and that went back to the queue, and
   * reports the retry. exited: only when that attempt (its process's own
   * failure, not a lost lease) is the one that was retried.
   */
  private async reportRetry(id: string, seen: EndSeen, exited?: number): Promise<void> {
    try {
      const job = await this.options.store.read(id, "auto", { resultLimit: 1 });
      if (!job) return;
      if (exited === undefined) {
        this.events.retried(job, seen);
        return;
      }
      const own = job.attempts.find((a) => a.attempt === exited && a.reason !== "lost" && a.reason !== "never-started");
      if (own) this.events.retried(job, seen, own);
    } catch (err) {
      this.log(`could not read the retry of job ${id}: ${(err as Error).message}`);
    }
  }

  /** Pids of the job processes this instance started that are still running. */
  pids(): number[] {
    return this.processes.pids();
  }

  /** For tests: resolves when every job process this instance started has exited and been recorded. */
  async idle(): Promise<void> {
    await Promise.all([this.processes.idle(), this.remote?.idle()]);
  }

  /** For tests: one poll of the Slurm queue now. */
  pollSlurm(): Promise<void> {
    return this.remote?.poll() ?? Promise.resolve();
  }
}

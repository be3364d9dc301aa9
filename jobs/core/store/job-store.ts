// JobStore: every operation on jobs in Redis, as one object that the server
// and the job processes hold. Each method says what it does; the work is in
// the module named at its call (transitions, reads, artifacts, list,
// operator), on the StoreCore this store holds (core.ts).
import type { FinishMode } from "../lua/commands.ts";
import * as artifacts from "./artifacts.ts";
import { LOG_LINE_MAX_CHARS, LOG_MAX_LINES, logCutMarker, UPLOAD_READ_BYTES, UPLOAD_SAFETY_TTL_S } from "./artifacts.ts";
import { LOG_MAX_BYTES_ON_DISK } from "../settings.ts";
import { FileDirectory } from "./file-dir.ts";
import { StoreCore, type Redis, type StoreEnd, type StoreOptions, type WriteRefusals } from "./core.ts";
import { keepScriptsLoaded } from "./scripts.ts";
import type { OnceScope, Partition } from "./keys.ts";
import * as list from "./list.ts";
import * as login from "./login.ts";
import * as audit from "./audit.ts";
import type { AuditEntry } from "./audit.ts";
import type { LoginLimits } from "./login.ts";
import * as notify from "./notify.ts";
import type { AskReply, Delivery, NotifyChannel, NotifyRequest } from "./notify.ts";
import type { JobRow, ListCursor, ListFilter } from "./list.ts";
import * as operator from "./operator.ts";
import type { DeleteReply, MinuteCounts, SubmitterQueue } from "./operator.ts";
import * as reads from "./reads.ts";
import type { FileEntry, JobRecord, JobState, JobSummary, Outcome } from "./record.ts";
import * as transitions from "./transitions.ts";
import type { CancelReply, Claimed, FinishReply, NewJob, Progress, ReportReply, SweepReply, TakenReport } from "./transitions.ts";

export class JobStore {
  readonly prefix: string;
  readonly partitions: readonly Partition[];
  /** The key base of each partition ("P:{tag}:"). Reads that span jobs read each one and merge. */
  readonly bases: readonly string[];
  private readonly core: StoreCore;
  /** FILE_STORE_DIR: where uploads, output files and whole logs are kept (null: in Redis). */
  readonly fileDir: FileDirectory | null;

  constructor(
    readonly redis: Redis,
    private readonly options: StoreOptions,
  ) {
    this.core = new StoreCore(redis, options);
    this.fileDir = options.fileDir ? new FileDirectory(this.core, options.fileDir, options.uploadTtlS ?? UPLOAD_SAFETY_TTL_S) : null;
    this.prefix = options.prefix;
    this.partitions = this.core.keys.partitions;
    this.bases = this.core.keys.bases;
  }

  /** A store with the same options on another connection. */
  on(redis: Redis): JobStore {
    return new JobStore(redis, this.options);
  }

  /** Calls that failed because Redis did not answer (for the metrics). */
  get failures(): number {
    return this.core.failures;
  }

  /** When Redis last refused this store a write (shared by an instance's stores). */
  get refusals(): WriteRefusals {
    return this.core.refusals;
  }

  /**
   * Called with each end a call made on the way (a read that recorded a job
   * lost), for the log and metrics: the caller whose transition ended a job
   * reports it.
   */
  get onEnded(): ((end: StoreEnd) => void) | null {
    return this.core.onEnded;
  }

  set onEnded(listener: ((end: StoreEnd) => void) | null) {
    this.core.onEnded = listener;
  }

  /** Called with a job that a read() found with an expired lease and requeued for another attempt (for the log and metrics). */
  get onRetried(): ((job: JobRecord) => void) | null {
    return this.core.onRetried;
  }

  set onRetried(listener: ((job: JobRecord) => void) | null) {
    this.core.onRetried = listener;
  }

  // ------------------------------------------------------------ keys (keys.ts)

  /** The partition that holds a job's keys and index entries. */
  partition(id: string): Partition {
    return this.core.keys.partition(id);
  }

  /** The keys a job owns (the scripts reach the log and files from the record's key). */
  jobKeys(id: string): [job: string, results: string] {
    return this.core.keys.jobKeys(id);
  }

  /**
   * The id of the job a key belongs to (its record, results, log, files or an
   * upload), or null for any other key (an index): what a cache of job reads
   * drops when Redis says the key changed.
   */
  jobIdOfKey(key: string): string | null {
    return this.core.keys.jobIdOfKey(key);
  }

  // ------------------------------------------------------------ transitions (transitions.ts)

  /**
   * A new job's id for a submit under a key (an Idempotency-Key, a form's
   * token): in the partition of the key's record, so that the script that
   * creates the job writes the record on the same Redis Cluster slot. Chosen
   * before the job exists when its uploads are stored under it.
   */
  onceJobId(scope: OnceScope, key: string, type: string): string {
    return transitions.onceJobId(this.core, { scope, key }, type);
  }

  /**
   * Queues a new job. With a submit key (`once`), a request the key already
   * answers creates nothing: AlreadySubmittedError names its job (or
   * SubmitKeyReusedError, another request under a client's key). queueMax bounds the jobs waiting: its partition's queue
   * atomically; with several partitions, the sum of all queues is checked
   * first as well, which jobs created at the same moment can pass by a few.
   */
  async create(input: NewJob & { queueMax: number }): Promise<string> {
    return (await transitions.create(this.core, input)).id;
  }

  /**
   * Creates a job as create() does, or, when nothing waits in the queue,
   * already claimed by `owner` (claimed: true), which starts its process at
   * once: it has a free slot for the job's type. One script where a create
   * and a claim would take two.
   */
  createOrClaim(input: NewJob & { queueMax: number }, owner: string, leaseMs: number): Promise<{ id: string; claimed: boolean }> {
    return transitions.create(this.core, input, { owner, leaseMs });
  }

  /** A new job, already claimed by `owner`, which starts its process at once (it never waits in the queue). */
  createClaimed(input: NewJob, owner: string, leaseMs: number): Promise<string> {
    return transitions.createClaimed(this.core, input, owner, leaseMs);
  }

  /**
   * The instance whose create was answered counts the job submitted; true
   * when it is this call's to count (nobody counted it first: a claim or an
   * end counts a submit whose answer was lost, see lua/submitted-1.lua).
   */
  markSubmitted(id: string, instanceId: string): Promise<boolean> {
    return transitions.markSubmitted(this.core, id, instanceId);
  }

  /**
   * Takes the oldest waiting job of a type in `free` (the types this instance
   * has a free slot for), or null. A waiting job whose type is not in
   * `known` is passed over, never run; its id is added to `passedOver` when
   * given (see endUnknownType). The partitions take turns (see transitions.ts).
   */
  async claim(
    owner: string,
    leaseMs: number,
    free: readonly string[],
    known: readonly string[],
    passedOver?: string[],
    maxRunningPerSubmitter = 0,
  ): Promise<Claimed | null> {
    const { claimed, unknown } = await transitions.claim(this.core, owner, leaseMs, free, known, maxRunningPerSubmitter);
    passedOver?.push(...unknown);
    return claimed;
  }

  /**
   * Ends failed ('unknown-type') a queued job that a claim passed over, when
   * no type in `known` (every live instance's) is its own and it has waited
   * waitMs; true when this call ended it (the caller takes its report).
   */
  endUnknownType(id: string, known: readonly string[], waitMs: number): Promise<boolean> {
    return transitions.endUnknownType(this.core, id, known, waitMs);
  }

  /** Puts a claimed job back at the head of the queue (its process could not be started yet); false when it is no longer this owner's claim. */
  release(id: string, owner: string, unanswered = false): Promise<boolean> {
    return transitions.release(this.core, id, owner, unanswered);
  }

  /**
   * Takes the report of a job's end for an instance: taken when it is this
   * instance's to log and count (asked again after a lost reply, the answer
   * is the same); submitCounted: it counts the job's submit too.
   */
  takeReport(id: string, instanceId: string): Promise<TakenReport> {
    return transitions.takeReport(this.core, id, instanceId);
  }

  /** The job's process marks it running: its record as started, or the state that prevented it. */
  start(
    id: string,
    pid: number,
    host: string,
    leaseMs: number,
    attempt?: number,
  ): Promise<{ ok: true; job: JobRecord } | { ok: false; state: string }> {
    return transitions.start(this.core, id, pid, host, leaseMs, attempt);
  }

  /** Progress (done, total, a status line, new results) or a heartbeat (nothing); renews the lease. */
  report(id: string, leaseMs: number, progress: Progress = {}): Promise<ReportReply> {
    return transitions.report(this.core, id, leaseMs, progress);
  }

  /**
   * A job's process's last report and its end (as finish() in mode "job"
   * records it) in one call; "full" when the values would pass the job's
   * bounds: those that fit were appended, and nothing ended.
   */
  reportEnd(id: string, leaseMs: number, progress: Progress, state: JobState, outcome: Outcome = {}): Promise<FinishReply | "full"> {
    return transitions.reportEnd(this.core, id, leaseMs, progress, state, outcome);
  }

  /**
   * A running job's heartbeat: renews its lease with one command (its beat
   * key, lua/includes/beat.lua), and says "cancel" once a cancel is asked
   * for. A beat that finds no beat key of its attempt (the job was recorded
   * lost or ended, or started before beat keys), and one that must renew an
   * expired lease (renewExpired: Redis refused writes a moment ago), is a
   * whole report (report()), whose reply says why.
   */
  async beat(id: string, leaseMs: number, attempt: number, renewExpired = false): Promise<ReportReply> {
    if (!renewExpired) {
      const beat = await transitions.beat(this.core, id, attempt, leaseMs);
      if (beat) return beat;
    }
    return transitions.report(this.core, id, leaseMs, { renewExpired, attempt });
  }

  /**
   * Records the end of a job. mode: "job" from the job's own process (fenced),
   * "exit" from the server that saw its process end, "force" for server decisions.
   * The reply says whether this call ended the job, and so reports it (FinishReply);
   * with reportTo (the caller's instance id), the report of that end is taken in the same call.
   */
  finish(id: string, state: JobState, mode: FinishMode, outcome: Outcome = {}, attempt?: number, reportTo?: string): Promise<FinishReply> {
    return transitions.finish(this.core, id, state, mode, outcome, attempt, reportTo);
  }

  cancel(id: string, graceMs: number): Promise<CancelReply> {
    return transitions.cancel(this.core, id, graceMs);
  }

  /**
   * Records every job whose lease has expired as lost (at most `limit` per
   * partition), and takes the report of ends job processes recorded more
   * than reportWaitMs ago that no server reported (theirs is gone); returns
   * both, for the caller to report.
   */
  sweep(limit = 100, reportWaitMs = 10_000): Promise<SweepReply> {
    return transitions.sweep(this.core, limit, reportWaitMs);
  }

  /** Jobs whose cancel grace has run out (their process must be killed). */
  dueKills(): Promise<string[]> {
    return transitions.dueKills(this.core);
  }

  // ------------------------------------------------------------ reads (reads.ts)

  /**
   * One job in one round trip, or null when there is none (never was, or expired).
   * results "auto": all once the job has ended, only the last one while it runs;
   * resultLimit: at most this many, from the first (0: no limit);
   * resultBytes: at most this many bytes of them, the first always (0: no limit);
   * logLines: how many of the log's last lines to read.
   */
  async read(
    id: string,
    results: "all" | "auto" = "all",
    { resultLimit = 0, resultBytes = 0, logLines = 0 } = {},
  ): Promise<JobRecord | null> {
    return (await this.readWithFiles(id, results, { resultLimit, resultBytes, logLines, files: false }))?.job ?? null;
  }

  /** As read(), and with `files` the listing of a job that has ended, in the same round trip. */
  async readWithFiles(
    id: string,
    results: "all" | "auto",
    { resultLimit = 0, resultBytes = 0, logLines = 0, files = true } = {},
  ): Promise<{ job: JobRecord; files: FileEntry[]; resultBytes: number } | null> {
    const read = await reads.readWithFiles(this.core, id, results, { resultLimit, resultBytes, logLines, files });
    // With FILE_STORE_DIR the log is only on the disk: its last lines are read from there.
    if (read && this.fileDir && logLines > 0 && read.job.logCount > 0) {
      read.job.logTail = await this.fileDir.logTail(id, logLines, LOG_LINE_MAX_CHARS);
    }
    return read;
  }

  /** Results start..stop (inclusive, 0-based), for downloads read in pages. */
  readResults(id: string, start: number, stop: number): Promise<unknown[]> {
    return reads.readResults(this.core, id, start, stop);
  }

  /**
   * A few facts of each job, in the order asked; null for an id with no
   * record (never was, or expired). The reads are sent together (the web
   * connection pipelines them; on a Cluster, per node: a job's keys lie on
   * its partition's shard).
   */
  summaries(ids: readonly string[]): Promise<(JobSummary | null)[]> {
    return reads.summaries(this.core, ids);
  }

  /** Jobs waiting in the queues, and jobs claimed or running, over every partition. */
  activeCounts(): Promise<{ queued: number; running: number }> {
    return reads.activeCounts(this.core);
  }

  /** Jobs waiting, in every partition. */
  queueLength(): Promise<number> {
    return reads.queueLength(this.core);
  }

  /** Ids of running or claimed jobs (for tests and operators). */
  leasedIds(): Promise<string[]> {
    return reads.leasedIds(this.core);
  }

  /** used_memory and maxmemory (bytes; 0: no limit) of Redis, or of each master of a Cluster. */
  memory(): Promise<{ usedBytes: number; maxBytes: number }[]> {
    return reads.memory(this.core);
  }

  async ping(): Promise<void> {
    await this.core.call((r) => r.ping());
  }

  /**
   * Loads every script into Redis now (resolves once done, or failed), and
   * again after each reconnect of this store's connection (scripts.ts): a
   * server's, so that no job process meets NOSCRIPT.
   */
  keepScriptsLoaded(): Promise<void> {
    return keepScriptsLoaded(this.redis);
  }

  /** Redis' clock (ms). */
  now(): Promise<number> {
    return reads.now(this.core);
  }

  // ------------------------------------------------------------ uploads, log, files (artifacts.ts; file-dir.ts with FILE_STORE_DIR)

  /**
   * Appends a chunk to the upload of a job that is not created yet (see
   * create's `uploads`), renewing its safety TTL; returns its size so far.
   */
  appendUpload(id: string, field: string, chunk: Buffer | readonly Buffer[], at?: number): Promise<number> {
    if (this.fileDir) return this.fileDir.appendUpload(id, field, chunk, at);
    return artifacts.appendUpload(this.core, id, field, Buffer.isBuffer(chunk) ? chunk : Buffer.concat(chunk), at);
  }

  /** An upload has arrived whole: in a directory, its file becomes read-only. */
  async uploadStored(id: string, field: string): Promise<void> {
    await this.fileDir?.sealUpload(id, field);
  }

  /** The size of an upload in bytes (0 when there is none). */
  uploadSize(id: string, field: string): Promise<number> {
    return this.fileDir ? this.fileDir.uploadSize(id, field) : artifacts.uploadSize(this.core, id, field);
  }

  /** Where a program may read an upload in place (a directory store), or null (copy it: readUpload). */
  uploadPath(id: string, field: string): string | null {
    return this.fileDir ? this.fileDir.uploadPath(id, field) : null;
  }

  /** Bytes start..end (inclusive) of an upload. */
  readUploadRange(id: string, field: string, start: number, end: number): Promise<Buffer> {
    return this.fileDir ? this.fileDir.readUploadRange(id, field, start, end) : artifacts.readUploadRange(this.core, id, field, start, end);
  }

  /** An upload, chunk by chunk (UPLOAD_READ_BYTES each); nothing when there is none. */
  async *readUpload(id: string, field: string, chunkBytes = UPLOAD_READ_BYTES): AsyncGenerator<Buffer> {
    const size = await this.uploadSize(id, field);
    for (let start = 0; start < size; start += chunkBytes) {
      yield await this.readUploadRange(id, field, start, Math.min(size, start + chunkBytes) - 1);
    }
  }

  /** Deletes uploads of a job that was not created (a refused form). */
  deleteUploads(id: string, fields: readonly string[]): Promise<void> {
    return this.fileDir ? this.fileDir.deleteUploads(id, fields) : artifacts.deleteUploads(this.core, id, fields);
  }

  /** Copies a job's uploads to a new job's id (for a retry); false when one of them is gone. */
  copyUploads(fromId: string, toId: string, fields: readonly string[]): Promise<boolean> {
    return this.fileDir ? this.fileDir.copyUploads(fromId, toId, fields) : artifacts.copyUploads(this.core, fromId, toId, fields);
  }

  /**
   * Appends lines to a job's last lines (each cut at LOG_LINE_MAX_CHARS; the
   * log keeps its last LOG_MAX_LINES). With FILE_STORE_DIR there are no
   * lines apart from the whole log: they are appended to it.
   */
  appendLog(id: string, lines: readonly string[]): Promise<boolean> {
    if (this.fileDir) {
      const text = Buffer.from(lines.map((line) => `${line}\n`).join(""));
      return this.fileDir.appendLog(id, text, LOG_MAX_BYTES_ON_DISK, logCutMarker(LOG_MAX_BYTES_ON_DISK));
    }
    return artifacts.appendLog(this.core, id, lines);
  }

  /** The last lines kept of a job's log, oldest first (with FILE_STORE_DIR: the whole log's last LOG_MAX_LINES). */
  readLog(id: string): Promise<string[]> {
    return this.fileDir ? this.fileDir.logTail(id, LOG_MAX_LINES, LOG_LINE_MAX_CHARS) : artifacts.readLog(this.core, id);
  }

  /** Appends to a job's whole log, up to maxBytes (then `marker`, once); false when the job does not exist. */
  appendFullLog(id: string, text: Buffer, maxBytes: number, marker: string): Promise<boolean> {
    return this.fileDir
      ? this.fileDir.appendLog(id, text, maxBytes, marker)
      : artifacts.appendFullLog(this.core, id, text, maxBytes, marker);
  }

  /** The size of a job's whole log in bytes. */
  fullLogSize(id: string): Promise<number> {
    return this.fileDir ? this.fileDir.logSize(id) : artifacts.fullLogSize(this.core, id);
  }

  /** Bytes start..end (inclusive) of a job's whole log. */
  readFullLogRange(id: string, start: number, end: number): Promise<Buffer> {
    return this.fileDir ? this.fileDir.readLogRange(id, start, end) : artifacts.readFullLogRange(this.core, id, start, end);
  }

  /** Stores an output file of a running job, given or read from a file (`path`); false when the job is not running. */
  putFile(id: string, name: string, source: Buffer | { path: string }): Promise<boolean> {
    return this.fileDir ? this.fileDir.putFile(id, name, source) : artifacts.putFile(this.core, id, name, source);
  }

  /** A job's output files: names and sizes in bytes, by name. */
  listFiles(id: string): Promise<FileEntry[]> {
    return this.fileDir ? this.fileDir.listFiles(id) : artifacts.listFiles(this.core, id);
  }

  /**
   * Where a job's stored file is on this host's disk (a directory store), to
   * be read directly; null in Redis. kind: an output file, an upload (name:
   * its field) or the whole log.
   */
  localFile(kind: "file" | "upload" | "log", id: string, name = ""): string | null {
    const dir = this.fileDir;
    if (!dir) return null;
    return kind === "file" ? dir.filePath(id, name) : kind === "upload" ? dir.uploadPath(id, name) : dir.logPath(id);
  }

  /** Bytes start..end (inclusive) of an output file, fewer past its end; null when there is no such file. */
  readFileRange(id: string, name: string, start: number, end: number): Promise<Buffer | null> {
    return this.fileDir ? this.fileDir.readFileRange(id, name, start, end) : artifacts.readFileRange(this.core, id, name, start, end);
  }

  /** One output file's content, or null. */
  readFile(id: string, name: string): Promise<Buffer | null> {
    return this.fileDir ? this.fileDir.readFile(id, name) : artifacts.readFile(this.core, id, name);
  }

  /** With FILE_STORE_DIR: removes the files of jobs Redis no longer names (file-dir.ts); nothing otherwise. */
  async sweepFiles(): Promise<{ folders: number; files: number }> {
    return this.fileDir ? this.fileDir.sweep() : { folders: 0, files: 0 };
  }

  // ------------------------------------------------------------ operators (operator.ts, list.ts)

  /** Removes a job that has ended, with all its keys; the state it had, or null when it has not ended (or is gone). */
  async delete(id: string): Promise<DeleteReply> {
    const reply = await operator.deleteJob(this.core, id);
    // Its files go with it (a sweep would remove them later: see file-dir.ts).
    if (reply.deleted) await this.fileDir?.removeJob(id).catch(() => {});
    return reply;
  }

  /** What Slurm says of the job's Slurm job (its id, state, reason); leaseMs renews a waiting job's start lease. */
  recordSlurm(id: string, attempt: number, slurm: { jobId: string; state: string; reason: string }, leaseMs: number | null) {
    return transitions.recordSlurm(this.core, id, attempt, slurm, leaseMs);
  }

  /** Takes a place among the deployment's submitted Slurm jobs (SLURM_MAX_SUBMITTED: max) for a job; false: none is free. */
  takeSlurmPlace(id: string, max: number, holdMs: number): Promise<boolean> {
    return transitions.slurmPlace(this.core, "take", id, max, holdMs);
  }

  /** Renews the places of jobs whose Slurm jobs are in the queue, or gives them back (leave): the places taken now. */
  slurmPlaces(mode: "renew" | "leave", ids: readonly string[], holdMs: number): Promise<number> {
    return transitions.slurmPlace(this.core, mode, ids, 0, holdMs);
  }

  /** Records on a job that `newId` retries it; false when the job is gone. */
  markRetried(id: string, newId: string): Promise<boolean> {
    return operator.markRetried(this.core, id, newId);
  }

  /** An instance's heartbeat: its facts in the registry for ttlMs. */
  heartbeat(instanceId: string, facts: object, ttlMs: number): Promise<void> {
    return operator.heartbeat(this.core, instanceId, facts, ttlMs);
  }

  /**
   * A sample of the queue length for this minute (the queue chart; the last
   * of a minute wins) in the first partition and those whose queue is not
   * empty, or that `also` names (the last call's answer: the partitions
   * whose queue was not empty then).
   */
  sampleQueues(also: readonly number[] = []): Promise<number[]> {
    return operator.sampleQueues(this.core, also);
  }

  /** The instances whose heartbeat has not run out, with their facts, and Redis' clock. */
  instances(): Promise<{ now: number; instances: { id: string; facts: Record<string, unknown> }[] }> {
    return operator.instances(this.core);
  }

  /** How many jobs of each type are in each state (ended ones until they expire), summed over the partitions. */
  counts(types: readonly string[]): Promise<Record<string, Record<JobState, number>>> {
    return operator.counts(this.core, types);
  }

  /** The creation time of the oldest job still waiting to start (queued), or null. */
  oldestQueuedAt(types: readonly string[]): Promise<number | null> {
    return operator.oldestQueuedAt(this.core, types);
  }

  /** The queue's length, summed over the partitions. */
  totalQueueLength(): Promise<number> {
    return operator.totalQueueLength(this.core);
  }

  /** Jobs ended per minute over the last `minutes` (oldest first), summed over the partitions. */
  endedPerMinute(now: number, minutes = 60): Promise<MinuteCounts[]> {
    return operator.endedPerMinute(this.core, now, minutes);
  }

  /**
   * Durations of the jobs of each type that ended in the last `hours`, as
   * histogram buckets: bucket b holds durations up to 2^(b/4) ms.
   */
  durations(types: readonly string[], now: number, hours = 24): Promise<Record<string, Map<number, number>>> {
    return operator.durations(this.core, types, now, hours);
  }

  /**
   * What the jobs of each type that ended in the last `hours` used (peak
   * memory, CPU time), as histogram buckets: see operator.ts, UsageBuckets.
   */
  usage(types: readonly string[], now: number, hours = 24): Promise<Record<string, operator.UsageBuckets>> {
    return operator.usage(this.core, types, now, hours);
  }

  /** The queue's length sampled per minute over the last hour (oldest first; null where no instance sampled it), summed over the partitions. */
  queueSamples(now: number): Promise<{ minute: number; length: number | null }[]> {
    return operator.queueSamples(this.core, now);
  }

  /**
   * One page of the jobs list, newest first: for each partition, a page of
   * each index set that matches, merged here (see list.ts).
   */
  listJobs(filter: ListFilter, limit: number, after: ListCursor | null = null): Promise<{ rows: JobRow[]; next: ListCursor | null }> {
    return list.listJobs(this.core, filter, limit, after);
  }

  /** One page of a signed-in person's jobs ("my jobs"), newest first, of these types and states (none: all); see list.ts. */
  userJobs(
    user: string,
    filter: { types?: readonly string[]; states?: readonly JobState[] },
    limit: number,
    after: ListCursor | null = null,
  ): Promise<{ rows: JobRow[]; next: ListCursor | null }> {
    return list.userJobs(this.core, user, filter, limit, after);
  }

  /** Every id in the index sets of these types and states (for bulk actions), newest first, at most max. */
  allIds(types: readonly string[], states: readonly JobState[], max: number): Promise<string[]> {
    return list.allIds(this.core, types, states, max);
  }

  /** How many entries the index sets of these types and states hold. */
  countIn(types: readonly string[], states: readonly JobState[]): Promise<number> {
    return list.countIn(this.core, types, states);
  }

  /**
   * Drops the jobs list's entries of ended jobs that have expired, in every
   * partition (or in the one `partition` names): up to `checks` per set (see
   * lua/trim-2.lua); how many it dropped.
   */
  trimIndex(
    types: readonly { type: string; ttlSucceededS: number; ttlFailedS: number }[],
    checks = 100,
    partition?: number,
  ): Promise<number> {
    return list.trimIndex(this.core, types, checks, partition);
  }

  // ------------------------------------------------------------ the operator's login and sessions (login.ts)

  /** Counts a login attempt as failed before its password is checked: 0, or the ms until one may be made. */
  reserveLogin(address: string, attempt: string, limits: LoginLimits): Promise<number> {
    return login.reserveLogin(this.core, address, attempt, limits);
  }

  /** The attempt had the right password: the address's failures are forgotten. */
  loginSucceeded(address: string, attempt: string): Promise<void> {
    return login.loginSucceeded(this.core, address, attempt);
  }

  /** The submitters next in turn, with how many jobs each has waiting and running (operator.ts). */
  submitterQueues(limit: number): Promise<SubmitterQueue[]> {
    return operator.submitterQueues(this.core, limit);
  }

  /** Writes an operator's action to the audit trail (audit.ts). */
  appendAudit(entry: AuditEntry): Promise<void> {
    return audit.appendAudit(this.core, entry);
  }

  /** The audit trail's newest entries, newest first. */
  readAudit(limit: number): Promise<AuditEntry[]> {
    return audit.readAudit(this.core, limit);
  }

  startSession(id: string, tag: string, ttlMs: number): Promise<void> {
    return login.startSession(this.core, id, tag, ttlMs);
  }

  /** Whether the session is live: not logged out, not ended everywhere since, for the same password. */
  isSession(id: string, tag: string): Promise<boolean> {
    return login.isSession(this.core, id, tag);
  }

  endSession(id: string): Promise<void> {
    return login.endSession(this.core, id);
  }

  endEverySession(): Promise<void> {
    return login.endEverySession(this.core);
  }

  // ------------------------------------------------------------ telling people when a job ends (notify.ts)

  /** Keeps on a new job's record who is to be told when it ends; "ended": its end was reported already, the caller tells it. */
  askNotify(id: string, request: NotifyRequest): Promise<AskReply> {
    return notify.ask(this.core, id, request);
  }

  /** The request of an ended job, when telling it is this instance's (once per job); else null. */
  takeNotify(id: string, instanceId: string): Promise<NotifyRequest | null> {
    return notify.take(this.core, id, instanceId);
  }

  /** Records how a delivery of a job's end went so far; false when the job is gone. */
  recordDelivery(id: string, channel: NotifyChannel, delivery: Delivery): Promise<boolean> {
    return notify.record(this.core, id, channel, delivery);
  }

  /** Who was to be told of a job's end, and how each delivery went. */
  notifications(id: string): ReturnType<typeof notify.read> {
    return notify.read(this.core, id);
  }
}

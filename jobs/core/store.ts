// The only module that knows the Redis keys and the job record.
//
// Keys (P = REDIS_PREFIX; T = the Redis Cluster hash tag of the job's
// partition, "jobs" when there is one: see partitions.ts):
//   P:{T}:job:<id>          hash: the job record (fields below)
//   P:{T}:job:<id>:results  list: the values the job has produced so far, each a JSON text
//   P:{T}:job:<id>:log      list: the last LOG_MAX_LINES lines the job's program wrote
//   P:{T}:job:<id>:files    hash: file name -> content, the job's output files
//   P:{T}:job:<id>:upload:<field>  string: the file uploaded for a file field, as sent
//   P:{T}:queue             list: ids of the partition's jobs waiting for a slot, oldest first
//   P:{T}:leases            sorted set: id -> lease expiry (ms) of every claimed or running job
//   P:{T}:kills             sorted set: id -> when to kill a job that ignores its cancel request
//   P:{T}:ix:<type>:<state> sorted set: id -> createdAt (ms), the jobs list's index (see lua/includes/index.lua)
//   P:{T}:ix:m:<minute>     hash: jobs ended that minute (s, f, c; l: lost), kept 2 h
//   P:{T}:ix:d:<type>:<hour> hash: durations of the jobs of a type that ended that hour, bucket -> count, kept 25 h
//   P:{T}:queue-samples     hash: minute of the hour -> "<minute>:<queue length>", written with each heartbeat
// and once, under the first partition's tag:
//   P:{T0}:beats            sorted set: instance id -> when its heartbeat runs out (ms)
//   P:{T0}:instances        hash: instance id -> its facts (JSON: host, pid, version, slots, started at)
// Each partition has its own queue, leases, kills and list index, so that
// every script touches one slot. The queue is first in first out within a
// partition; claims visit the partitions in turn (claim()). Reads that span
// jobs (the operators' list, counts, charts) read each partition and merge.
// When a job finishes it leaves every index, and its keys get a TTL: its
// type's retention, stored on the record when it was created. An upload is
// written before its job exists, with UPLOAD_SAFETY_TTL_S renewed at each
// chunk (a request that dies halfway leaves nothing for long); creating the
// job takes that TTL away, and the job's end gives it the job's.
import crypto from "node:crypto";
import type { Cluster, Redis as OneRedis } from "ioredis";
import type { FinishMode } from "./lua/commands.ts";
import { LUA_COMMANDS } from "./lua/index.ts";
import { partitionOf, partitionTags } from "./partitions.ts";
import { isUnavailableReply } from "./redis.ts";

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Why a job ended failed or cancelled. The record stores the code; the pages
 * word it (server/job-view.ts). Nothing parses a message back.
 */
export const END_REASONS = [
  /** Its process stopped reporting (lease expired while running). */
  "lost",
  /** Claimed, but its process never marked it running. */
  "never-started",
  /** Ran past its time limit. */
  "timeout",
  /** Its process was killed by a signal (exitCode/signal hold the facts). */
  "signal",
  /** Its process exited with a non-zero code and no message of its own. */
  "exit-code",
  /** Its process exited 0 without recording an end. */
  "no-result",
  /** The job's own error: `error` holds its plain message. */
  "job-error",
  /** Its process could not be started. */
  "spawn-failed",
  /** The record names a type this deployment does not have; nothing ran. */
  "unknown-type",
  /** Cancelled: before it started, or it stopped by itself. */
  "cancelled",
  /** Cancelled, and its process had to be stopped with a signal. */
  "cancel-killed",
] as const;
export type EndReason = (typeof END_REASONS)[number];

/** Lines of a job's log kept in Redis, and the longest line (longer ones are cut). */
export const LOG_MAX_LINES = 1000;
export const LOG_LINE_MAX_CHARS = 256;

export interface JobRecord {
  id: string;
  type: string;
  params: Record<string, unknown>;
  state: JobState;
  done: number;
  /** Steps in all; 0 while not known. */
  total: number;
  /** The results read (see read()), each as the JSON value the job reported. */
  results: unknown[];
  /** How many results the job has, whether read or not. */
  resultCount: number;
  /** What the job says it is doing ("Reading rows"), if it said. */
  status: string | null;
  /** Why it ended, for failed and cancelled jobs. */
  reason: EndReason | null;
  /** The last lines of its log that were read (see read()). */
  logTail: string[];
  /** Lines kept in its log, and lines dropped from its start to keep it short. */
  logCount: number;
  logDropped: number;
  /** Its time limit (ms) and retention (s), as its type set them when it was created; null for older records. */
  timeoutMs: number | null;
  createdAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** When the job last changed or its process last reported. */
  updatedAt: number | null;
  pid: number | null;
  host: string | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  /** Technical detail of a failure: the last lines the process wrote. */
  detail: string | null;
  cancelRequestedAt: number | null;
  /** 0-based place in the queue while waiting for a slot, else null. */
  queuePosition: number | null;
  /** When the lease of a claimed or running job runs out (Redis' clock, ms), unless renewed; null without one. */
  leaseExpiresAt: number | null;
  /** The job this one retries, and the job that retried this one (operators' retries). */
  retryOf: string | null;
  retriedAs: string | null;
  /** The fields whose upload the job was created with. */
  uploads: string[];
  /** Redis' clock when the record was read. */
  readAt: number;
}

/** A job's output file, as its listing has it. */
export interface FileEntry {
  name: string;
  size: number;
}

/** What a list of jobs shows of each (JobStore.summaries). */
export interface JobSummary {
  id: string;
  type: string;
  params: Record<string, unknown>;
  state: JobState;
  createdAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  reason: EndReason | null;
  cancelRequestedAt: number | null;
}

const SUMMARY_FIELDS = ["type", "params", "state", "createdAt", "startedAt", "finishedAt", "reason", "cancelRequestedAt"] as const;

export interface Outcome {
  reason?: EndReason;
  /** The job's own message (reason job-error). */
  error?: string;
  exitCode?: number | null;
  signal?: string | null;
  detail?: string;
}

export interface StoreOptions {
  prefix: string;
  /** How many partitions the jobs are spread over (REDIS_PARTITIONS; default 1). Every process of a deployment must agree. */
  partitions?: number;
  ttlSucceededS: number;
  ttlFailedS: number;
  /**
   * The most commands this store waits for at once; one more fails at once
   * with a StoreBusyError instead of queueing behind them (0: no limit). The
   * web store has one, so a flood of page reads fails fast instead of piling
   * up in memory and in front of Redis.
   */
  maxInFlight?: number;
  /**
   * The longest a call may take, from the moment it is made, before it fails
   * with a StoreUnavailableError (0: none). ioredis' commandTimeout counts
   * from when a command is sent, and with auto-pipelining a command waits for
   * the pipeline before it: with Redis frozen, each one waiting added another
   * timeout. The web store sets this to its command timeout.
   */
  deadlineMs?: number;
}

/** What a new job is made of. */
export interface NewJob {
  /** The id, when it was chosen first (newJobId()) to store the job's uploads under it. */
  id?: string;
  /** The fields whose uploads are stored (appendUpload); they must all be there. */
  uploads?: readonly string[];
  type: string;
  params: object;
  total: number;
  /** The job's time limit; without one, the job process applies JOB_TIMEOUT_MS. */
  timeoutMs?: number;
  ttlSucceededS?: number;
  ttlFailedS?: number;
  /** The job this one retries (an operator's retry). */
  retryOf?: string;
}

/** How long an upload is kept, from its last chunk, while its job does not exist yet. */
export const UPLOAD_SAFETY_TTL_S = 600;
/** Chunks an upload is read back in (GETRANGE), so nothing holds it whole. */
export const UPLOAD_READ_BYTES = 64 * 1024;
const FIELD = /^[a-z][a-z0-9_]{0,39}$/;

/** The job's uploads were not all there when it was to be created (expired, or never stored). */
export class UploadMissingError extends Error {
  constructor() {
    super("An upload of the job is missing");
    this.name = "UploadMissingError";
  }
}

export class QueueFullError extends Error {
  constructor() {
    super("The queue is full");
    this.name = "QueueFullError";
  }
}

/** Redis did not answer (down, unreachable, timed out): a 503 for a web request. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`Redis unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "StoreUnavailableError";
  }
}

/** Too many commands already waiting for Redis on this connection: a 503 as well, at once. */
export class StoreBusyError extends StoreUnavailableError {
  constructor(inFlight: number) {
    super(new Error(`${inFlight} commands already waiting`));
    this.name = "StoreBusyError";
  }
}

/** One Redis (or a Sentinel's master), or a Redis Cluster: the store works the same on both. */
type Redis = OneRedis | Cluster;

const ID = /^[0-9a-f]{32}$/;
const ID_LENGTH = 32;

/** A job id: 128 random bits, as 32 hex digits. */
export function newJobId(): string {
  return crypto.randomBytes(16).toString("hex");
}

export function isJobId(value: unknown): value is string {
  return typeof value === "string" && ID.test(value);
}

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

export type ReportReply = "ok" | "cancel" | "refused";
export type CancelReply = { outcome: "cancelled" | "requested" } | { outcome: "finished"; state: JobState } | { outcome: "missing" };

const num = (v: string | undefined): number | null => (v === undefined || v === "" ? null : Number(v));
/** A stored result: a JSON text (older records hold plain numbers, which are JSON too). */
const parseResult = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
const isReason = (v: string | undefined): v is EndReason => (END_REASONS as readonly string[]).includes(v ?? "");
const str = (v: string | undefined): string | null => (v === undefined || v === "" ? null : v);

/** One partition's keys: the base of its jobs' keys and its indexes. */
export interface Partition {
  /** "P:{tag}:" */
  readonly base: string;
  /** The partition's queue of waiting ids. */
  readonly queueKey: string;
  readonly leasesKey: string;
  readonly killsKey: string;
  /** What its jobs' keys start with: "P:{tag}:job:". */
  readonly jobPrefix: string;
  /** What its jobs list index keys start with: "P:{tag}:ix:" (see lua/includes/index.lua). */
  readonly indexPrefix: string;
}

export class JobStore {
  readonly prefix: string;
  readonly partitions: readonly Partition[];
  /** The key base of each partition ("P:{tag}:"). Reads that span jobs read each one and merge. */
  readonly bases: readonly string[];
  /** Where the next claim starts looking, so that partitions take turns. */
  private nextClaim = 0;
  private readonly ttl: [string, string];
  private readonly maxInFlight: number;
  private readonly deadlineMs: number;
  private inFlight = 0;
  /** Calls that failed because Redis did not answer (for the metrics). */
  failures = 0;
  /** Called with a job that a read() found with an expired lease and recorded lost (for the log and metrics). */
  onLost: ((job: JobRecord) => void) | null = null;

  constructor(
    readonly redis: Redis,
    private readonly options: StoreOptions,
  ) {
    this.prefix = options.prefix;
    this.partitions = partitionTags(options.partitions ?? 1).map((tag) => {
      const base = `${options.prefix}:{${tag}}:`;
      return {
        base,
        queueKey: `${base}queue`,
        leasesKey: `${base}leases`,
        killsKey: `${base}kills`,
        jobPrefix: `${base}job:`,
        indexPrefix: `${base}ix:`,
      };
    });
    this.bases = this.partitions.map((p) => p.base);
    this.ttl = [String(options.ttlSucceededS), String(options.ttlFailedS)];
    this.maxInFlight = options.maxInFlight ?? 0;
    this.deadlineMs = options.deadlineMs ?? 0;
    // The scripts in jobs/core/lua, as commands of this connection (once, if
    // several stores share it); their types are in lua/commands.ts.
    for (const { name, lua, numberOfKeys } of LUA_COMMANDS) {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    }
  }

  /** A store with the same options on another connection. */
  on(redis: Redis): JobStore {
    return new JobStore(redis, this.options);
  }

  /** The partition that holds a job's keys and index entries. */
  partition(id: string): Partition {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    return this.partitions[partitionOf(id, this.partitions.length)]!;
  }

  /** The keys a job owns (the scripts reach the log and files from the record's key). */
  jobKeys(id: string): [job: string, results: string] {
    const job = `${this.partition(id).jobPrefix}${id}`;
    return [job, `${job}:results`];
  }

  private logKey(id: string): string {
    return `${this.jobKeys(id)[0]}:log`;
  }

  private filesKey(id: string): string {
    return `${this.jobKeys(id)[0]}:files`;
  }

  /** Every key of one job plus the indexes, in the order the scripts take them. */
  private keys(id: string): [job: string, results: string, leases: string, queue: string, kills: string, index: string] {
    const { leasesKey, queueKey, killsKey, indexPrefix } = this.partition(id);
    return [...this.jobKeys(id), leasesKey, queueKey, killsKey, indexPrefix];
  }

  /** The jobs list's index key prefix of a partition (see lua/includes/index.lua). */
  private indexKey(base: string): string {
    return `${base}ix:`;
  }

  /** Sends one command; an unreachable Redis becomes a StoreUnavailableError. */
  private async call<T>(send: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.maxInFlight > 0 && this.inFlight >= this.maxInFlight) throw new StoreBusyError(this.inFlight);
    this.inFlight++;
    // Counted until Redis answers or ioredis gives up, even past the deadline:
    // maxInFlight bounds what really waits.
    const sent = send(this.redis).finally(() => this.inFlight--);
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.deadlineMs <= 0) return await sent;
      sent.catch(() => {});
      const late = new Promise<never>((_, reject) => {
        // Given up only once the event loop has read what arrived meanwhile (setImmediate runs after
        // the poll phase): after a stall of this process, the timer fires before an answer already
        // waiting in the socket is read, and a busy server answered 503 for a Redis that had answered.
        timer = setTimeout(() => setImmediate(() => reject(new Error(`no answer within ${this.deadlineMs} ms`))), this.deadlineMs);
      });
      return await Promise.race([sent, late]);
    } catch (err) {
      // A ReplyError is Redis refusing a command: a bug, not an outage, unless
      // it says the data cannot be served for now (a failover in progress).
      if ((err as Error)?.name === "ReplyError" && !isUnavailableReply(err)) throw err;
      this.failures++;
      throw new StoreUnavailableError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The key of the file uploaded for one of a job's fields. */
  private uploadKey(id: string, field: string): string {
    if (!FIELD.test(field)) throw new Error(`not a field name: ${JSON.stringify(field)}`);
    return `${this.jobKeys(id)[0]}:upload:${field}`;
  }

  /**
   * Appends a chunk to the upload of a job that is not created yet (see
   * create's `uploads`), renewing its safety TTL; returns its size so far.
   */
  async appendUpload(id: string, field: string, chunk: Buffer): Promise<number> {
    const key = this.uploadKey(id, field);
    const replies = await this.call((r) => r.multi().append(key, chunk).expire(key, UPLOAD_SAFETY_TTL_S).exec());
    const [err, size] = replies?.[0] ?? [new Error("the upload's transaction was discarded"), 0];
    if (err) throw err;
    return Number(size);
  }

  /** The size of an upload in bytes (0 when there is none). */
  async uploadSize(id: string, field: string): Promise<number> {
    return this.call((r) => r.strlen(this.uploadKey(id, field)));
  }

  /** Bytes start..end (inclusive) of an upload. */
  async readUploadRange(id: string, field: string, start: number, end: number): Promise<Buffer> {
    return this.call((r) => r.getrangeBuffer(this.uploadKey(id, field), start, end));
  }

  /** An upload, chunk by chunk (UPLOAD_READ_BYTES each); nothing when there is none. */
  async *readUpload(id: string, field: string, chunkBytes = UPLOAD_READ_BYTES): AsyncGenerator<Buffer> {
    const size = await this.uploadSize(id, field);
    for (let start = 0; start < size; start += chunkBytes) {
      yield await this.readUploadRange(id, field, start, Math.min(size, start + chunkBytes) - 1);
    }
  }

  /** Deletes uploads of a job that was not created (a refused form). */
  async deleteUploads(id: string, fields: readonly string[]): Promise<void> {
    if (fields.length === 0) return;
    const keys = fields.map((f) => this.uploadKey(id, f));
    await this.call((r) => r.del(...keys));
  }

  /**
   * Queues a new job. queueMax bounds the jobs waiting: its partition's queue
   * atomically; with several partitions, the sum of all queues is checked
   * first as well, which jobs created at the same moment can pass by a few.
   */
  async create(input: NewJob & { queueMax: number }): Promise<string> {
    const id = input.id ?? newJobId();
    const [job] = this.jobKeys(id);
    const uploads = input.uploads ?? [];
    for (const field of uploads) this.uploadKey(id, field);
    if (this.partitions.length > 1) {
      const lengths = await this.call((r) => Promise.all(this.partitions.map(({ queueKey }) => r.llen(queueKey))));
      if (lengths.reduce((sum, n) => sum + n, 0) >= input.queueMax) throw new QueueFullError();
    }
    const [created, reason] = await this.call((r) =>
      r.sjCreate(
        job,
        this.partition(id).queueKey,
        this.partition(id).indexPrefix,
        id,
        input.type,
        JSON.stringify(input.params),
        input.total,
        input.queueMax,
        input.ttlSucceededS ?? this.ttl[0],
        input.ttlFailedS ?? this.ttl[1],
        input.timeoutMs ?? "",
        uploads.join(","),
        input.retryOf ?? "",
      ),
    );
    if (created === 1) return id;
    if (reason === "upload_missing") throw new UploadMissingError();
    if (reason === "exists") throw new Error(`a job ${id} exists already`);
    throw new QueueFullError();
  }

  /** A new job, already claimed by `owner`, which starts its process at once (it never waits in the queue). */
  async createClaimed(input: NewJob, owner: string, leaseMs: number): Promise<string> {
    // Its uploads, if any, keep their safety TTL (UPLOAD_SAFETY_TTL_S): the process starts at once and copies them first.
    const id = input.id ?? newJobId();
    const [job] = this.jobKeys(id);
    await this.call((r) =>
      r.sjCreateClaimed(
        job,
        this.partition(id).leasesKey,
        this.partition(id).indexPrefix,
        id,
        input.type,
        JSON.stringify(input.params),
        input.total,
        input.ttlSucceededS ?? this.ttl[0],
        input.ttlFailedS ?? this.ttl[1],
        input.timeoutMs ?? "",
        owner,
        leaseMs,
        input.retryOf ?? "",
      ),
    );
    return id;
  }

  /**
   * Takes the oldest waiting job of a type in `free` (the types this instance
   * has a free slot for), or null. A waiting job whose type is not in `known`
   * is ended failed ('unknown-type') on the way, never run.
   *
   * With several partitions, "oldest" holds within one: each claim starts at
   * the partition after the one the last claim took from, and takes from the
   * first that has such a job. So while jobs wait in every partition, each
   * partition gives one job per round, and a job waits for at most the jobs
   * ahead of it in its own queue, plus as many rounds of the others.
   */
  async claim(
    owner: string,
    leaseMs: number,
    free: readonly string[],
    known: readonly string[],
  ): Promise<{ id: string; type: string } | null> {
    if (free.length === 0) return null;
    const others = known.filter((t) => !free.includes(t));
    const count = this.partitions.length;
    const start = this.nextClaim;
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      const { queueKey, leasesKey, killsKey, jobPrefix, indexPrefix } = this.partitions[index]!;
      const reply = await this.call((r) =>
        r.sjClaim(queueKey, leasesKey, killsKey, jobPrefix, indexPrefix, leaseMs, owner, ...this.ttl, free.length, ...free, ...others),
      );
      if (reply) {
        this.nextClaim = (index + 1) % count;
        return { id: reply[0], type: reply[1] };
      }
    }
    return null;
  }

  /** Puts a claimed job back at the head of the queue (its process could not be started yet); false when it is no longer this owner's claim. */
  async release(id: string, owner: string): Promise<boolean> {
    return (
      (await this.call((r) => r.sjRelease(this.jobKeys(id)[0], this.partition(id).leasesKey, this.partition(id).queueKey, id, owner))) === 1
    );
  }

  /** The job's process marks it running. Returns the state that prevented it, if any. */
  async start(id: string, pid: number, host: string, leaseMs: number): Promise<{ ok: true } | { ok: false; state: string }> {
    const { leasesKey, indexPrefix } = this.partition(id);
    const reply = await this.call((r) => r.sjStart(this.jobKeys(id)[0], leasesKey, indexPrefix, id, pid, host, leaseMs));
    return reply[0] === 1 ? { ok: true } : { ok: false, state: reply[1] };
  }

  /** Progress (done, total, a status line, new results) or a heartbeat (nothing); renews the lease. */
  async report(
    id: string,
    leaseMs: number,
    progress: {
      done?: number;
      total?: number;
      status?: string;
      results?: readonly unknown[];
      /** How many results the process reported before these: makes a report sent twice append once. */
      first?: number;
    } = {},
  ): Promise<ReportReply> {
    const { done, total, status, results = [], first } = progress;
    const values = results.map((v) => JSON.stringify(v) ?? "null");
    const reply = await this.call((r) =>
      r.sjReport(...this.keys(id), id, leaseMs, done ?? "", ...this.ttl, total ?? "", status ?? "", first ?? "", ...values),
    );
    return reply[0] === 1 ? reply[1] : "refused";
  }

  /**
   * Records the end of a job. mode: "job" from the job's own process (fenced),
   * "exit" from the server that saw its process end, "force" for server decisions.
   * Returns the state recorded, or null when the job had already ended.
   */
  async finish(id: string, state: JobState, mode: FinishMode, outcome: Outcome = {}): Promise<JobState | null> {
    const fields: (string | number)[] = [];
    if (outcome.reason) fields.push("reason", outcome.reason);
    if (outcome.error) fields.push("error", outcome.error);
    if (outcome.exitCode !== undefined && outcome.exitCode !== null) fields.push("exitCode", outcome.exitCode);
    if (outcome.signal) fields.push("signal", outcome.signal);
    if (outcome.detail) fields.push("detail", outcome.detail);
    const reply = await this.call((r) => r.sjFinish(...this.keys(id), id, state, mode, ...this.ttl, ...fields));
    return reply[0] === 1 ? reply[1] : null;
  }

  async cancel(id: string, graceMs: number): Promise<CancelReply> {
    const reply = await this.call((r) => r.sjCancel(...this.keys(id), id, graceMs, ...this.ttl));
    if (reply[0] === 1) return { outcome: "cancelled" };
    if (reply[0] === 2) return { outcome: "requested" };
    return reply[1] ? { outcome: "finished", state: reply[1] } : { outcome: "missing" };
  }

  /**
   * One job in one round trip, or null when there is none (never was, or expired).
   * results "auto": all once the job has ended, only the last one while it runs;
   * resultLimit: at most this many, from the first (0: no limit);
   * logLines: how many of the log's last lines to read.
   */
  async read(id: string, results: "all" | "auto" = "all", { resultLimit = 0, logLines = 0 } = {}): Promise<JobRecord | null> {
    return (await this.readWithFiles(id, results, { resultLimit, logLines, files: false }))?.job ?? null;
  }

  /** As read(), and with `files` the listing of a job that has ended, in the same round trip. */
  async readWithFiles(
    id: string,
    results: "all" | "auto",
    { resultLimit = 0, logLines = 0, files = true } = {},
  ): Promise<{ job: JobRecord; files: FileEntry[] } | null> {
    const keys = [...this.keys(id), this.logKey(id), this.filesKey(id)] as const;
    const reply = await this.call((r) => r.sjRead(...keys, id, results, ...this.ttl, resultLimit, logLines, files ? "1" : "0"));
    if (reply.length === 1) return null;
    const [readAt, flat, values, position, resultCount, logTail, logCount, lease, fileList, recordedLost] = reply;
    const h: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    let params: Record<string, unknown> = {};
    try {
      params = JSON.parse(h.params ?? "{}") as Record<string, unknown>;
    } catch {
      // A record written by something else: show it without parameters.
    }
    const job: JobRecord = {
      id,
      type: h.type ?? "unknown",
      params,
      state: (JOB_STATES as readonly string[]).includes(h.state!) ? (h.state as JobState) : "failed",
      done: Number(h.done ?? 0),
      total: Number(h.total ?? 0),
      results: values.map(parseResult),
      resultCount: Number(resultCount),
      status: str(h.status),
      reason: isReason(h.reason) ? h.reason : null,
      logTail,
      logCount: Number(logCount),
      logDropped: Number(h.logDropped ?? 0),
      timeoutMs: num(h.timeoutMs),
      createdAt: num(h.createdAt),
      startedAt: num(h.startedAt),
      finishedAt: num(h.finishedAt),
      updatedAt: num(h.updatedAt),
      pid: num(h.pid),
      host: str(h.host),
      exitCode: num(h.exitCode),
      signal: str(h.signal),
      error: str(h.error),
      detail: str(h.detail),
      cancelRequestedAt: num(h.cancelRequestedAt),
      queuePosition: position >= 0 ? position : null,
      leaseExpiresAt: lease >= 0 ? lease : null,
      retryOf: isJobId(h.retryOf) ? h.retryOf : null,
      retriedAs: isJobId(h.retriedAs) ? h.retriedAs : null,
      uploads: h.uploads ? h.uploads.split(",") : [],
      readAt: Number(readAt),
    };
    if (recordedLost === 1) this.onLost?.(job);
    const listing: FileEntry[] = [];
    for (let i = 0; i < fileList.length; i += 2) listing.push({ name: String(fileList[i]), size: Number(fileList[i + 1]) });
    return { job, files: listing };
  }

  /**
   * The id of the job a key belongs to (its record, results, log, files or an
   * upload), or null for any other key (an index): what a cache of job reads
   * drops when Redis says the key changed.
   */
  jobIdOfKey(key: string): string | null {
    const at = key.indexOf("}:job:", this.prefix.length);
    if (at < 0 || !key.startsWith(`${this.prefix}:{`)) return null;
    const start = at + "}:job:".length;
    const id = key.slice(start, start + ID_LENGTH);
    const rest = key.length === start + ID_LENGTH || key[start + ID_LENGTH] === ":";
    // The id's own partition, and no other: a key under another tag is not this store's.
    return rest && isJobId(id) && key.startsWith(this.partition(id).jobPrefix) ? id : null;
  }

  /** Records every job whose lease has expired as lost (at most `limit` per partition); returns their ids. */
  async sweep(limit = 100): Promise<string[]> {
    return this.eachPartition(({ leasesKey, queueKey, killsKey, jobPrefix, indexPrefix }) =>
      this.call((r) => r.sjSweep(leasesKey, queueKey, killsKey, jobPrefix, indexPrefix, ...this.ttl, limit)),
    );
  }

  /** Jobs whose cancel grace has run out (their process must be killed). */
  async dueKills(): Promise<string[]> {
    return this.eachPartition(({ killsKey }) => this.call((r) => r.sjDueKills(killsKey)));
  }

  /** The ids one call gives for each partition, all together. */
  private async eachPartition(read: (partition: Partition) => Promise<string[]>): Promise<string[]> {
    if (this.partitions.length === 1) return read(this.partitions[0]!);
    return (await Promise.all(this.partitions.map(read))).flat();
  }

  /** Results start..stop (inclusive, 0-based), for downloads read in pages. */
  async readResults(id: string, start: number, stop: number): Promise<unknown[]> {
    const values = await this.call((r) => r.lrange(this.jobKeys(id)[1], start, stop));
    return values.map(parseResult);
  }

  /** Appends lines to a job's log (each cut at LOG_LINE_MAX_CHARS; the log keeps its last LOG_MAX_LINES). */
  async appendLog(id: string, lines: readonly string[]): Promise<boolean> {
    if (lines.length === 0) return true;
    const cut = lines.map((line) => (line.length > LOG_LINE_MAX_CHARS ? `${line.slice(0, LOG_LINE_MAX_CHARS - 1)}…` : line));
    return (await this.call((r) => r.sjLog(this.jobKeys(id)[0], this.logKey(id), LOG_MAX_LINES, ...cut))) === 1;
  }

  /** The whole log kept for a job, oldest line first. */
  async readLog(id: string): Promise<string[]> {
    return this.call((r) => r.lrange(this.logKey(id), 0, -1));
  }

  /** Stores an output file of a running job; false when the job is not running. */
  async putFile(id: string, name: string, content: Buffer): Promise<boolean> {
    return (await this.call((r) => r.sjFile(this.jobKeys(id)[0], this.filesKey(id), name, content))) === 1;
  }

  /** A job's output files: names and sizes in bytes, by name. */
  async listFiles(id: string): Promise<FileEntry[]> {
    const names = (await this.call((r) => r.hkeys(this.filesKey(id)))).sort();
    const sizes = names.length ? await this.call((r) => Promise.all(names.map((n) => r.hstrlen(this.filesKey(id), n)))) : [];
    return names.map((name, i) => ({ name, size: sizes[i] ?? 0 }));
  }

  /** One output file's content, or null. */
  async readFile(id: string, name: string): Promise<Buffer | null> {
    return this.call((r) => r.hgetBuffer(this.filesKey(id), name));
  }

  /**
   * A few facts of each job, in the order asked; null for an id with no
   * record (never was, or expired). The reads are sent together (the web
   * connection pipelines them; on a Cluster, per node: a job's keys lie on
   * its partition's shard).
   */
  async summaries(ids: readonly string[]): Promise<(JobSummary | null)[]> {
    if (ids.length === 0) return [];
    const replies = await this.call((r) => Promise.all(ids.map((id) => r.hmget(this.jobKeys(id)[0], ...SUMMARY_FIELDS))));
    return ids.map((id, i) => {
      const values = replies[i]!;
      const [type, params, state, createdAt, startedAt, finishedAt, reason, cancelRequestedAt] = values;
      if (!type || !state || !(JOB_STATES as readonly string[]).includes(state)) return null;
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(params ?? "{}") as Record<string, unknown>;
      } catch {
        // Shown without parameters.
      }
      return {
        id,
        type,
        params: parsed,
        state: state as JobState,
        createdAt: num(createdAt ?? undefined),
        startedAt: num(startedAt ?? undefined),
        finishedAt: num(finishedAt ?? undefined),
        reason: isReason(reason ?? undefined) ? (reason as EndReason) : null,
        cancelRequestedAt: num(cancelRequestedAt ?? undefined),
      };
    });
  }

  /** Jobs waiting in the queues, and jobs claimed or running, over every partition. */
  async activeCounts(): Promise<{ queued: number; running: number }> {
    const replies = await this.call((r) =>
      Promise.all(this.partitions.map(({ queueKey, leasesKey }) => Promise.all([r.llen(queueKey), r.zcard(leasesKey)]))),
    );
    let queued = 0;
    let running = 0;
    for (const [q, n] of replies) {
      queued += q;
      running += n;
    }
    return { queued, running };
  }

  /** Jobs waiting, in every partition. */
  async queueLength(): Promise<number> {
    const lengths = await Promise.all(this.partitions.map(({ queueKey }) => this.redis.llen(queueKey)));
    return lengths.reduce((sum, n) => sum + n, 0);
  }

  /** Ids of running or claimed jobs (for tests and operators). */
  async leasedIds(): Promise<string[]> {
    return this.eachPartition(({ leasesKey }) => this.redis.zrange(leasesKey, "0", "-1"));
  }

  async ping(): Promise<void> {
    await this.call((r) => r.ping());
  }

  // ------------------------------------------------------------ operators

  /** Removes a job that has ended, with all its keys; the state it had, or null when it has not ended (or is gone). */
  async delete(id: string): Promise<{ deleted: true; state: JobState } | { deleted: false; state: JobState | "" }> {
    const reply = await this.call((r) => r.sjDelete(this.jobKeys(id)[0], this.partition(id).indexPrefix, id));
    return reply[0] === 1 ? { deleted: true, state: reply[1] } : { deleted: false, state: reply[1] };
  }

  /** Records on a job that `newId` retries it; false when the job is gone. */
  async markRetried(id: string, newId: string): Promise<boolean> {
    if (!isJobId(newId)) throw new Error(`not a job id: ${JSON.stringify(newId)}`);
    return (await this.call((r) => r.sjRetried(this.jobKeys(id)[0], newId))) === 1;
  }

  /** Copies a job's uploads to a new job's id (for a retry); false when one of them is gone. */
  async copyUploads(fromId: string, toId: string, fields: readonly string[]): Promise<boolean> {
    for (const field of fields) {
      const copied = await this.call((r) => r.copy(this.uploadKey(fromId, field), this.uploadKey(toId, field), "REPLACE"));
      if (copied !== 1) {
        await this.deleteUploads(toId, fields);
        return false;
      }
      // The copy keeps the old job's TTL; give it the safety TTL until its job is created (create persists it).
      await this.call((r) => r.expire(this.uploadKey(toId, field), UPLOAD_SAFETY_TTL_S));
    }
    return true;
  }

  /**
   * An instance's heartbeat: its facts in the registry for ttlMs, and a
   * sample of each partition's queue length for this minute.
   */
  async heartbeat(instanceId: string, facts: object, ttlMs: number): Promise<void> {
    const base = this.bases[0]!;
    await Promise.all([
      this.call((r) => r.sjBeat(`${base}beats`, `${base}instances`, instanceId, JSON.stringify(facts), ttlMs)),
      ...this.bases.map((b) => this.call((r) => r.sjSample(`${b}queue`, `${b}queue-samples`))),
    ]);
  }

  /** The instances whose heartbeat has not run out, with their facts, and Redis' clock. */
  async instances(): Promise<{ now: number; instances: { id: string; facts: Record<string, unknown> }[] }> {
    const base = this.bases[0]!;
    const [now, beats, facts] = await this.call(async (r) => {
      const [time, beats, facts] = await Promise.all([
        r.time(),
        r.zrange(`${base}beats`, "0", "-1", "WITHSCORES"),
        r.hgetall(`${base}instances`),
      ]);
      return [Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000), scored(beats), facts] as const;
    });
    const instances: { id: string; facts: Record<string, unknown> }[] = [];
    for (const [id, until] of beats) {
      if (until <= now || facts[id] === undefined) continue;
      try {
        instances.push({ id, facts: JSON.parse(facts[id]) as Record<string, unknown> });
      } catch {
        // Not written by an instance: left out.
      }
    }
    return { now, instances };
  }

  /**
   * Drops the jobs list's entries of ended jobs that have expired, in every
   * partition: up to `checks` per set (see lua/trim-2.lua); how many it dropped.
   */
  async trimIndex(types: readonly { type: string; ttlSucceededS: number; ttlFailedS: number }[], checks = 100): Promise<number> {
    const args = types.flatMap((t) => [t.type, t.ttlSucceededS, t.ttlFailedS]);
    const dropped = await Promise.all(this.bases.map((b) => this.call((r) => r.sjTrim(this.indexKey(b), `${b}job:`, checks, ...args))));
    return dropped.reduce((a, n) => a + n, 0);
  }

  /** Redis' clock (ms). */
  async now(): Promise<number> {
    const [s, us] = await this.call((r) => r.time());
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }

  /** How many jobs of each type are in each state (ended ones until they expire), summed over the partitions. */
  async counts(types: readonly string[]): Promise<Record<string, Record<JobState, number>>> {
    const out: Record<string, Record<JobState, number>> = {};
    const sets = this.indexSets(types, JOB_STATES);
    const sizes = await this.call((r) => Promise.all(sets.map((s) => r.zcard(s.key))));
    for (const t of types) out[t] = Object.fromEntries(JOB_STATES.map((st) => [st, 0])) as Record<JobState, number>;
    sets.forEach((s, i) => (out[s.type]![s.state] += sizes[i] ?? 0));
    return out;
  }

  /** The creation time of the oldest job still waiting to start (queued), or null. */
  async oldestQueuedAt(types: readonly string[]): Promise<number | null> {
    const sets = this.indexSets(types, ["queued"]);
    const firsts = await this.call((r) => Promise.all(sets.map((s) => r.zrange(s.key, "0", "0", "WITHSCORES"))));
    const times = firsts.flatMap((f) => scored(f).map(([, score]) => score));
    return times.length ? Math.min(...times) : null;
  }

  /** The queue's length, summed over the partitions. */
  async totalQueueLength(): Promise<number> {
    const lengths = await this.call((r) => Promise.all(this.bases.map((b) => r.llen(`${b}queue`))));
    return lengths.reduce((a, b) => a + b, 0);
  }

  /** Jobs ended per minute over the last `minutes` (oldest first), summed over the partitions. */
  async endedPerMinute(
    now: number,
    minutes = 60,
  ): Promise<{ minute: number; succeeded: number; failed: number; cancelled: number; lost: number }[]> {
    const last = Math.floor(now / 60000);
    const wanted = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i);
    const replies = await this.call((r) =>
      Promise.all(this.bases.flatMap((b) => wanted.map((m) => r.hmget(`${this.indexKey(b)}m:${m}`, "s", "f", "c", "l")))),
    );
    return wanted.map((minute, i) => {
      const sum = [0, 0, 0, 0];
      for (let b = 0; b < this.bases.length; b++) replies[b * minutes + i]!.forEach((v, k) => (sum[k]! += Number(v ?? 0)));
      return { minute: minute * 60000, succeeded: sum[0]!, failed: sum[1]!, cancelled: sum[2]!, lost: sum[3]! };
    });
  }

  /**
   * Durations of the jobs of each type that ended in the last `hours`, as
   * histogram buckets: bucket b holds durations up to 2^(b/4) ms.
   */
  async durations(types: readonly string[], now: number, hours = 24): Promise<Record<string, Map<number, number>>> {
    const last = Math.floor(now / 3600_000);
    const keys = this.bases.flatMap((b) =>
      types.flatMap((t) => Array.from({ length: hours }, (_, i) => ({ type: t, key: `${this.indexKey(b)}d:${t}:${last - i}` }))),
    );
    const replies = await this.call((r) => Promise.all(keys.map((k) => r.hgetall(k.key))));
    const out: Record<string, Map<number, number>> = Object.fromEntries(types.map((t) => [t, new Map<number, number>()]));
    keys.forEach((k, i) => {
      for (const [bucket, count] of Object.entries(replies[i] ?? {})) {
        const m = out[k.type]!;
        m.set(Number(bucket), (m.get(Number(bucket)) ?? 0) + Number(count));
      }
    });
    return out;
  }

  /** The queue's length sampled per minute over the last hour (oldest first; null where no instance sampled it), summed over the partitions. */
  async queueSamples(now: number): Promise<{ minute: number; length: number | null }[]> {
    const last = Math.floor(now / 60000);
    const replies = await this.call((r) => Promise.all(this.bases.map((b) => r.hgetall(`${b}queue-samples`))));
    const out: { minute: number; length: number | null }[] = [];
    for (let m = last - 59; m <= last; m++) {
      let length: number | null = null;
      for (const samples of replies) {
        const [minute, value] = (samples[String(m % 60)] ?? "").split(":");
        if (Number(minute) === m) length = (length ?? 0) + Number(value);
      }
      out.push({ minute: m * 60000, length });
    }
    return out;
  }

  /** The index's sets for these types and states, in every partition. */
  private indexSets(types: readonly string[], states: readonly JobState[]): IndexSet[] {
    return this.bases.flatMap((b) =>
      types.flatMap((type) => states.map((state) => ({ key: `${this.indexKey(b)}${type}:${state}`, type, state }))),
    );
  }

  /**
   * One page of the jobs list, newest first: for each partition, a page of
   * each index set that matches, merged here. Ties of createdAt are ordered
   * by id; the cursor is the last entry's (createdAt, id). An entry whose job
   * has expired is dropped from the index on the way.
   */
  async listJobs(filter: ListFilter, limit: number, after: ListCursor | null = null): Promise<{ rows: JobRow[]; next: ListCursor | null }> {
    const types = filter.types;
    const states = filter.states?.length ? filter.states : JOB_STATES;
    const sets = this.indexSets(types, states);
    for (let attempt = 0; ; attempt++) {
      const entries =
        filter.idPrefix !== undefined ? await this.scanIdPrefix(sets, filter, after) : await this.page(sets, filter, limit, after);
      const page = entries.slice(0, limit);
      const rows = await this.rows(page);
      const gone = page.filter((_, i) => rows[i] === null);
      if (gone.length > 0) await this.call((r) => Promise.all(gone.map((e) => r.zrem(e.set, e.id))));
      if (gone.length === 0 || attempt === 2) {
        const last = page.at(-1);
        return {
          rows: rows.filter((row): row is JobRow => row !== null),
          next: entries.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
        };
      }
    }
  }

  /** Up to limit + 1 entries after the cursor, newest first, from every set. */
  private async page(sets: IndexSet[], filter: ListFilter, limit: number, after: ListCursor | null): Promise<IndexEntry[]> {
    const min = filter.from === undefined ? "-inf" : String(filter.from);
    let max = filter.to === undefined ? "+inf" : String(filter.to);
    if (after && (filter.to === undefined || after.createdAt <= filter.to)) max = `(${after.createdAt}`;
    const replies = await this.call((r) =>
      Promise.all(
        sets.map(async (s) => {
          const older = r.zrange(s.key, max, min, "BYSCORE", "REV", "LIMIT", 0, limit + 1, "WITHSCORES");
          // Entries with the cursor's own time, which the exclusive bound above leaves out.
          const tied =
            after && (filter.from === undefined || after.createdAt >= filter.from)
              ? r.zrange(s.key, after.createdAt, String(after.createdAt), "BYSCORE", "WITHSCORES")
              : Promise.resolve([]);
          return [...scored(await tied), ...scored(await older)];
        }),
      ),
    );
    const entries: IndexEntry[] = [];
    replies.forEach((reply, i) => {
      for (const [id, createdAt] of reply) entries.push({ id, createdAt, set: sets[i]!.key });
    });
    return sortEntries(entries, after).slice(0, limit + 1);
  }

  /** The entries whose id starts with the prefix (ZSCAN: it reads every entry of the sets), newest first. */
  private async scanIdPrefix(sets: IndexSet[], filter: ListFilter, after: ListCursor | null): Promise<IndexEntry[]> {
    const prefix = filter.idPrefix ?? "";
    if (!/^[0-9a-f]{0,32}$/.test(prefix)) return [];
    const entries: IndexEntry[] = [];
    const whole = prefix.length === 32;
    for (const s of sets) {
      if (whole) {
        const score = await this.call((r) => r.zscore(s.key, prefix));
        if (score !== null) entries.push({ id: prefix, createdAt: Number(score), set: s.key });
        continue;
      }
      let cursor = "0";
      do {
        const [next, flat] = await this.call((r) => r.zscan(s.key, cursor, "MATCH", `${prefix}*`, "COUNT", 1000));
        cursor = next;
        for (const [id, createdAt] of scored(flat)) entries.push({ id, createdAt, set: s.key });
      } while (cursor !== "0");
    }
    return sortEntries(entries, after).filter(
      (e) => (filter.from === undefined || e.createdAt >= filter.from) && (filter.to === undefined || e.createdAt <= filter.to),
    );
  }

  /** The fields a list row shows, for each entry; null where the job has expired. */
  private async rows(entries: IndexEntry[]): Promise<(JobRow | null)[]> {
    const replies = await this.call((r) => Promise.all(entries.map((e) => r.hmget(this.jobKeys(e.id)[0], ...ROW_FIELDS))));
    return replies.map((v, i) => {
      if (v[2] === null) return null;
      const h = Object.fromEntries(ROW_FIELDS.map((f, k) => [f, v[k] ?? undefined])) as Record<
        (typeof ROW_FIELDS)[number],
        string | undefined
      >;
      let params: Record<string, unknown> = {};
      try {
        params = JSON.parse(h.params ?? "{}") as Record<string, unknown>;
      } catch {
        // Shown without parameters.
      }
      return {
        id: entries[i]!.id,
        type: h.type ?? "unknown",
        params,
        state: (JOB_STATES as readonly string[]).includes(h.state!) ? (h.state as JobState) : "failed",
        reason: isReason(h.reason) ? h.reason : null,
        error: str(h.error),
        exitCode: num(h.exitCode),
        signal: str(h.signal),
        done: Number(h.done ?? 0),
        total: Number(h.total ?? 0),
        createdAt: entries[i]!.createdAt,
        startedAt: num(h.startedAt),
        finishedAt: num(h.finishedAt),
        cancelRequestedAt: num(h.cancelRequestedAt),
        retryOf: isJobId(h.retryOf) ? h.retryOf : null,
        retriedAs: isJobId(h.retriedAs) ? h.retriedAs : null,
      };
    });
  }

  /** Every id in the index sets of these types and states (for bulk actions), newest first, at most max. */
  async allIds(types: readonly string[], states: readonly JobState[], max: number): Promise<string[]> {
    const sets = this.indexSets(types, states);
    const replies = await this.call((r) =>
      Promise.all(sets.map((s) => r.zrange(s.key, "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 0, max, "WITHSCORES"))),
    );
    const entries: IndexEntry[] = [];
    replies.forEach((reply, i) => {
      for (const [id, createdAt] of scored(reply)) entries.push({ id, createdAt, set: sets[i]!.key });
    });
    return sortEntries(entries, null)
      .slice(0, max)
      .map((e) => e.id);
  }

  /** How many entries the index sets of these types and states hold. */
  async countIn(types: readonly string[], states: readonly JobState[]): Promise<number> {
    const sizes = await this.call((r) => Promise.all(this.indexSets(types, states).map((s) => r.zcard(s.key))));
    return sizes.reduce((a, b) => a + b, 0);
  }
}

const ROW_FIELDS = [
  "type",
  "params",
  "state",
  "reason",
  "error",
  "exitCode",
  "signal",
  "done",
  "total",
  "startedAt",
  "finishedAt",
  "cancelRequestedAt",
  "retryOf",
  "retriedAs",
] as const;

interface IndexSet {
  key: string;
  type: string;
  state: JobState;
}

interface IndexEntry {
  id: string;
  createdAt: number;
  set: string;
}

/** Where a page of the jobs list ends: the last entry's creation time and id. */
export interface ListCursor {
  createdAt: number;
  id: string;
}

export interface ListFilter {
  /** The types to list (every known type when none is chosen). */
  types: readonly string[];
  states?: readonly JobState[];
  /** Created at or after / at or before (ms). */
  from?: number;
  to?: number;
  /** Ids starting with these hex digits (a whole id finds that job). */
  idPrefix?: string;
}

/** A job as the jobs list shows it. */
export interface JobRow {
  id: string;
  type: string;
  params: Record<string, unknown>;
  state: JobState;
  reason: EndReason | null;
  error: string | null;
  exitCode: number | null;
  signal: string | null;
  done: number;
  total: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  cancelRequestedAt: number | null;
  retryOf: string | null;
  retriedAs: string | null;
}

/** Members and scores of a reply WITHSCORES: flat (RESP2) or in pairs (RESP3). */
function scored(reply: unknown): [member: string, score: number][] {
  const items = reply as unknown[];
  if (items.length > 0 && Array.isArray(items[0])) return (items as [string, unknown][]).map(([m, sc]) => [String(m), Number(sc)]);
  const out: [string, number][] = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push([String(items[i]), Number(items[i + 1])]);
  return out;
}

/** Newest first (createdAt, then id, both descending), only entries after the cursor. */
function sortEntries(entries: IndexEntry[], after: ListCursor | null): IndexEntry[] {
  const seen = new Set<string>();
  return entries
    .filter((e) => !after || e.createdAt < after.createdAt || (e.createdAt === after.createdAt && e.id < after.id))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
}

// The only module that knows the Redis keys and the job record.
//
// Keys (P = REDIS_PREFIX; "{jobs}" is one Redis Cluster hash tag for all):
//   P:{jobs}:job:<id>          hash: the job record (fields below)
//   P:{jobs}:job:<id>:results  list: the values the job has produced so far, each a JSON text
//   P:{jobs}:job:<id>:log      list: the last LOG_MAX_LINES lines the job's program wrote
//   P:{jobs}:job:<id>:files    hash: file name -> content, the job's output files
//   P:{jobs}:job:<id>:upload:<field>  string: the file uploaded for a file field, as sent
//   P:{jobs}:queue             list: ids of jobs waiting for a slot, oldest first
//   P:{jobs}:leases            sorted set: id -> lease expiry (ms) of every claimed or running job
//   P:{jobs}:kills             sorted set: id -> when to kill a job that ignores its cancel request
// When a job finishes it leaves every index, and its keys get a TTL: its
// type's retention, stored on the record when it was created. An upload is
// written before its job exists, with UPLOAD_SAFETY_TTL_S renewed at each
// chunk (a request that dies halfway leaves nothing for long); creating the
// job takes that TTL away, and the job's end gives it the job's.
import crypto from "node:crypto";
import type { Redis } from "ioredis";
import type { FinishMode } from "./lua/commands.ts";
import { LUA_COMMANDS } from "./lua/index.ts";

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
  /** Redis' clock when the record was read. */
  readAt: number;
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

const ID = /^[0-9a-f]{32}$/;

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

export class JobStore {
  readonly prefix: string;
  private readonly base: string;
  /** The queue of waiting ids (for tests that write a record as another program would). */
  readonly queueKey: string;
  private readonly leasesKey: string;
  private readonly killsKey: string;
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
    options: StoreOptions,
  ) {
    this.prefix = options.prefix;
    this.base = `${options.prefix}:{jobs}:`;
    this.queueKey = `${this.base}queue`;
    this.leasesKey = `${this.base}leases`;
    this.killsKey = `${this.base}kills`;
    this.ttl = [String(options.ttlSucceededS), String(options.ttlFailedS)];
    this.maxInFlight = options.maxInFlight ?? 0;
    this.deadlineMs = options.deadlineMs ?? 0;
    // The scripts in jobs/lua, as commands of this connection (once, if
    // several stores share it); their types are in lua/commands.ts.
    for (const { name, lua, numberOfKeys } of LUA_COMMANDS) {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    }
  }

  /** The keys a job owns (the scripts reach the log and files from the record's key). */
  jobKeys(id: string): [job: string, results: string] {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    const job = `${this.base}job:${id}`;
    return [job, `${job}:results`];
  }

  private logKey(id: string): string {
    return `${this.jobKeys(id)[0]}:log`;
  }

  private filesKey(id: string): string {
    return `${this.jobKeys(id)[0]}:files`;
  }

  /** Every key of one job plus the indexes, in the order the scripts take them. */
  private keys(id: string): [job: string, results: string, leases: string, queue: string, kills: string] {
    return [...this.jobKeys(id), this.leasesKey, this.queueKey, this.killsKey];
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
        timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs);
      });
      return await Promise.race([sent, late]);
    } catch (err) {
      // A ReplyError is Redis refusing a command: a bug, not an outage.
      if ((err as Error)?.name === "ReplyError") throw err;
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

  async create(input: NewJob & { queueMax: number }): Promise<string> {
    const id = input.id ?? newJobId();
    const [job] = this.jobKeys(id);
    const uploads = input.uploads ?? [];
    for (const field of uploads) this.uploadKey(id, field);
    const [created, reason] = await this.call((r) =>
      r.sjCreate(
        job,
        this.queueKey,
        id,
        input.type,
        JSON.stringify(input.params),
        input.total,
        input.queueMax,
        input.ttlSucceededS ?? this.ttl[0],
        input.ttlFailedS ?? this.ttl[1],
        input.timeoutMs ?? "",
        uploads.join(","),
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
        this.leasesKey,
        id,
        input.type,
        JSON.stringify(input.params),
        input.total,
        input.ttlSucceededS ?? this.ttl[0],
        input.ttlFailedS ?? this.ttl[1],
        input.timeoutMs ?? "",
        owner,
        leaseMs,
      ),
    );
    return id;
  }

  /**
   * Takes the oldest waiting job of a type in `free` (the types this instance
   * has a free slot for), or null. A waiting job whose type is not in `known`
   * is ended failed ('unknown-type') on the way, never run.
   */
  async claim(
    owner: string,
    leaseMs: number,
    free: readonly string[],
    known: readonly string[],
  ): Promise<{ id: string; type: string } | null> {
    if (free.length === 0) return null;
    const others = known.filter((t) => !free.includes(t));
    const reply = await this.call((r) =>
      r.sjClaim(
        this.queueKey,
        this.leasesKey,
        this.killsKey,
        `${this.base}job:`,
        leaseMs,
        owner,
        ...this.ttl,
        free.length,
        ...free,
        ...others,
      ),
    );
    return reply ? { id: reply[0], type: reply[1] } : null;
  }

  /** Puts a claimed job back at the head of the queue (its process could not be started yet); false when it is no longer this owner's claim. */
  async release(id: string, owner: string): Promise<boolean> {
    return (await this.call((r) => r.sjRelease(this.jobKeys(id)[0], this.leasesKey, this.queueKey, id, owner))) === 1;
  }

  /** The job's process marks it running. Returns the state that prevented it, if any. */
  async start(id: string, pid: number, host: string, leaseMs: number): Promise<{ ok: true } | { ok: false; state: string }> {
    const reply = await this.call((r) => r.sjStart(this.jobKeys(id)[0], this.leasesKey, id, pid, host, leaseMs));
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
    const reply = await this.call((r) => r.sjRead(...this.keys(id), id, results, ...this.ttl, resultLimit, logLines));
    if (reply.length === 1) return null;
    const [readAt, flat, values, position, resultCount, logTail, logCount, recordedLost] = reply;
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
      readAt: Number(readAt),
    };
    if (recordedLost === 1) this.onLost?.(job);
    return job;
  }

  /** Records every job whose lease has expired as lost; returns their ids. */
  async sweep(limit = 100): Promise<string[]> {
    return this.call((r) => r.sjSweep(this.leasesKey, this.queueKey, this.killsKey, `${this.base}job:`, ...this.ttl, limit));
  }

  /** Jobs whose cancel grace has run out (their process must be killed). */
  async dueKills(): Promise<string[]> {
    return this.call((r) => r.sjDueKills(this.killsKey));
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
  async listFiles(id: string): Promise<{ name: string; size: number }[]> {
    const names = (await this.call((r) => r.hkeys(this.filesKey(id)))).sort();
    const sizes = names.length ? await this.call((r) => Promise.all(names.map((n) => r.hstrlen(this.filesKey(id), n)))) : [];
    return names.map((name, i) => ({ name, size: sizes[i] ?? 0 }));
  }

  /** One output file's content, or null. */
  async readFile(id: string, name: string): Promise<Buffer | null> {
    return this.call((r) => r.hgetBuffer(this.filesKey(id), name));
  }

  /**
   * A few facts of each job, in one round trip (a pipeline), in the order
   * asked; null for an id with no record (never was, or expired).
   */
  async summaries(ids: readonly string[]): Promise<(JobSummary | null)[]> {
    if (ids.length === 0) return [];
    const replies = await this.call((r) => {
      const pipeline = r.pipeline();
      for (const id of ids) pipeline.hmget(this.jobKeys(id)[0], ...SUMMARY_FIELDS);
      return pipeline.exec();
    });
    return ids.map((id, i) => {
      const [err, values] = replies?.[i] ?? [new Error("no reply"), null];
      if (err) throw this.replyError(err);
      const [type, params, state, createdAt, startedAt, finishedAt, reason, cancelRequestedAt] = values as (string | null)[];
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

  /** A command of a pipeline that failed: Redis refusing it is a bug; anything else, Redis not answering. */
  private replyError(err: Error): Error {
    if (err.name === "ReplyError") return err;
    this.failures++;
    return new StoreUnavailableError(err);
  }

  /** Jobs waiting in the queue, and jobs claimed or running, in one round trip. */
  async counts(): Promise<{ queued: number; running: number }> {
    const replies = await this.call((r) => r.multi().llen(this.queueKey).zcard(this.leasesKey).exec());
    const [queued, running] = (replies ?? []).map(([err, n]) => {
      if (err) throw this.replyError(err);
      return Number(n);
    });
    return { queued: queued ?? 0, running: running ?? 0 };
  }

  async queueLength(): Promise<number> {
    return this.redis.llen(this.queueKey);
  }

  /** Ids of running or claimed jobs (for tests and operators). */
  async leasedIds(): Promise<string[]> {
    return this.redis.zrange(this.leasesKey, "0", "-1");
  }

  async ping(): Promise<void> {
    await this.call((r) => r.ping());
  }
}

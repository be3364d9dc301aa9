// The only module that knows the Redis keys and the job record.
//
// Keys (P = REDIS_PREFIX; "{jobs}" is one Redis Cluster hash tag for all):
//   P:{jobs}:job:<id>          hash: the job record (fields below)
//   P:{jobs}:job:<id>:results  list: the values the job has produced so far
//   P:{jobs}:queue             list: ids of jobs waiting for a slot, oldest first
//   P:{jobs}:leases            sorted set: id -> lease expiry (ms) of every claimed or running job
//   P:{jobs}:kills             sorted set: id -> when to kill a job that ignores its cancel request
// When a job finishes it leaves every index, and its two keys get a TTL.
import crypto from "node:crypto";
import type { Redis } from "ioredis";
import type { FinishMode } from "./lua/commands.ts";
import { LUA_COMMANDS } from "./lua/index.ts";

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled"]);

export interface JobRecord {
  id: string;
  type: string;
  params: Record<string, unknown>;
  state: JobState;
  done: number;
  total: number;
  /** All results, or only the last one, depending on how the job was read. */
  results: number[];
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

export interface Outcome {
  error?: string;
  exitCode?: number | null;
  signal?: string | null;
  detail?: string;
}

export interface StoreOptions {
  prefix: string;
  ttlSucceededS: number;
  ttlFailedS: number;
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
const str = (v: string | undefined): string | null => (v === undefined || v === "" ? null : v);

export class JobStore {
  readonly prefix: string;
  private readonly base: string;
  private readonly queueKey: string;
  private readonly leasesKey: string;
  private readonly killsKey: string;
  private readonly ttl: [string, string];

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
    // The scripts in jobs/lua, as commands of this connection (once, if
    // several stores share it); their types are in lua/commands.ts.
    for (const { name, lua, numberOfKeys } of LUA_COMMANDS) {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    }
  }

  /** The two keys a job owns. */
  jobKeys(id: string): [job: string, results: string] {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    const job = `${this.base}job:${id}`;
    return [job, `${job}:results`];
  }

  /** Every key of one job plus the indexes, in the order the scripts take them. */
  private keys(id: string): [job: string, results: string, leases: string, queue: string, kills: string] {
    return [...this.jobKeys(id), this.leasesKey, this.queueKey, this.killsKey];
  }

  /** Sends one command; an unreachable Redis becomes a StoreUnavailableError. */
  private async call<T>(send: (redis: Redis) => Promise<T>): Promise<T> {
    try {
      return await send(this.redis);
    } catch (err) {
      // A ReplyError is Redis refusing a command: a bug, not an outage.
      if ((err as Error)?.name === "ReplyError") throw err;
      throw new StoreUnavailableError(err);
    }
  }

  async create(input: { type: string; params: object; total: number; queueMax: number }): Promise<string> {
    const id = newJobId();
    const [job] = this.jobKeys(id);
    const [created] = await this.call((r) => r.sjCreate(job, this.queueKey, id, input.type, JSON.stringify(input.params), input.total, input.queueMax));
    if (created !== 1) throw new QueueFullError();
    return id;
  }

  /** Takes the oldest waiting job for this instance, or null. */
  async claim(owner: string, leaseMs: number): Promise<{ id: string; type: string } | null> {
    const reply = await this.call((r) => r.sjClaim(this.queueKey, this.leasesKey, `${this.base}job:`, leaseMs, owner));
    return reply ? { id: reply[0], type: reply[1] } : null;
  }

  /** The job's process marks it running. Returns the state that prevented it, if any. */
  async start(id: string, pid: number, host: string, leaseMs: number): Promise<{ ok: true } | { ok: false; state: string }> {
    const reply = await this.call((r) => r.sjStart(this.jobKeys(id)[0], this.leasesKey, id, pid, host, leaseMs));
    return reply[0] === 1 ? { ok: true } : { ok: false, state: reply[1] };
  }

  /** Progress (done, new values) or a heartbeat (done undefined); renews the lease. */
  async report(id: string, leaseMs: number, done?: number, values: number[] = []): Promise<ReportReply> {
    const reply = await this.call((r) => r.sjReport(...this.keys(id), id, leaseMs, done ?? "", ...this.ttl, ...values));
    return reply[0] === 1 ? reply[1] : "refused";
  }

  /**
   * Records the end of a job. mode: "job" from the job's own process (fenced),
   * "exit" from the server that saw its process end, "force" for server decisions.
   * Returns the state recorded, or null when the job had already ended.
   */
  async finish(id: string, state: JobState, mode: FinishMode, outcome: Outcome = {}): Promise<JobState | null> {
    const fields: (string | number)[] = [];
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
   * results "auto": all once the job has ended, only the last one while it runs.
   */
  async read(id: string, results: "all" | "auto" = "all"): Promise<JobRecord | null> {
    const reply = await this.call((r) => r.sjRead(...this.keys(id), id, results, ...this.ttl));
    if (reply.length === 1) return null;
    const [readAt, flat, values, position] = reply;
    const h: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    let params: Record<string, unknown> = {};
    try {
      params = JSON.parse(h.params ?? "{}");
    } catch {
      // A record written by something else: show it without parameters.
    }
    return {
      id,
      type: h.type ?? "unknown",
      params,
      state: (JOB_STATES as readonly string[]).includes(h.state!) ? (h.state as JobState) : "failed",
      done: Number(h.done ?? 0),
      total: Number(h.total ?? 0),
      results: values.map(Number),
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
  }

  /** Records every job whose lease has expired as lost; returns their ids. */
  async sweep(limit = 100): Promise<string[]> {
    return this.call((r) => r.sjSweep(this.leasesKey, this.queueKey, this.killsKey, `${this.base}job:`, ...this.ttl, limit));
  }

  /** Jobs whose cancel grace has run out (their process must be killed). */
  async dueKills(): Promise<string[]> {
    return this.call((r) => r.sjDueKills(this.killsKey));
  }

  async queueLength(): Promise<number> {
    return this.redis.llen(this.queueKey);
  }

  /** Ids of running or claimed jobs (for tests and operators). */
  async leasedIds(): Promise<string[]> {
    return this.redis.zrange(this.leasesKey, "0", "-1");
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }
}

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
import * as lua from "./scripts.ts";

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

type ScriptName = "sjCreate" | "sjClaim" | "sjStart" | "sjReport" | "sjFinish" | "sjCancel" | "sjRead" | "sjSweep" | "sjDueKills";

const SCRIPTS: Record<ScriptName, { lua: string; keys: number }> = {
  sjCreate: { lua: lua.CREATE, keys: 2 },
  sjClaim: { lua: lua.CLAIM, keys: 3 },
  sjStart: { lua: lua.START, keys: 2 },
  sjReport: { lua: lua.REPORT, keys: 5 },
  sjFinish: { lua: lua.FINISH, keys: 5 },
  sjCancel: { lua: lua.CANCEL, keys: 5 },
  sjRead: { lua: lua.READ, keys: 5 },
  sjSweep: { lua: lua.SWEEP, keys: 4 },
  sjDueKills: { lua: lua.DUE_KILLS, keys: 1 },
};

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
    for (const [name, { lua: source, keys }] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { lua: source, numberOfKeys: keys });
    }
  }

  /** The two keys a job owns. */
  jobKeys(id: string): [job: string, results: string] {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    const job = `${this.base}job:${id}`;
    return [job, `${job}:results`];
  }

  /** Every key of one job plus the indexes, in the order the scripts take them. */
  private keys(id: string): string[] {
    return [...this.jobKeys(id), this.leasesKey, this.queueKey, this.killsKey];
  }

  private async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<any> {
    try {
      return await (this.redis as any)[name](...keys, ...args);
    } catch (err) {
      // A ReplyError is Redis refusing a command: a bug, not an outage.
      if ((err as Error)?.name === "ReplyError") throw err;
      throw new StoreUnavailableError(err);
    }
  }

  async create(input: { type: string; params: object; total: number; queueMax: number }): Promise<string> {
    const id = newJobId();
    const [job] = this.jobKeys(id);
    const [ok] = await this.run("sjCreate", [job, this.queueKey], [id, input.type, JSON.stringify(input.params), input.total, input.queueMax]);
    if (ok !== 1) throw new QueueFullError();
    return id;
  }

  /** Takes the oldest waiting job for this instance, or null. */
  async claim(owner: string, leaseMs: number): Promise<{ id: string; type: string } | null> {
    const reply = await this.run("sjClaim", [this.queueKey, this.leasesKey, `${this.base}job:`], [leaseMs, owner]);
    return Array.isArray(reply) ? { id: reply[0], type: reply[1] } : null;
  }

  /** The job's process marks it running. Returns the state that prevented it, if any. */
  async start(id: string, pid: number, host: string, leaseMs: number): Promise<{ ok: true } | { ok: false; state: string }> {
    const [ok, state] = await this.run("sjStart", [this.jobKeys(id)[0], this.leasesKey], [id, pid, host, leaseMs]);
    return ok === 1 ? { ok: true } : { ok: false, state };
  }

  /** Progress (done, new values) or a heartbeat (done undefined); renews the lease. */
  async report(id: string, leaseMs: number, done?: number, values: number[] = []): Promise<ReportReply> {
    const [ok, reply] = await this.run("sjReport", this.keys(id), [id, leaseMs, done ?? "", ...this.ttl, ...values]);
    return ok === 1 ? (reply as ReportReply) : "refused";
  }

  /**
   * Records the end of a job. mode: "job" from the job's own process (fenced),
   * "exit" from the server that saw its process end, "force" for server decisions.
   * Returns the state recorded, or null when the job had already ended.
   */
  async finish(id: string, state: JobState, mode: "job" | "exit" | "force", outcome: Outcome = {}): Promise<JobState | null> {
    const fields: (string | number)[] = [];
    if (outcome.error) fields.push("error", outcome.error);
    if (outcome.exitCode !== undefined && outcome.exitCode !== null) fields.push("exitCode", outcome.exitCode);
    if (outcome.signal) fields.push("signal", outcome.signal);
    if (outcome.detail) fields.push("detail", outcome.detail);
    const [ok, recorded] = await this.run("sjFinish", this.keys(id), [id, state, mode, ...this.ttl, ...fields]);
    return ok === 1 ? (recorded as JobState) : null;
  }

  async cancel(id: string, graceMs: number): Promise<CancelReply> {
    const [code, reply] = await this.run("sjCancel", this.keys(id), [id, graceMs, ...this.ttl]);
    if (code === 1) return { outcome: "cancelled" };
    if (code === 2) return { outcome: "requested" };
    return reply ? { outcome: "finished", state: reply as JobState } : { outcome: "missing" };
  }

  /**
   * One job in one round trip, or null when there is none (never was, or expired).
   * results "auto": all once the job has ended, only the last one while it runs.
   */
  async read(id: string, results: "all" | "auto" = "all"): Promise<JobRecord | null> {
    const reply = await this.run("sjRead", this.keys(id), [id, results, ...this.ttl]);
    const [readAt, flat, values, position] = reply as [number, string[] | undefined, string[], number];
    if (!flat) return null;
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
    return this.run("sjSweep", [this.leasesKey, this.queueKey, this.killsKey, `${this.base}job:`], [...this.ttl, limit]);
  }

  /** Jobs whose cancel grace has run out (their process must be killed). */
  async dueKills(): Promise<string[]> {
    const [, ...ids] = (await this.run("sjDueKills", [this.killsKey], [])) as [number, ...string[]];
    return ids;
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

// The job record: its states, the reasons it ended for, the facts an end
// carries, the id, and how a record's hash (every field a string) becomes a
// JobRecord or a JobSummary. Where the record lives in Redis: keys.ts.
import crypto from "node:crypto";

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
  /** Its results would have passed what one job may keep (JOB_RESULTS_MAX, JOB_RESULTS_MAX_BYTES): it was stopped. */
  "results-limit",
  /** Cancelled: before it started, or it stopped by itself. */
  "cancelled",
  /** Cancelled, and its process had to be stopped with a signal. */
  "cancel-killed",
  /** Its program (with everything it started) used more memory than its type's limit (limits.memoryMB): the kernel stopped it. */
  "memory-limit",
  /** Its program used more CPU time than its type's limit (limits.cpuSeconds). */
  "cpu-limit",
  /** Its program tried to run more processes or threads at once than its type's limit (limits.processes): it was stopped. */
  "process-limit",
  /** Its program wrote more into its output folder than its type's limit (limits.outputMB): it was stopped. */
  "output-limit",
  /** Its program wrote a file larger than its type's limit (limits.fileSizeMB). */
  "file-size-limit",
] as const;
export type EndReason = (typeof END_REASONS)[number];

/** One ended attempt of a job that was retried (lua/includes/requeue.lua), as the record keeps it. */
export interface AttemptRecord {
  attempt: number;
  /** Why the attempt ended. */
  reason: EndReason;
  claimedAt: number | null;
  startedAt: number | null;
  endedAt: number;
  host: string | null;
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  /** What the attempt used, when its runner measured it. */
  usage: JobUsage | null;
  /** A Slurm type's attempt: its Slurm job and the state Slurm last gave it (NODE_FAIL, PREEMPTED, …); else null. */
  slurm: { jobId: string; state: string } | null;
}

/**
 * What a job's process used, measured by its runner at its end
 * (jobs/runtime/box.ts): the peak memory of the whole job (its program and
 * everything it started) and its CPU time, user and system.
 */
export interface JobUsage {
  peakMemoryBytes: number;
  cpuMs: number;
}

/**
 * The end reasons a type may list in retryOn: a program's own failures and
 * the limits, besides 'lost' and 'never-started', which are always retried
 * while attempts remain. A cancelled job, and one of an unknown type, never is.
 */
export const RETRYABLE_REASONS = [
  "timeout",
  "signal",
  "exit-code",
  "no-result",
  "job-error",
  "spawn-failed",
  "results-limit",
  "memory-limit",
  "cpu-limit",
  "process-limit",
  "output-limit",
  "file-size-limit",
] as const;
export type RetryableReason = (typeof RETRYABLE_REASONS)[number];

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
  /** The signed-in person who submitted it (server/identity.ts); null for a job submitted without sign-in. */
  user: string | null;
  /** Who submitted it, as the submitters' turns know them (server/submitters.ts); null for older records. */
  submitter: string | null;
  /** How long it is kept once it has succeeded, and once it has failed or been cancelled (s), as its create set them; null for older records. */
  ttlSucceededS: number | null;
  ttlFailedS: number | null;
  /**
   * Lines kept in its log, and lines dropped from its start to keep it short.
   * With FILE_STORE_DIR its lines are those of the whole log on the disk
   * (the record's logLines, and logOpen for a last line not ended yet).
   */
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
  /** Which attempt this is (1 for the first), of maxAttempts in all (1 for records written before retries). */
  attempt: number;
  maxAttempts: number;
  /** The end reasons its type retries besides 'lost' and 'never-started'. */
  retryOn: string[];
  /** The attempts that ended and were retried, oldest first. */
  attempts: AttemptRecord[];
  /** A requeued job waiting for its next attempt is not started before this (Redis' clock, ms); else null. */
  notBefore: number | null;
  /** What the ended job used (null while it runs, and for a job whose runner could not measure it). */
  usage: JobUsage | null;
  /** The value of the limit that stopped it (reasons memory-limit …: MB, seconds or processes, as the type declares it); else null. */
  limit: number | null;
  /** A Slurm type's job: its Slurm job, as the instance that submitted it last read it (server/launchers/slurm.ts); else null. */
  slurm: SlurmFacts | null;
  /** Redis' clock when the record was read. */
  readAt: number;
}

/** A job's Slurm job: its id, its state (PENDING, RUNNING, …) and Slurm's reason ("Resources"; null for none). */
export interface SlurmFacts {
  jobId: string;
  state: string;
  reason: string | null;
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

export interface Outcome {
  reason?: EndReason;
  /** The job's own message (reason job-error). */
  error?: string;
  exitCode?: number | null;
  signal?: string | null;
  detail?: string;
  /** What the job used (recorded with any end). */
  usage?: JobUsage;
  /** The value of the limit that stopped it. */
  limit?: number;
}

const ID = /^[0-9a-f]{32}$/;
export const ID_LENGTH = 32;

/**
 * A job id: 128 random bits, as 32 hex digits. With a partition (of
 * `count`), the first 8 digits are moved to the nearest value in it
 * (partitionOf), which leaves 128 − log2(count) random bits.
 */
export function newJobId(partition?: { index: number; count: number }): string {
  const bytes = crypto.randomBytes(16);
  if (partition && partition.count > 1) {
    const { index, count } = partition;
    let head = bytes.readUInt32BE(0);
    head = head - (head % count) + index;
    if (head > 0xffff_ffff) head -= count;
    bytes.writeUInt32BE(head, 0);
  }
  return bytes.toString("hex");
}

export function isJobId(value: unknown): value is string {
  return typeof value === "string" && ID.test(value);
}

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

// --- A record's fields, as Redis hands them over (strings; '' or missing: none)

export const num = (v: string | undefined): number | null => (v === undefined || v === "" ? null : Number(v));
export const str = (v: string | undefined): string | null => (v === undefined || v === "" ? null : v);
export const isReason = (v: string | undefined): v is EndReason => (END_REASONS as readonly string[]).includes(v ?? "");
export const isState = (v: string | undefined): v is JobState => (JOB_STATES as readonly string[]).includes(v ?? "");

/** A stored result: a JSON text (older records hold plain numbers, which are JSON too). */
export const parseResult = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** The job's parameters; none when the field is not JSON (a record written by something else). */
export function parseParams(text: string | undefined): Record<string, unknown> {
  try {
    return JSON.parse(text ?? "{}") as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The record's attempts field (JSON written by lua/includes/requeue.lua); none when absent or not JSON. */
export function parseAttempts(text: string | undefined): AttemptRecord[] {
  let list: unknown;
  try {
    list = JSON.parse(text ?? "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const n = (v: unknown) => (typeof v === "number" ? v : null);
  const s = (v: unknown) => (typeof v === "string" ? v : null);
  return (list as unknown[])
    .filter((a): a is Record<string, unknown> => typeof a === "object" && a !== null)
    .filter((a) => isReason(s(a.reason) ?? undefined))
    .map((a) => ({
      attempt: n(a.attempt) ?? 0,
      reason: a.reason as EndReason,
      claimedAt: n(a.claimedAt),
      startedAt: n(a.startedAt),
      endedAt: n(a.endedAt) ?? 0,
      host: s(a.host),
      pid: n(a.pid),
      exitCode: n(a.exitCode),
      signal: s(a.signal),
      error: s(a.error),
      usage: usageOf(n(a.peakMemoryBytes), n(a.cpuMs)),
      slurm: s(a.slurmJobId) === null ? null : { jobId: s(a.slurmJobId)!, state: s(a.slurmState) ?? "" },
    }));
}

/** A usage from its two fields; null unless both are there. */
export function usageOf(peakMemoryBytes: number | null, cpuMs: number | null): JobUsage | null {
  return peakMemoryBytes === null || cpuMs === null ? null : { peakMemoryBytes, cpuMs };
}

/** What the read script returns beside the record's fields (see lua/read-9.lua). */
export interface ReadExtras {
  readAt: number;
  results: string[];
  queuePosition: number;
  resultCount: number;
  logTail: string[];
  logCount: number;
  leaseExpiry: number;
}

/**
 * When the job last changed, or its process was last heard from: a running
 * job's heartbeats renew its lease (its beat key, lua/includes/beat.lua),
 * not its record, so its last beat is its lease's expiry less the lease
 * (the record's leaseMs, which its start wrote).
 */
function heardAt(h: Record<string, string>, leaseExpiry: number): number | null {
  const updated = num(h.updatedAt);
  const leaseMs = num(h.leaseMs);
  if (h.state !== "running" || leaseMs === null || leaseExpiry < 0) return updated;
  return Math.max(updated ?? 0, leaseExpiry - leaseMs);
}

/** A job's record from its hash's fields (flat: name, value, …) and what the read added. */
export function parseRecord(id: string, flat: readonly string[], read: ReadExtras): JobRecord {
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return {
    id,
    type: h.type ?? "unknown",
    params: parseParams(h.params),
    state: isState(h.state) ? h.state : "failed",
    done: Number(h.done ?? 0),
    total: Number(h.total ?? 0),
    results: read.results.map(parseResult),
    resultCount: Number(read.resultCount),
    status: str(h.status),
    reason: isReason(h.reason) ? h.reason : null,
    user: str(h.user),
    submitter: str(h.submitter),
    ttlSucceededS: num(h.ttlOk),
    ttlFailedS: num(h.ttlFail),
    logTail: read.logTail,
    logCount: Number(read.logCount) || Number(h.logLines ?? 0) + Number(h.logOpen ?? 0),
    logDropped: Number(h.logDropped ?? 0),
    timeoutMs: num(h.timeoutMs),
    createdAt: num(h.createdAt),
    startedAt: num(h.startedAt),
    finishedAt: num(h.finishedAt),
    updatedAt: heardAt(h, read.leaseExpiry),
    pid: num(h.pid),
    host: str(h.host),
    exitCode: num(h.exitCode),
    signal: str(h.signal),
    error: str(h.error),
    detail: str(h.detail),
    cancelRequestedAt: num(h.cancelRequestedAt),
    queuePosition: read.queuePosition >= 0 ? read.queuePosition : null,
    leaseExpiresAt: read.leaseExpiry >= 0 ? read.leaseExpiry : null,
    retryOf: isJobId(h.retryOf) ? h.retryOf : null,
    retriedAs: isJobId(h.retriedAs) ? h.retriedAs : null,
    uploads: h.uploads ? h.uploads.split(",") : [],
    attempt: Number(h.attempt ?? 1) || 1,
    maxAttempts: Number(h.maxAttempts ?? 1) || 1,
    retryOn: h.retryOn ? h.retryOn.split(",") : [],
    attempts: parseAttempts(h.attempts),
    notBefore: num(h.notBefore),
    usage: usageOf(num(h.peakMemoryBytes), num(h.cpuMs)),
    limit: num(h.limit),
    slurm: h.slurmJobId ? { jobId: h.slurmJobId, state: h.slurmState ?? "", reason: str(h.slurmReason) } : null,
    readAt: Number(read.readAt),
  };
}

/** The fields a summary reads, in the order parseSummary takes them. */
export const SUMMARY_FIELDS = ["type", "params", "state", "createdAt", "startedAt", "finishedAt", "reason", "cancelRequestedAt"] as const;

/** A summary from the values of SUMMARY_FIELDS (HMGET); null without a known type and state (no record). */
export function parseSummary(id: string, values: readonly (string | null)[]): JobSummary | null {
  const [type, params, state, createdAt, startedAt, finishedAt, reason, cancelRequestedAt] = values;
  if (!type || !state || !isState(state)) return null;
  return {
    id,
    type,
    params: parseParams(params ?? undefined),
    state,
    createdAt: num(createdAt ?? undefined),
    startedAt: num(startedAt ?? undefined),
    finishedAt: num(finishedAt ?? undefined),
    reason: isReason(reason ?? undefined) ? (reason as EndReason) : null,
    cancelRequestedAt: num(cancelRequestedAt ?? undefined),
  };
}

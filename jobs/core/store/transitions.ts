// The transitions of a job: each one Lua script (lua/<name>-<N>.lua), so it is
// checked and applied atomically. A job is created (queued, or claimed at
// once), claimed by an instance, started by its process, reported on, and
// finished or cancelled; a sweep records as lost the jobs whose lease ran
// out. Each function turns its script's reply into its own result.
import type { FinishMode } from "../lua/commands.ts";
import type { StoreCore } from "./core.ts";
import { QueueFullError, UploadMissingError } from "./errors.ts";
import { newJobId, type JobState, type Outcome } from "./record.ts";

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
  /** Its type's retry policy (lua/includes/requeue.lua); without one, a job is not retried. */
  retry?: RetryPolicy;
}

/** How a type's jobs are retried: stored on each record at create, so every process applies the same. */
export interface RetryPolicy {
  /** Attempts in all for a job lost to the infrastructure (lost, never-started). */
  maxAttempts: number;
  /** The other end reasons retried. */
  retryOn: readonly string[];
  /** The wait before the second attempt (ms), doubled for each one after. */
  backoffMs: number;
}

/** What a job's process reports: all optional, nothing at all for a heartbeat. */
export interface Progress {
  done?: number;
  total?: number;
  status?: string;
  results?: readonly unknown[];
  /** How many results the process reported before these: makes a report sent twice append once. */
  first?: number;
  /**
   * Renew the lease even if it has expired (unless the job was recorded lost
   * meanwhile): Redis refused this process's renewals a moment ago.
   */
  renewExpired?: boolean;
  /** The most results, and result bytes, the job may keep (0 or absent: no limit); beyond, the reply is "full". */
  resultsMax?: number;
  resultBytesMax?: number;
  /** The attempt this process runs: refused when the job is on another (it was recorded lost and retried). */
  attempt?: number;
}

/** "full": the results would pass the job's bounds: the values that fit were appended, the rest were not. */
export type ReportReply = "ok" | "cancel" | "full" | "refused";
export type CancelReply = { outcome: "cancelled" | "requested" } | { outcome: "finished"; state: JobState } | { outcome: "missing" };

export async function create(core: StoreCore, input: NewJob & { queueMax: number }): Promise<string> {
  const { keys, ttl } = core;
  const id = input.id ?? newJobId();
  const job = keys.job(id);
  const uploads = input.uploads ?? [];
  for (const field of uploads) keys.upload(id, field);
  if (keys.partitions.length > 1) {
    const lengths = await core.call((r) => Promise.all(keys.partitions.map(({ queueKey }) => r.llen(queueKey))));
    if (lengths.reduce((sum, n) => sum + n, 0) >= input.queueMax) throw new QueueFullError();
  }
  const [created, reason] = await core.call((r) =>
    r.sjCreate(
      job,
      keys.partition(id).queueKey,
      keys.partition(id).indexPrefix,
      id,
      input.type,
      JSON.stringify(input.params),
      input.total,
      input.queueMax,
      input.ttlSucceededS ?? ttl[0],
      input.ttlFailedS ?? ttl[1],
      input.timeoutMs ?? "",
      uploads.join(","),
      input.retryOf ?? "",
      ...policyArgs(input.retry),
    ),
  );
  if (created === 1) return id;
  if (reason === "upload_missing") throw new UploadMissingError();
  if (reason === "exists") throw new Error(`a job ${id} exists already`);
  throw new QueueFullError();
}

export async function createClaimed(core: StoreCore, input: NewJob, owner: string, leaseMs: number): Promise<string> {
  // Its uploads, if any, keep their safety TTL (UPLOAD_SAFETY_TTL_S): the process starts at once and copies them first.
  const { keys, ttl } = core;
  const id = input.id ?? newJobId();
  const job = keys.job(id);
  await core.call((r) =>
    r.sjCreateClaimed(
      job,
      keys.partition(id).leasesKey,
      keys.partition(id).indexPrefix,
      id,
      input.type,
      JSON.stringify(input.params),
      input.total,
      input.ttlSucceededS ?? ttl[0],
      input.ttlFailedS ?? ttl[1],
      input.timeoutMs ?? "",
      owner,
      leaseMs,
      input.retryOf ?? "",
      ...policyArgs(input.retry),
    ),
  );
  return id;
}

function policyArgs(retry: RetryPolicy | undefined): [maxAttempts: number, retryOn: string, backoffMs: number] {
  return retry ? [retry.maxAttempts, retry.retryOn.join(","), retry.backoffMs] : [1, "", 0];
}

/**
 * With several partitions, "oldest" holds within one: each claim starts at
 * the partition after the one the last claim took from, and takes from the
 * first that has such a job. So while jobs wait in every partition, each
 * partition gives one job per round, and a job waits for at most the jobs
 * ahead of it in its own queue, plus as many rounds of the others.
 */
export async function claim(
  core: StoreCore,
  owner: string,
  leaseMs: number,
  free: readonly string[],
  known: readonly string[],
): Promise<{ id: string; type: string; attempt: number } | null> {
  if (free.length === 0) return null;
  const others = known.filter((t) => !free.includes(t));
  const { partitions } = core.keys;
  const count = partitions.length;
  const start = core.nextClaim;
  for (let i = 0; i < count; i++) {
    const index = (start + i) % count;
    const { queueKey, leasesKey, killsKey, jobPrefix, indexPrefix } = partitions[index]!;
    const reply = await core.call((r) =>
      r.sjClaim(queueKey, leasesKey, killsKey, jobPrefix, indexPrefix, leaseMs, owner, ...core.ttl, free.length, ...free, ...others),
    );
    if (reply) {
      core.nextClaim = (index + 1) % count;
      return { id: reply[0], type: reply[1], attempt: Number(reply[2]) || 1 };
    }
  }
  return null;
}

export async function release(core: StoreCore, id: string, owner: string): Promise<boolean> {
  const { keys } = core;
  return (await core.call((r) => r.sjRelease(keys.job(id), keys.partition(id).leasesKey, keys.partition(id).queueKey, id, owner))) === 1;
}

export async function start(
  core: StoreCore,
  id: string,
  pid: number,
  host: string,
  leaseMs: number,
  attempt?: number,
): Promise<{ ok: true } | { ok: false; state: string }> {
  const { keys } = core;
  const { leasesKey, indexPrefix } = keys.partition(id);
  const reply = await core.call((r) => r.sjStart(keys.job(id), leasesKey, indexPrefix, id, pid, host, leaseMs, attempt ?? ""));
  return reply[0] === 1 ? { ok: true } : { ok: false, state: reply[1] };
}

export async function report(core: StoreCore, id: string, leaseMs: number, progress: Progress): Promise<ReportReply> {
  const { done, total, status, results = [], first, renewExpired, resultsMax = 0, resultBytesMax = 0, attempt } = progress;
  const values = results.map((v) => JSON.stringify(v) ?? "null");
  const reply = await core.call((r) =>
    r.sjReport(
      ...core.keys.jobAndIndexes(id),
      id,
      leaseMs,
      done ?? "",
      ...core.ttl,
      total ?? "",
      status ?? "",
      first ?? "",
      renewExpired ? "1" : "",
      resultsMax,
      resultBytesMax,
      attempt ?? "",
      ...values,
    ),
  );
  return reply[0] === 1 ? reply[1] : "refused";
}

/**
 * The state recorded; "requeued" when the job went back to the queue for
 * another attempt instead (its type retries the reason); null when refused
 * (already ended, another attempt, or not running for mode 'job').
 * attempt: the attempt this end is of (undefined: whichever is current).
 */
export async function finish(
  core: StoreCore,
  id: string,
  state: JobState,
  mode: FinishMode,
  outcome: Outcome,
  attempt?: number,
): Promise<JobState | "requeued" | null> {
  const fields: (string | number)[] = [];
  if (outcome.reason) fields.push("reason", outcome.reason);
  if (outcome.error) fields.push("error", outcome.error);
  if (outcome.exitCode !== undefined && outcome.exitCode !== null) fields.push("exitCode", outcome.exitCode);
  if (outcome.signal) fields.push("signal", outcome.signal);
  if (outcome.detail) fields.push("detail", outcome.detail);
  const reply = await core.call((r) => r.sjFinish(...core.keys.jobAndIndexes(id), id, state, mode, ...core.ttl, attempt ?? "", ...fields));
  if (reply[0] === 2) return "requeued";
  return reply[0] === 1 ? reply[1] : null;
}

export async function cancel(core: StoreCore, id: string, graceMs: number): Promise<CancelReply> {
  const reply = await core.call((r) => r.sjCancel(...core.keys.jobAndIndexes(id), id, graceMs, ...core.ttl));
  if (reply[0] === 1) return { outcome: "cancelled" };
  if (reply[0] === 2) return { outcome: "requested" };
  return reply[1] ? { outcome: "finished", state: reply[1] } : { outcome: "missing" };
}

/** The jobs whose lease had expired: recorded lost (ended), or requeued for another attempt. */
export async function sweep(core: StoreCore, limit: number): Promise<{ lost: string[]; requeued: string[] }> {
  const replies = await Promise.all(
    core.keys.partitions.map(({ leasesKey, queueKey, killsKey, jobPrefix, indexPrefix }) =>
      core.call((r) => r.sjSweep(leasesKey, queueKey, killsKey, jobPrefix, indexPrefix, ...core.ttl, limit)),
    ),
  );
  return { lost: replies.flatMap((r) => r[0]), requeued: replies.flatMap((r) => r[1]) };
}

export async function dueKills(core: StoreCore): Promise<string[]> {
  return core.eachPartition(({ killsKey }) => core.call((r) => r.sjDueKills(killsKey)));
}

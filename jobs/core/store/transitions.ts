// The transitions of a job: each one Lua script (lua/<name>-<N>.lua), so it is
// checked and applied atomically. A job is created (queued, or claimed at
// once), claimed by an instance, started by its process, reported on, and
// finished or cancelled; a sweep records as lost the jobs whose lease ran
// out. Each function turns its script's reply into its own result.
import type { FinishMode } from "../lua/commands.ts";
import type { StoreCore } from "./core.ts";
import { AlreadySubmittedError, QueueFullError, SubmitKeyReusedError, SubmitterQueueFullError, UploadMissingError } from "./errors.ts";
import { submitterKey, userKey, type OnceScope } from "./keys.ts";
import { newJobId, parseRecord, type JobRecord, type JobState, type Outcome } from "./record.ts";

/**
 * A submit's key, which makes a repeat of the same request return the job it
 * created instead of a second one (keys.ts, OnceScope; lua/includes/once.lua).
 */
export interface SubmitOnce {
  scope: OnceScope;
  /** The client's Idempotency-Key, or the form's submission token. */
  key: string;
  /** A digest of the request: the type, the checked parameters, the uploads' contents. */
  fingerprint: string;
  /** How long the key's record is kept at most (IDEMPOTENCY_TTL_S); less once its job is gone. */
  ttlS: number;
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
  /**
   * A submit key: a request its record already answers creates nothing
   * (AlreadySubmittedError, with the job's id; SubmitKeyReusedError for
   * another request under a client's key). The id, if chosen first, must be
   * one of onceJobId's.
   */
  once?: SubmitOnce;
  /** Its type's retry policy (lua/includes/requeue.lua); without one, a job is not retried. */
  retry?: RetryPolicy;
  /** The signed-in person who submitted it (server/identity.ts): kept on the record and in their jobs' set. */
  user?: string;
  /** Who submitted it (server/submitters.ts): the submitters take turns (lua/includes/turns.lua). */
  submitter?: string;
  /** JOB_MAX_QUEUED_PER_SUBMITTER: the most jobs one submitter may have waiting (0 or none: no limit). */
  maxQueuedPerSubmitter?: number;
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
  /**
   * The process renewed its lease less than half a heartbeat ago: the report
   * neither renews it nor checks it (it cannot have run out); the record's
   * state and attempt still fence it.
   */
  leaseFresh?: boolean;
  /** The most results, and result bytes, the job may keep (0 or absent: no limit); beyond, the reply is "full". */
  resultsMax?: number;
  resultBytesMax?: number;
  /** The attempt this process runs: refused when the job is on another (it was recorded lost and retried). */
  attempt?: number;
}

/** "full": the results would pass the job's bounds: the values that fit were appended, the rest were not. */
export type ReportReply = "ok" | "cancel" | "full" | "refused";
export type CancelReply =
  { outcome: "cancelled" } | { outcome: "requested" } | { outcome: "finished"; state: JobState } | { outcome: "missing" };

/**
 * Whether a call made a job terminal. Each end is reported (logged and
 * counted, server/job-events.ts) once, by the instance that takes its report
 * (takeReport): first the caller whose transition made the job terminal; the
 * script's reply says which one did:
 * - "ended": this call ended the job (mode "exit" or "force"): the caller takes its report;
 * - "own-end": this call, from the job's own process (mode "job"), ended it:
 *   the server that started the process takes its report when it sees the
 *   exit, or a sweep does once that server has had its time
 *   (lua/includes/finish.lua);
 * - "reported": (mode "exit") the job had ended and its report waits: the
 *   caller takes it (unless a sweep does first);
 * - "unchanged": nothing was recorded (the job had ended, its end is someone
 *   else's to report; or, mode "job", it was not running or lost its lease).
 */
export type FinishReply =
  | { outcome: "ended" | "reported"; state: JobState; report?: TakenReport }
  | { outcome: "own-end"; state: JobState }
  | { outcome: "requeued" }
  | { outcome: "unchanged"; state: JobState | "" };

/** What a sweep found: jobs it recorded lost, and ends whose report has waited too long (the caller takes each). */
export interface SweepReply {
  lost: string[];
  waiting: string[];
  /** Jobs whose lease had expired and that went back to the queue for another attempt: retries, not ends. */
  requeued: string[];
  /** Jobs whose cancel grace has run out: their processes are to be killed (as dueKills lists them). */
  kills: string[];
}

/** A claimed job: submitCounted when no instance had counted its submit (this claim does); attempt: the one claimed (1 first). */
export interface Claimed {
  id: string;
  type: string;
  submitCounted: boolean;
  attempt: number;
}

/**
 * What a claim found: the job it took (null when none), and the queued jobs
 * of a type the caller does not know that it passed over (for endUnknownType).
 */
export interface ClaimReply {
  claimed: Claimed | null;
  unknown: string[];
}

/** A new job's id: in the partition of its submit key's record, if it has one. */
export function onceJobId(core: StoreCore, once: Pick<SubmitOnce, "scope" | "key">, type: string): string {
  const { partition } = core.keys.once(once.scope, type, once.key);
  return newJobId({ index: partition, count: core.keys.partitions.length });
}

/** The submit key's record and its script arguments (KEYS[4], ARGV[11..13] of both create scripts). */
function onceArgs(core: StoreCore, input: NewJob, id: string): [record: string, scope: string, fingerprint: string, ttlS: number] {
  const { once } = input;
  if (!once) return [core.keys.job(id), "", "", 0];
  const record = core.keys.once(once.scope, input.type, once.key);
  if (core.keys.partition(id) !== core.keys.partitions[record.partition]) throw new Error(`job ${id} is not in its submit key's partition`);
  return [record.key, once.scope, once.fingerprint, once.ttlS];
}

/** The reply of a create script that created nothing because of its submit key, as its error. */
function onceRefusal(reply: readonly unknown[]): Error | null {
  if (reply[1] === "duplicate") return new AlreadySubmittedError(String(reply[2]));
  if (reply[1] === "key_reused") return new SubmitKeyReusedError();
  return null;
}

/** The person's name and the key of their jobs' set (keys.ts, userKey), or none. */
function userArgs(user: string | undefined): [string, string] {
  return user ? [user, userKey(user)] : ["", ""];
}

/**
 * Creates a job: queued, or with claimFor, when nothing waits in any
 * partition, already claimed by that instance (which starts it at once: it
 * has a free slot for its type), as the claim that would follow would take
 * it. claimed says which.
 */
export async function create(
  core: StoreCore,
  input: NewJob & { queueMax: number },
  claimFor?: { owner: string; leaseMs: number },
): Promise<{ id: string; claimed: boolean }> {
  const { keys, ttl } = core;
  const id = input.id ?? (input.once ? onceJobId(core, input.once, input.type) : newJobId());
  const job = keys.job(id);
  const uploads = input.uploads ?? [];
  for (const field of uploads) keys.upload(id, field);
  const [record, scope, fingerprint, onceTtlS] = onceArgs(core, input, id);
  let queueMax = input.queueMax;
  // Taken at once only when nothing waits before it anywhere (one partition's script sees its own queue only).
  let owner = claimFor?.owner ?? "";
  if (keys.partitions.length > 1) {
    const lengths = await core.call((r) => Promise.all(keys.partitions.map(({ queueKey }) => r.llen(queueKey))));
    const waiting = lengths.reduce((sum, n) => sum + n, 0);
    if (waiting > 0) owner = "";
    if (waiting >= input.queueMax) {
      if (!input.once) throw new QueueFullError();
      // Full: the script still answers a repeat with its job, and creates nothing else.
      queueMax = 0;
    }
  }
  // Its submitter's room for one more waiting job: the limit less what waits in the other partitions (this one's, the script counts).
  const sd = input.submitter ? submitterKey(input.submitter) : "";
  const max = input.maxQueuedPerSubmitter ?? 0;
  let elsewhere = 0;
  if (sd && max > 0 && keys.partitions.length > 1) {
    const own = keys.partition(id).base;
    const others = keys.bases.filter((b) => b !== own);
    elsewhere = (await core.call((r) => Promise.all(others.map((b) => r.llen(keys.submitterQueue(b, sd)))))).reduce((a, n) => a + n, 0);
  }
  const room = sd && max > 0 ? Math.max(0, max - elsewhere) : "";
  const reply = await core.call((r) =>
    r.sjCreate(
      job,
      keys.partition(id).queueKey,
      keys.partition(id).indexPrefix,
      record,
      keys.partition(id).leasesKey,
      id,
      input.type,
      JSON.stringify(input.params),
      input.total,
      queueMax,
      input.ttlSucceededS ?? ttl[0],
      input.ttlFailedS ?? ttl[1],
      input.timeoutMs ?? "",
      uploads.join(","),
      input.retryOf ?? "",
      scope,
      fingerprint,
      onceTtlS,
      ...policyArgs(input.retry),
      ...userArgs(input.user),
      sd,
      input.submitter ?? "",
      room,
      owner,
      claimFor?.leaseMs ?? 0,
      // Drawn here, for this call: no job has it.
      input.id === undefined && !input.once ? "1" : "",
    ),
  );
  if (reply[0] === 1) return { id, claimed: reply[2] === 1 };
  const reason = reply[1];
  if (reason === "submitter_full") throw new SubmitterQueueFullError(max, Number(reply[2]) + elsewhere);
  const refusal = onceRefusal(reply);
  if (refusal) throw refusal;
  if (reason === "upload_missing") throw new UploadMissingError();
  if (reason === "exists") throw new Error(`a job ${id} exists already`);
  throw new QueueFullError();
}

export async function createClaimed(core: StoreCore, input: NewJob, owner: string, leaseMs: number): Promise<string> {
  // Its uploads, if any, keep their safety TTL (UPLOAD_SAFETY_TTL_S): the process starts at once and copies them first.
  const { keys, ttl } = core;
  const id = input.id ?? (input.once ? onceJobId(core, input.once, input.type) : newJobId());
  const job = keys.job(id);
  const [record, scope, fingerprint, onceTtlS] = onceArgs(core, input, id);
  const reply = await core.call((r) =>
    r.sjCreateClaimed(
      job,
      keys.partition(id).leasesKey,
      keys.partition(id).indexPrefix,
      record,
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
      scope,
      fingerprint,
      onceTtlS,
      ...policyArgs(input.retry),
      ...userArgs(input.user),
      input.submitter ? submitterKey(input.submitter) : "",
      input.submitter ?? "",
    ),
  );
  if (reply[0] === 1) return id;
  throw onceRefusal(reply) ?? new Error(`create-claimed answered ${JSON.stringify(reply)}`);
}

/**
 * The instance whose create was answered counts the job submitted: true when
 * the mark is this instance's (no claim or end of it had counted it first).
 * Asked again after a lost reply, the answer is the same.
 */
export async function markSubmitted(core: StoreCore, id: string, instanceId: string): Promise<boolean> {
  return (await core.call((r) => r.sjSubmitted(core.keys.job(id), `create:${instanceId}`))) === 1;
}

/**
 * Takes the report of a job's end for an instance (take-report-2.lua): true
 * when the report is this instance's to log and count (taken now, or by an
 * earlier call whose reply was lost), with the job's record as it ended (no
 * results, nor log: what the report says); submitCounted: it counts the
 * job's submit too (no instance had).
 */
export async function takeReport(core: StoreCore, id: string, instanceId: string): Promise<TakenReport> {
  const reply = await core.call((r) => r.sjTakeReport(core.keys.job(id), core.keys.partition(id).indexPrefix, id, instanceId));
  if (reply[0] !== 1) return { taken: false, submitCounted: false, job: null };
  return { taken: true, submitCounted: reply[1] === 1, job: reportedJob(id, reply[2]) };
}

/** The job as a taken report says it (lua/includes/report.lua): no results, log, nor lease. */
function reportedJob(id: string, fields: readonly string[]): JobRecord {
  return parseRecord(id, fields, { readAt: 0, results: [], queuePosition: -1, resultCount: 0, logTail: [], logCount: 0, leaseExpiry: -1 });
}

/** A report taken (or not): the record it reports, when taken. */
export interface TakenReport {
  taken: boolean;
  submitCounted: boolean;
  job: JobRecord | null;
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
 * Jobs of a type not in known are passed over and listed in unknown.
 */
export async function claim(
  core: StoreCore,
  owner: string,
  leaseMs: number,
  free: readonly string[],
  known: readonly string[],
  maxRunningPerSubmitter = 0,
): Promise<ClaimReply> {
  const unknown: string[] = [];
  if (free.length === 0) return { claimed: null, unknown };
  const others = known.filter((t) => !free.includes(t));
  const { keys } = core;
  const { partitions } = keys;
  const count = partitions.length;
  const start = core.nextClaim;
  // Only the partitions where a job of a free type waits (their index's queued sets: one EXISTS on one Redis,
  // where an idle instance's claim costs nothing else). When there are none, a claim still looks where the queue
  // is not empty every FULL_CLAIM_MS, to pass over the jobs of types this instance does not know (the caller
  // may end them) and ids the index does not account for.
  // When every known type is free, the queue itself is asked: a type's queued set also holds the jobs created
  // already claimed until their process starts, which would send a claim looking where nothing waits.
  const everyTypeFree = others.length === 0;
  let candidates = await core.partitionsWith((p) => (everyTypeFree ? [p.queueKey] : free.map((t) => keys.indexSet(p.base, t, "queued"))));
  const worth = candidates.length > 0 ? "1" : "";
  if (candidates.length === 0) {
    if (everyTypeFree) return { claimed: null, unknown };
    const now = Date.now();
    if (now - core.lastFullClaim < FULL_CLAIM_MS) return { claimed: null, unknown };
    core.lastFullClaim = now;
    candidates = await core.partitionsWith((p) => [p.queueKey]);
  }
  const rotation = Array.from({ length: count }, (_, i) => (start + i) % count).filter((i) => candidates.includes(i));
  // An idle instance's claims (nothing found last time) cost no read of the turns: the first claim after jobs come asks in rotation.
  const order =
    count > 1 && !core.claimsIdle && rotation.length > 1 ? (await turnOrder(core, start)).filter((i) => candidates.includes(i)) : rotation;
  const blocked = order.length > 0 && maxRunningPerSubmitter > 0 ? (await submittersAtLimit(core, maxRunningPerSubmitter)).join(",") : "";
  for (const index of order) {
    const { queueKey, leasesKey, killsKey, jobPrefix, indexPrefix } = partitions[index]!;
    const reply = await core.call((r) =>
      r.sjClaim(queueKey, leasesKey, killsKey, jobPrefix, indexPrefix, leaseMs, owner, blocked, worth, free.length, ...free, ...others),
    );
    if (!reply) continue;
    const [id, type, submit, attempt, sd, takenAt, ...passed] = reply;
    unknown.push(...passed);
    if (id !== "") {
      core.nextClaim = (index + 1) % count;
      core.claimsIdle = false;
      // The submitter has had its turn in every partition, not only this one (a turn taken elsewhere first is kept).
      if (sd !== "" && count > 1) {
        const others = keys.bases.filter((_, i) => i !== index);
        await core.call((r) => Promise.all(others.map((b) => r.zadd(keys.turns(b), "XX", "GT", takenAt, sd))));
      }
      return { claimed: { id, type, submitCounted: submit === 1, attempt: Number(attempt) || 1 }, unknown };
    }
  }
  core.claimsIdle = true;
  return { claimed: null, unknown };
}

/** How often a claim that finds no job of a free type waiting looks at the queue all the same (see claim). */
export const FULL_CLAIM_MS = 2000;

/**
 * The partitions in the order a claim asks them: first those whose next
 * submitter's turn is oldest (lua/includes/turns.lua: the times are Redis'
 * clock, so they compare), so turns are taken across partitions as within
 * one; then the others, in turn from `start`.
 */
async function turnOrder(core: StoreCore, start: number): Promise<number[]> {
  const { keys } = core;
  const heads = await core.call((r) => Promise.all(keys.bases.map((b) => r.zrange(keys.turns(b), "0", "0", "WITHSCORES"))));
  const rotation = keys.bases.map((_, i) => (start + i) % keys.bases.length);
  const next = (i: number) => (heads[i]!.length === 2 ? Number(heads[i]![1]) : Infinity);
  return rotation.sort((a, b) => next(a) - next(b));
}

/** The submitters (their digests) with at least `max` jobs claimed or running, counted over every partition. */
async function submittersAtLimit(core: StoreCore, max: number): Promise<string[]> {
  const { keys } = core;
  const counts = new Map<string, number>();
  const replies = await core.call((r) => Promise.all(keys.bases.map((b) => r.hgetall(keys.submitterRunning(b)))));
  for (const reply of replies) for (const [sd, n] of Object.entries(reply)) counts.set(sd, (counts.get(sd) ?? 0) + Number(n));
  return [...counts].filter(([, n]) => n >= max).map(([sd]) => sd);
}

/**
 * Ends a queued job a claim passed over for its type, when no type in known
 * (every live instance's) is its own and it has waited waitMs at least
 * (end-unknown-6.lua): true when this call ended it (the caller takes its
 * report).
 */
export async function endUnknownType(core: StoreCore, id: string, known: readonly string[], waitMs: number): Promise<boolean> {
  return (await core.call((r) => r.sjEndUnknown(...core.keys.jobAndIndexes(id), id, ...core.ttl, waitMs, ...known))) === 1;
}

/** unanswered: the claim's answer never reached its owner (its submit mark goes, see release-3.lua). */
export async function release(core: StoreCore, id: string, owner: string, unanswered = false): Promise<boolean> {
  const { keys } = core;
  return (
    (await core.call((r) =>
      r.sjRelease(keys.job(id), keys.partition(id).leasesKey, keys.partition(id).queueKey, id, owner, unanswered ? "1" : ""),
    )) === 1
  );
}

export async function start(
  core: StoreCore,
  id: string,
  pid: number,
  host: string,
  leaseMs: number,
  attempt?: number,
): Promise<{ ok: true; job: JobRecord } | { ok: false; state: string }> {
  const { keys } = core;
  const { leasesKey, indexPrefix } = keys.partition(id);
  const reply = await core.call((r) => r.sjStart(keys.job(id), leasesKey, indexPrefix, id, pid, host, leaseMs, attempt ?? ""));
  if (reply[0] !== 1) return { ok: false, state: reply[1] };
  // Started: no results yet (a retried attempt's were cleared), nor a log line read; its lease runs from its start.
  const startedAt = Number(fieldOf(reply[1], "startedAt"));
  const read = {
    readAt: startedAt,
    results: [],
    queuePosition: -1,
    resultCount: 0,
    logTail: [],
    logCount: 0,
    leaseExpiry: startedAt + leaseMs,
  };
  return { ok: true, job: parseRecord(id, reply[1], read) };
}

/** One field's value in a flat list of a hash's fields (name, value, …). */
function fieldOf(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

/**
 * A heartbeat of a running job's process (lua/includes/beat.lua): its
 * lease renewed with one command, GETEX of its beat key, whose value names
 * the attempt and says whether a cancel was asked for. null: no beat key of
 * this attempt (the caller sends a whole report, which tells why).
 */
export async function beat(core: StoreCore, id: string, attempt: number, leaseMs: number): Promise<"ok" | "cancel" | null> {
  const value = await core.call((r) => r.getex(core.keys.beat(id), "PX", leaseMs));
  if (value === null) return null;
  const [of, , cancel] = value.split(":");
  if (Number(of) !== attempt) return null;
  return cancel === "cancel" ? "cancel" : "ok";
}

export async function report(core: StoreCore, id: string, leaseMs: number, progress: Progress): Promise<ReportReply> {
  const reply = await sendReport(core, id, leaseMs, progress, null);
  if (reply[0] !== 1) return "refused";
  // Without an end, the script never answers 'ended'.
  return reply[1] === "ended" ? "ok" : reply[1];
}

/**
 * A job's process's last report and its end in one script (report-1.lua
 * with an end): the progress is applied, then the end recorded as a finish
 * in mode "job" records it; unless the values would pass the job's bounds
 * ("full": those that fit were appended, nothing ended).
 */
export async function reportEnd(
  core: StoreCore,
  id: string,
  leaseMs: number,
  progress: Progress,
  state: JobState,
  outcome: Outcome,
): Promise<FinishReply | "full"> {
  const reply = await sendReport(core, id, leaseMs, progress, { state, fields: outcomeFields(outcome) });
  if (reply[0] !== 1) return { outcome: "unchanged", state: reply[1] };
  if (reply[1] === "full") return "full";
  if (reply[1] === "ended") return reply[2] === "queued" ? { outcome: "requeued" } : { outcome: "own-end", state: reply[2] };
  // An end is recorded, or refused as full: nothing else is answered to one.
  throw new Error(`report with an end answered ${JSON.stringify(reply)}`);
}

function sendReport(
  core: StoreCore,
  id: string,
  leaseMs: number,
  progress: Progress,
  end: { state: JobState; fields: (string | number)[] } | null,
) {
  const { done, total, status, results = [], first, renewExpired, leaseFresh, resultsMax = 0, resultBytesMax = 0, attempt } = progress;
  const values = results.map((v) => JSON.stringify(v) ?? "null");
  return core.call((r) =>
    r.sjReport(
      core.keys.job(id),
      id,
      leaseMs,
      done ?? "",
      ...core.ttl,
      total ?? "",
      status ?? "",
      first ?? "",
      renewExpired ? "1" : leaseFresh ? "0" : "",
      resultsMax,
      resultBytesMax,
      attempt ?? "",
      end?.state ?? "",
      end?.fields.length ?? 0,
      ...(end?.fields ?? []),
      ...values,
    ),
  );
}

/** An end's fields for the scripts (ARGV pairs: reason, error, exitCode, signal, detail, limit, usage). */
function outcomeFields(outcome: Outcome): (string | number)[] {
  const fields: (string | number)[] = [];
  if (outcome.reason) fields.push("reason", outcome.reason);
  if (outcome.error) fields.push("error", outcome.error);
  if (outcome.exitCode !== undefined && outcome.exitCode !== null) fields.push("exitCode", outcome.exitCode);
  if (outcome.signal) fields.push("signal", outcome.signal);
  if (outcome.detail) fields.push("detail", outcome.detail);
  if (outcome.limit !== undefined) fields.push("limit", outcome.limit);
  if (outcome.usage) fields.push("peakMemoryBytes", Math.round(outcome.usage.peakMemoryBytes), "cpuMs", Math.round(outcome.usage.cpuMs));
  return fields;
}

/**
 * attempt: the attempt this end is of (undefined: whichever is current); an
 * end of another attempt changes nothing. reportTo: the caller's instance,
 * which takes the report of an end this call made or found waiting in the
 * same call (the reply's report; undefined when another instance has it).
 */
export async function finish(
  core: StoreCore,
  id: string,
  state: JobState,
  mode: FinishMode,
  outcome: Outcome,
  attempt?: number,
  reportTo?: string,
): Promise<FinishReply> {
  const fields = outcomeFields(outcome);
  const reply = await core.call((r) =>
    r.sjFinish(...core.keys.jobAndIndexes(id), id, state, mode, ...core.ttl, attempt ?? "", reportTo ?? "", ...fields),
  );
  switch (reply[0]) {
    case 1:
    case 2: {
      const [code, ended, taken, submit, report] = reply;
      const outcome = code === 1 ? "ended" : "reported";
      if (reportTo === undefined) return { outcome, state: ended };
      const taking: TakenReport =
        taken === 1
          ? { taken: true, submitCounted: submit === 1, job: reportedJob(id, report ?? []) }
          : { taken: false, submitCounted: false, job: null };
      return { outcome, state: ended, report: taking };
    }
    case 3:
      return { outcome: "own-end", state: reply[1] };
    case 4:
      return { outcome: "requeued" };
    default:
      return { outcome: "unchanged", state: reply[1] };
  }
}

export async function cancel(core: StoreCore, id: string, graceMs: number): Promise<CancelReply> {
  const reply = await core.call((r) => r.sjCancel(...core.keys.jobAndIndexes(id), id, graceMs, ...core.ttl));
  if (reply[0] === 1) return { outcome: "cancelled" };
  if (reply[0] === 2) return { outcome: "requested" };
  return reply[1] ? { outcome: "finished", state: reply[1] } : { outcome: "missing" };
}

/**
 * reportWaitMs: how long an end recorded by a job's own process waits for its
 * server to report it. Only the partitions that have leases, kills or ends
 * waiting are swept (StoreCore.partitionsWith): an idle deployment's sweep
 * costs one command.
 */
export async function sweep(core: StoreCore, limit: number, reportWaitMs: number): Promise<SweepReply> {
  const { partitions } = core.keys;
  const busy = await core.partitionsWith((p) => [p.leasesKey, p.killsKey, p.unreportedKey]);
  const replies = await Promise.all(
    busy.map((i) => {
      const { leasesKey, queueKey, killsKey, jobPrefix, indexPrefix } = partitions[i]!;
      return core.call((r) => r.sjSweep(leasesKey, queueKey, killsKey, jobPrefix, indexPrefix, ...core.ttl, limit, reportWaitMs));
    }),
  );
  return {
    lost: replies.flatMap(([lost]) => lost),
    waiting: replies.flatMap(([, waiting]) => waiting),
    requeued: replies.flatMap(([, , requeued]) => requeued),
    kills: replies.flatMap(([, , , kills]) => kills),
  };
}

/** The jobs whose cancel grace has run out (the sweep lists them too), in the partitions that have kills. */
export async function dueKills(core: StoreCore): Promise<string[]> {
  const { partitions } = core.keys;
  const busy = await core.partitionsWith((p) => [p.killsKey]);
  return (await Promise.all(busy.map((i) => core.call((r) => r.sjDueKills(partitions[i]!.killsKey))))).flat();
}

/**
 * What Slurm says of a job's Slurm job (lua/slurm-2.lua): its id, state and
 * reason; leaseMs renews the start lease of a job still waiting in the
 * cluster's queue. Returns the job's state ('' if gone, 'other' on another attempt).
 */
export async function recordSlurm(
  core: StoreCore,
  id: string,
  attempt: number,
  slurm: { jobId: string; state: string; reason: string },
  leaseMs: number | null,
): Promise<JobState | "" | "other"> {
  const { keys } = core;
  const { leasesKey } = keys.partition(id);
  return core.call((r) => r.sjSlurm(keys.job(id), leasesKey, id, attempt, slurm.jobId, slurm.state, slurm.reason, leaseMs ?? ""));
}

/**
 * A place among the Slurm jobs the deployment keeps submitted (lua/slurm-places-1.lua):
 * take one for a job (true: it has one), renew the places of jobs in Slurm's queue, or give them back.
 */
export async function slurmPlace(core: StoreCore, mode: "take", id: string, max: number, holdMs: number): Promise<boolean>;
export async function slurmPlace(
  core: StoreCore,
  mode: "renew" | "leave",
  ids: readonly string[],
  max: number,
  holdMs: number,
): Promise<number>;
export async function slurmPlace(
  core: StoreCore,
  mode: "take" | "renew" | "leave",
  ids: string | readonly string[],
  max: number,
  holdMs: number,
): Promise<boolean | number> {
  const list = typeof ids === "string" ? [ids] : [...ids];
  const reply = await core.call((r) => r.sjSlurmPlaces(core.keys.slurmPlaces(), mode, holdMs, max, ...list));
  return mode === "take" ? reply === 1 : reply;
}

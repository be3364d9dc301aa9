// The types of the commands the store defines from the .lua files (see
// index.ts; jobs/core/store/core.ts), declared on ioredis' interface so that
// a call is checked and its reply typed. The parameters follow each script's
// KEYS then ARGV; the replies are what each script's "Returns" says, as
// ioredis hands them over (a Lua table is an array, a Lua number an integer,
// false is null). The store (jobs/core/store/) turns each reply into its own
// result, in one place per command. test/unit/lua-contracts.test.ts checks
// that each signature agrees with its script's file name and header.
import type { Result } from "ioredis";
import type { JobState } from "../store/record.ts";

/** A job's state as a script read it; '' when the job does not exist (never did, or expired). */
type StateOrGone = JobState | "";

export interface LuaReplies {
  create:
    | [created: 1, createdAt: number, claimed: 0 | 1]
    | [created: 0, reason: "duplicate", id: string]
    | [created: 0, reason: "submitter_full", waiting: number]
    | [created: 0, reason: "key_reused" | "queue_full" | "exists" | "upload_missing"];
  claim: [id: string, type: string, submit: 0 | 1, attempt: string, submitter: string, takenAt: number, ...unknown: string[]] | null;
  endUnknown: 0 | 1;
  uploadAppend: number;
  takeReport: [taken: 1, submit: 0 | 1, fields: string[]] | [taken: 0, submit: 0];
  createClaimed: [created: 1, createdAt: number] | [created: 0, reason: "duplicate", id: string] | [created: 0, reason: "key_reused"];
  release: 0 | 1;
  start: [started: 1, fields: string[]] | [started: 0, state: StateOrGone];
  report:
    | [accepted: 1, reply: "ok" | "cancel" | "full"]
    | [accepted: 1, reply: "ended", recorded: JobState | "queued"]
    | [accepted: 0, state: StateOrGone];
  finish:
    | [code: 1 | 2, state: JobState, taken?: 0 | 1, submit?: 0 | 1, report?: string[]]
    | [code: 3, recorded: JobState]
    | [code: 4, "queued"]
    | [code: 0, state: StateOrGone];
  cancel: [code: 1, "cancelled"] | [code: 2, "requested"] | [code: 0, state: StateOrGone];
  read:
    | [now: number]
    | [
        now: number,
        fields: string[],
        results: string[],
        queuePosition: number,
        resultCount: number,
        logTail: string[],
        logCount: number,
        leaseExpiry: number,
        files: (string | number)[],
        recordedLost: 0 | 1 | 2,
      ];
  log: 0 | 1;
  logAll: 0 | 1;
  logNoted: 0 | 1;
  file: 0 | 1;
  fileRange: string | null;
  sweep: [lost: string[], waiting: string[], requeued: string[], kills: string[]];
  submitted: 0 | 1;
  dueKills: string[];
  delete: [deleted: 1, state: JobState] | [deleted: 0, state: StateOrGone];
  retried: 0 | 1;
  slurm: StateOrGone | "other";
  slurmPlaces: number;
  beat: number;
  sample: number;
  trim: number;
  loginReserve: number;
  notifyAsk: 0 | 1 | 2;
  notifyTake: [email: string, webhook: string] | [];
  notifyOutcome: 0 | 1;
}

type Arg = string | number;

/** Who records a job's end (see finish-6.lua). */
export type FinishMode = "job" | "exit" | "force";

declare module "ioredis" {
  interface RedisCommander<Context> {
    sjCreate(
      job: string,
      queue: string,
      index: string,
      once: string,
      leases: string,
      id: string,
      type: string,
      params: string,
      total: Arg,
      queueMax: Arg,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      timeoutMs: Arg,
      uploads: string,
      retryOf: string,
      onceScope: string,
      fingerprint: string,
      onceTtlS: Arg,
      maxAttempts: Arg,
      retryOn: string,
      retryBackoffMs: Arg,
      user: string,
      userKey: string,
      submitter: string,
      submitterName: string,
      submitterRoom: Arg,
      owner: string,
      leaseMs: Arg,
      drawn: "1" | "",
    ): Result<LuaReplies["create"], Context>;
    sjClaim(
      queue: string,
      leases: string,
      kills: string,
      jobPrefix: string,
      index: string,
      leaseMs: Arg,
      owner: string,
      blocked: string,
      worth: "1" | "",
      freeCount: Arg,
      ...types: string[]
    ): Result<LuaReplies["claim"], Context>;
    sjCreateClaimed(
      job: string,
      leases: string,
      index: string,
      once: string,
      id: string,
      type: string,
      params: string,
      total: Arg,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      timeoutMs: Arg,
      owner: string,
      leaseMs: Arg,
      retryOf: string,
      onceScope: string,
      fingerprint: string,
      onceTtlS: Arg,
      maxAttempts: Arg,
      retryOn: string,
      retryBackoffMs: Arg,
      user: string,
      userKey: string,
      submitter: string,
      submitterName: string,
    ): Result<LuaReplies["createClaimed"], Context>;
    sjRelease(
      job: string,
      leases: string,
      queue: string,
      id: string,
      owner: string,
      unanswered: string,
    ): Result<LuaReplies["release"], Context>;
    sjTakeReport(job: string, index: string, id: string, instanceId: string): Result<LuaReplies["takeReport"], Context>;
    sjUploadAppend(upload: string, offset: Arg, chunk: Buffer, ttlS: Arg): Result<LuaReplies["uploadAppend"], Context>;
    sjStart(
      job: string,
      leases: string,
      index: string,
      id: string,
      pid: Arg,
      host: string,
      leaseMs: Arg,
      attempt: Arg,
    ): Result<LuaReplies["start"], Context>;
    sjReport(
      job: string,
      id: string,
      leaseMs: Arg,
      done: Arg,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      total: Arg,
      status: string,
      firstIndex: Arg,
      lease: "1" | "0" | "",
      resultsMax: Arg,
      resultBytesMax: Arg,
      attempt: Arg,
      end: "" | JobState,
      endFieldCount: Arg,
      ...endFieldsThenValues: Arg[]
    ): Result<LuaReplies["report"], Context>;
    sjFinish(
      job: string,
      results: string,
      leases: string,
      queue: string,
      kills: string,
      index: string,
      id: string,
      state: JobState,
      mode: FinishMode,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      attempt: Arg,
      reportTo: string,
      ...fieldsAndValues: Arg[]
    ): Result<LuaReplies["finish"], Context>;
    sjCancel(
      job: string,
      results: string,
      leases: string,
      queue: string,
      kills: string,
      index: string,
      id: string,
      graceMs: Arg,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
    ): Result<LuaReplies["cancel"], Context>;
    sjEndUnknown(
      job: string,
      results: string,
      leases: string,
      queue: string,
      kills: string,
      index: string,
      id: string,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      waitMs: Arg,
      ...known: string[]
    ): Result<LuaReplies["endUnknown"], Context>;
    sjRead(
      job: string,
      results: string,
      leases: string,
      queue: string,
      kills: string,
      index: string,
      log: string,
      files: string,
      beat: string,
      id: string,
      which: "all" | "auto",
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      resultLimit: Arg,
      logLines: Arg,
      listFiles: "1" | "0",
      recordLost: "1" | "0",
      resultBytes: Arg,
    ): Result<LuaReplies["read"], Context>;
    sjLog(job: string, log: string, maxLines: Arg, ...lines: string[]): Result<LuaReplies["log"], Context>;
    sjLogAll(job: string, fullLog: string, maxBytes: Arg, text: string | Buffer, marker: string): Result<LuaReplies["logAll"], Context>;
    sjLogNoted(job: string, lines: Arg, bytes: Arg, open: Arg): Result<LuaReplies["logNoted"], Context>;
    sjFile(job: string, files: string, name: string, content: string | Buffer): Result<LuaReplies["file"], Context>;
    sjFileRange(files: string, name: string, start: Arg, end: Arg): Result<LuaReplies["fileRange"], Context>;
    sjSweep(
      leases: string,
      queue: string,
      kills: string,
      jobPrefix: string,
      index: string,
      ttlSucceededS: Arg,
      ttlFailedS: Arg,
      limit: Arg,
      reportWaitMs: Arg,
    ): Result<LuaReplies["sweep"], Context>;
    sjSubmitted(job: string, mark: string): Result<LuaReplies["submitted"], Context>;
    sjDueKills(kills: string): Result<LuaReplies["dueKills"], Context>;
    sjDelete(job: string, index: string, id: string): Result<LuaReplies["delete"], Context>;
    sjRetried(job: string, newId: string): Result<LuaReplies["retried"], Context>;
    sjSlurm(
      job: string,
      leases: string,
      id: string,
      attempt: Arg,
      slurmJobId: string,
      slurmState: string,
      slurmReason: string,
      leaseMs: Arg,
    ): Result<LuaReplies["slurm"], Context>;
    sjSlurmPlaces(
      places: string,
      mode: "take" | "renew" | "leave",
      holdMs: Arg,
      max: Arg,
      ...ids: string[]
    ): Result<LuaReplies["slurmPlaces"], Context>;
    sjBeat(beats: string, instances: string, instanceId: string, facts: string, ttlMs: Arg): Result<LuaReplies["beat"], Context>;
    sjSample(queue: string, samples: string): Result<LuaReplies["sample"], Context>;
    sjTrim(index: string, jobPrefix: string, checks: Arg, ...typesAndTtls: Arg[]): Result<LuaReplies["trim"], Context>;
    sjLoginReserve(
      address: string,
      all: string,
      attempt: string,
      windowMs: Arg,
      perAddress: Arg,
      everyAddress: Arg,
    ): Result<LuaReplies["loginReserve"], Context>;
    sjNotifyAsk(job: string, email: string, webhook: string): Result<LuaReplies["notifyAsk"], Context>;
    sjNotifyTake(job: string, notify: string, instanceId: string, pending: string): Result<LuaReplies["notifyTake"], Context>;
    sjNotifyOutcome(job: string, notify: string, channel: string, delivery: string): Result<LuaReplies["notifyOutcome"], Context>;
  }
}

// The key layout: the only place a Redis key's name is built (the Lua scripts
// build a job's other keys from the record's key they are given, and index
// sets from the index prefix: see lua/includes/index.lua).
//
// Keys (P = REDIS_PREFIX; T = the Redis Cluster hash tag of the job's
// partition, "jobs" when there is one: see partitions.ts):
//   P:{T}:job:<id>          hash: the job record (record.ts)
//   P:{T}:job:<id>:results  list: the values the job has produced so far, each a JSON text
//   P:{T}:job:<id>:log      list: the last LOG_MAX_LINES lines the job's program wrote
//   P:{T}:job:<id>:fulllog  string: the whole log, as the job wrote it (JOB_LOG_MAX_BYTES at most)
//   P:{T}:job:<id>:files    hash: file name -> content, the job's output files
//   P:{T}:job:<id>:beat     string: "<attempt>:<lease ms>[:cancel]" while its process runs, its TTL the lease
//                           (lua/includes/beat.lua: every heartbeat renews it, GETEX)
//   P:{T}:job:<id>:upload:<field>  string: the file uploaded for a file field, as sent
//   P:{T}:job:<id>:notify   hash: channel (email, webhook) -> JSON of the delivery of its end (notify.ts); its
//                           request (the address, the URL) is on the record, asked just after its create
//   (with FILE_STORE_DIR the bytes are files on a disk: the whole log is there,
//   the files hash holds file name -> size, and an upload's key the word "file";
//   see file-dir.ts)
//   P:{T}:queue             list: ids of the partition's jobs waiting for a slot, oldest first
//   P:{T}:leases            sorted set: id -> lease expiry (ms) of every claimed or running job
//   P:{T}:kills             sorted set: id -> when to kill a job that ignores its cancel request
//   P:{T}:ix:<type>:<state> sorted set: id -> createdAt (ms), the jobs list's index (see lua/includes/index.lua)
//   P:{T}:ix:m:<minute>     hash: jobs ended that minute (s, f, c; l: lost), kept 2 h
//   P:{T}:ix:d:<type>:<hour> hash: durations of the jobs of a type that ended that hour, bucket -> count, kept 25 h
//   P:{T}:ix:u:<type>:<hour> hash: what the jobs of a type that ended that hour used, m<bucket> (peak memory) and
//                           c<bucket> (CPU time) -> count, kept 25 h (lua/includes/index.lua, index_count)
//   P:{T}:ix:unreported     sorted set: id -> when (ms), ends whose report no instance has taken yet (lua/includes/finish.lua, take-report-2.lua)
//   P:{T}:ix:user:<key>     sorted set: id -> createdAt (ms), a signed-in person's jobs in the partition; key = userKey(name)
//   P:{T}:ix:sq:<sd>        list: a submitter's queued ids, oldest first; sd = submitterKey(who), the record's sq
//   P:{T}:ix:turns          sorted set: sd -> when its last job was taken (ms, 0: none yet), submitters with queued jobs (lua/includes/turns.lua)
//   P:{T}:ix:subrun         hash: sd -> its jobs claimed or running
//   P:{T}:ix:subnames       hash: sd -> who (a person's name, a client address), for /admin
//   P:{T}:queue-samples     hash: minute of the hour -> "<minute>:<queue length>", sampled by each instance every 20 s
//   P:{T}:once:<digest>     hash: request fingerprint -> job id, one submit key's record (an Idempotency-Key,
//                           or a form's submission token); digest = sha256(scope, type, key), and T is the
//                           partition that digest names, where the job it records is created too
// and once, under the first partition's tag:
//   P:{T0}:beats            sorted set: instance id -> when its heartbeat runs out (ms)
//   P:{T0}:instances        hash: instance id -> its facts (JSON: host, pid, version, slots, known types, started at)
//   P:{T0}:slurm:places     sorted set: job id -> when its place lapses (ms), the deployment's submitted Slurm jobs
//                           (SLURM_MAX_SUBMITTED of them at most: lua/slurm-places-1.lua)
//   P:{T0}:login:addr:<address>  sorted set: attempt id -> when (ms), an address's failed logins (and checks in flight)
//   P:{T0}:login:all        sorted set: attempt id -> when (ms), every address's failed logins
//   P:{T0}:admin:session:<id>  string: "<version>:<tag>", one operator's session (see store/login.ts)
//   P:{T0}:admin:version    string: the sessions' version; "log out everywhere" adds one
//   P:{T0}:audit            list: the operators' actions, newest first, JSON each (store/audit.ts), AUDIT_MAX at most
// Each partition has its own queue, leases, kills and list index, so that
// every script touches one slot. The queue is first in first out within a
// partition; claims visit the partitions in turn (transitions.ts, claim).
// Reads that span jobs (the operators' list, counts, charts) read each
// partition and merge. When a job finishes it leaves every index, and its
// keys get a TTL: its type's retention, stored on the record when it was
// created (uploads: artifacts.ts). A submit key's record is written by the
// script that creates its job, kept IDEMPOTENCY_TTL_S at most, and ignored
// (then overwritten) once the job it names is gone (lua/includes/once.lua).
import crypto from "node:crypto";
import { partitionOf, partitionTags } from "../partitions.ts";
import { ID_LENGTH, isJobId, type JobState } from "./record.ts";

/**
 * How a submit key binds: "key", a client's Idempotency-Key, names one
 * request (the same key with another request is refused); "form", a form's
 * submission token, names one job per set of values sent with it (a person
 * who changes the form and sends it again means a new job).
 */
export type OnceScope = "key" | "form";

/** The key of a signed-in person's jobs' sets (ix:user:<key>): a digest of their name, which may hold any character. */
export function userKey(name: string): string {
  return crypto.createHash("sha256").update(name).digest("hex").slice(0, 32);
}

/** A submitter's digest (the record's sq; lua/includes/turns.lua): who submitted may hold any character. */
export function submitterKey(who: string): string {
  return crypto.createHash("sha256").update(`submitter\0${who}`).digest("hex").slice(0, 32);
}

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
  /** The ends whose report no instance has taken yet (lua/includes/finish.lua). */
  readonly unreportedKey: string;
}

const FIELD = /^[a-z][a-z0-9_]{0,39}$/;

/** The keys of one deployment (prefix, number of partitions). */
export class KeyLayout {
  readonly partitions: readonly Partition[];
  /** The key base of each partition ("P:{tag}:"). Reads that span jobs read each one and merge. */
  readonly bases: readonly string[];

  constructor(
    readonly prefix: string,
    partitionCount: number,
  ) {
    this.partitions = partitionTags(partitionCount).map((tag) => {
      const base = `${prefix}:{${tag}}:`;
      return {
        base,
        queueKey: `${base}queue`,
        leasesKey: `${base}leases`,
        killsKey: `${base}kills`,
        jobPrefix: `${base}job:`,
        indexPrefix: `${base}ix:`,
        unreportedKey: `${base}ix:unreported`,
      };
    });
    this.bases = this.partitions.map((p) => p.base);
  }

  // --- One job's keys

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

  /** The record's key. */
  job(id: string): string {
    return this.jobKeys(id)[0];
  }

  log(id: string): string {
    return `${this.job(id)}:log`;
  }

  /** The whole log (the last lines are log()). */
  fullLog(id: string): string {
    return `${this.job(id)}:fulllog`;
  }

  files(id: string): string {
    return `${this.job(id)}:files`;
  }

  /** A running job's beat key: its lease, renewed by each heartbeat (lua/includes/beat.lua). */
  beat(id: string): string {
    return `${this.job(id)}:beat`;
  }

  /** How the telling of a job's end went, per channel (notify.ts). */
  notify(id: string): string {
    return `${this.job(id)}:notify`;
  }

  /** The key of the file uploaded for one of a job's fields. */
  upload(id: string, field: string): string {
    if (!FIELD.test(field)) throw new Error(`not a field name: ${JSON.stringify(field)}`);
    return `${this.job(id)}:upload:${field}`;
  }

  /** Every key of one job plus the indexes, in the order the scripts take them. */
  jobAndIndexes(id: string): [job: string, results: string, leases: string, queue: string, kills: string, index: string] {
    const { leasesKey, queueKey, killsKey, indexPrefix } = this.partition(id);
    return [...this.jobKeys(id), leasesKey, queueKey, killsKey, indexPrefix];
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

  // --- A submit key's record (see OnceScope)

  /**
   * Where the record of a submit key lives: its key, and the partition a job
   * it records must be created in (so that one script writes both on one
   * Redis Cluster slot). The key the client chose is hashed, never used in a
   * key name; the digest also sets the partition, so a job id can be chosen
   * in it before the job exists (its uploads are stored under that id).
   */
  once(scope: OnceScope, type: string, key: string): { key: string; partition: number } {
    const digest = crypto.createHash("sha256").update(`${scope}\0${type}\0${key}`).digest("hex");
    const partition = partitionOf(digest, this.partitions.length);
    return { key: `${this.partitions[partition]!.base}once:${digest}`, partition };
  }

  // --- A partition's keys, from its base

  queue(base: string): string {
    return `${base}queue`;
  }

  queueSamples(base: string): string {
    return `${base}queue-samples`;
  }

  /** The jobs list's index key prefix of a partition (see lua/includes/index.lua). */
  index(base: string): string {
    return `${base}ix:`;
  }

  /** A submitter's queued jobs in one partition, and the partition's turns, running counts and names (lua/includes/turns.lua). */
  submitterQueue(base: string, sd: string): string {
    return `${this.index(base)}sq:${sd}`;
  }

  turns(base: string): string {
    return `${this.index(base)}turns`;
  }

  submitterRunning(base: string): string {
    return `${this.index(base)}subrun`;
  }

  submitterNames(base: string): string {
    return `${this.index(base)}subnames`;
  }

  /** The index set of one type and state. */
  /** A signed-in person's jobs in one partition (lua/includes/index.lua, user_add). */
  userSet(base: string, user: string): string {
    return `${this.index(base)}user:${userKey(user)}`;
  }

  indexSet(base: string, type: string, state: JobState): string {
    return `${this.index(base)}${type}:${state}`;
  }

  /** The counts of the jobs that ended in one minute (since the epoch). */
  endedInMinute(base: string, minute: number): string {
    return `${this.index(base)}m:${minute}`;
  }

  /** The durations of the jobs of a type that ended in one hour (since the epoch). */
  durationsInHour(base: string, type: string, hour: number): string {
    return `${this.index(base)}d:${type}:${hour}`;
  }

  /** What the jobs of a type that ended in one hour (since the epoch) used: peak memory and CPU time buckets. */
  usageInHour(base: string, type: string, hour: number): string {
    return `${this.index(base)}u:${type}:${hour}`;
  }

  jobPrefix(base: string): string {
    return `${base}job:`;
  }

  // --- The instances' registry, under the first partition's tag

  beats(): string {
    return `${this.bases[0]!}beats`;
  }

  instances(): string {
    return `${this.bases[0]!}instances`;
  }

  /** The places of the deployment's submitted Slurm jobs (lua/slurm-places-1.lua). */
  slurmPlaces(): string {
    return `${this.bases[0]!}slurm:places`;
  }

  // --- The operators' audit trail, under the first partition's tag (store/audit.ts)

  audit(): string {
    return `${this.bases[0]!}audit`;
  }

  // --- The operator's login and sessions, under the first partition's tag

  /** The failed logins of one client address (an IPv4 address, or an IPv6 /64). */
  loginFailures(address: string): string {
    if (!/^[0-9A-Za-z.:/_-]{1,64}$/.test(address)) throw new Error(`not a client address: ${JSON.stringify(address)}`);
    return `${this.bases[0]!}login:addr:${address}`;
  }

  loginFailuresAll(): string {
    return `${this.bases[0]!}login:all`;
  }

  adminSession(id: string): string {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(id)) throw new Error("not a session id");
    return `${this.bases[0]!}admin:session:${id}`;
  }

  adminSessionVersion(): string {
    return `${this.bases[0]!}admin:version`;
  }
}

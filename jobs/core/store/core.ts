// What every part of the store shares: the connection, the key layout, the
// default retention, and call(), through which every command goes: it bounds
// the commands waiting at once (maxInFlight), gives each call a deadline
// (deadlineMs), and turns an unreachable Redis into a StoreUnavailableError,
// and a write Redis refuses (out of memory...) into a StoreWriteRefusedError,
// noted in the store's WriteRefusals.
//
// The parts (transitions.ts, reads.ts, artifacts.ts, operator.ts, list.ts)
// are functions that take a StoreCore; JobStore (job-store.ts) holds one and
// puts them together.
import type { Cluster, Redis as OneRedis } from "ioredis";
import { isUnavailableReply, isWriteRefusedReply } from "../redis.ts";
import { StoreBusyError, StoreUnavailableError, StoreWriteRefusedError } from "./errors.ts";
import { KeyLayout, type Partition } from "./keys.ts";
import type { JobRecord } from "./record.ts";
import { defineScripts } from "./scripts.ts";

/** One Redis (or a Sentinel's master), or a Redis Cluster: the store works the same on both. */
export type Redis = OneRedis | Cluster;

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
  /** Where refused writes are noted (default: the store's own); an instance's stores share one. */
  refusals?: WriteRefusals;
  /**
   * For how long after a refused write a read does not record a job lost
   * (0: always records). While Redis refuses writes no job can renew its
   * lease, so an expired lease then says nothing about the job's process: it
   * gets this long (one lease) to renew once writes are accepted again.
   */
  refusalGraceMs?: number;
  /** FILE_STORE_DIR: where uploads, output files and whole logs are kept as files (null: in Redis; see file-dir.ts). */
  fileDir?: string | null;
  /** With fileDir: how long an upload is kept past its last chunk while its job does not exist (default UPLOAD_SAFETY_TTL_S). */
  uploadTtlS?: number;
  /**
   * A job process's store: a command Redis answers LOADING (it has just
   * restarted and is still reading its data; nothing was run) is sent again
   * every LOADING_RETRY_MS until it is run. A job's connection skips
   * ioredis' ready check, whose INFO reply (5 KB) was a large part of a
   * job's bytes (redis.ts, the "job" profile).
   */
  waitWhileLoading?: boolean;
}

/** How soon a command Redis answered LOADING is sent again (StoreOptions.waitWhileLoading). */
export const LOADING_RETRY_MS = 100;

/** Sends until Redis has run it: while it answers LOADING, again every LOADING_RETRY_MS. */
async function untilLoaded<T>(send: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("LOADING"))) throw err;
      await new Promise((resolve) => setTimeout(resolve, LOADING_RETRY_MS));
    }
  }
}

/**
 * When Redis last refused a write, as this process saw it (a call's reply).
 * The supervisor skips its sweep, and reads do not record a job lost, for a
 * lease after the last one (server/supervisor/index.ts).
 */
export class WriteRefusals {
  /** Date.now() of the last refused write (0: none yet). */
  lastAt = 0;
  /** Refused writes so far. */
  count = 0;
  /** The last refusal's error. */
  last: StoreWriteRefusedError | null = null;

  seen(err: StoreWriteRefusedError, now = Date.now()): void {
    this.lastAt = now;
    this.count++;
    this.last = err;
  }

  /** Whether a write was refused within the last `ms`. */
  within(ms: number, now = Date.now()): boolean {
    return this.lastAt > 0 && now - this.lastAt < ms;
  }
}

/** An end a call made on the way (see StoreCore.onEnded). */
export interface StoreEnd {
  id: string;
  seen: "read";
}

export class StoreCore {
  readonly keys: KeyLayout;
  /** The retention of a succeeded and of a failed or cancelled job (s), for the scripts' ARGV. */
  readonly ttl: [string, string];
  /** Where the next claim starts looking, so that partitions take turns. */
  nextClaim = 0;
  /** The last claim found nothing in any partition: the next asks them in turn, without reading their turns first (transitions.ts, claim). */
  claimsIdle = true;
  /** Date.now() of the last claim that looked at every non-empty queue, though no job of a free type waited (transitions.ts, claim). */
  lastFullClaim = 0;
  /** Calls that failed because Redis did not answer (for the metrics). */
  failures = 0;
  /**
   * Called with each end a call made on the way, beside its own result: a
   * read that found a job's lease expired and recorded it lost (with the
   * record it read): for the log and metrics, server/job-events.ts.
   */
  onEnded: ((end: StoreEnd) => void) | null = null;
  /** Called with a job that a read found with an expired lease and requeued for another attempt (a retry, not an end). */
  onRetried: ((job: JobRecord) => void) | null = null;
  readonly refusals: WriteRefusals;
  readonly refusalGraceMs: number;
  private readonly maxInFlight: number;
  private readonly deadlineMs: number;
  private readonly waitWhileLoading: boolean;
  private inFlight = 0;

  constructor(
    readonly redis: Redis,
    options: StoreOptions,
  ) {
    this.keys = new KeyLayout(options.prefix, options.partitions ?? 1);
    this.ttl = [String(options.ttlSucceededS), String(options.ttlFailedS)];
    this.maxInFlight = options.maxInFlight ?? 0;
    this.deadlineMs = options.deadlineMs ?? 0;
    this.waitWhileLoading = options.waitWhileLoading ?? false;
    this.refusals = options.refusals ?? new WriteRefusals();
    this.refusalGraceMs = options.refusalGraceMs ?? 0;
    // The scripts in jobs/core/lua, as commands of this connection, called by their SHA (scripts.ts).
    defineScripts(redis);
  }

  /** Sends one command; an unreachable Redis becomes a StoreUnavailableError. */
  async call<T>(send: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.maxInFlight > 0 && this.inFlight >= this.maxInFlight) throw new StoreBusyError(this.inFlight);
    this.inFlight++;
    // Counted until Redis answers or ioredis gives up, even past the deadline:
    // maxInFlight bounds what really waits.
    let sending: Promise<T>;
    try {
      sending = this.waitWhileLoading ? untilLoaded(() => send(this.redis)) : send(this.redis);
    } catch (err) {
      // It threw before it sent anything (a key built from a bad id): nothing waits.
      this.inFlight--;
      throw err;
    }
    const sent = sending.finally(() => this.inFlight--);
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
      // Redis answers but refuses to write (out of memory...): an outage too,
      // noted for the sweep and reads (WriteRefusals).
      if ((err as Error)?.name === "ReplyError" && isWriteRefusedReply(err)) {
        const refused = new StoreWriteRefusedError(err);
        this.refusals.seen(refused);
        throw refused;
      }
      // Any other ReplyError is Redis refusing a command: a bug, not an outage,
      // unless it says the data cannot be served for now (a failover in progress).
      if ((err as Error)?.name === "ReplyError" && !isUnavailableReply(err)) throw err;
      this.failures++;
      throw new StoreUnavailableError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether a read may record a job lost now: not within refusalGraceMs of a refused write. */
  get mayRecordLost(): boolean {
    return !this.refusals.within(this.refusalGraceMs);
  }

  /**
   * The partitions (their indexes) where any of the keys keysOf names
   * exists: what an idle instance asks before it sweeps or claims, instead
   * of running a script in every partition. On one Redis a single EXISTS
   * of every partition's keys answers when none exists (the idle case);
   * otherwise, and on a Cluster (one slot per partition), one EXISTS per
   * partition.
   */
  async partitionsWith(keysOf: (partition: Partition) => string[]): Promise<number[]> {
    const { partitions } = this.keys;
    if (partitions.length === 1 || !this.redis.isCluster) {
      const n = await this.call((r) => r.exists(...partitions.flatMap(keysOf)));
      if (n === 0) return [];
      if (partitions.length === 1) return [0];
    }
    const counts = await this.call((r) => Promise.all(partitions.map((p) => r.exists(...keysOf(p)))));
    return counts.flatMap((n, i) => (n > 0 ? [i] : []));
  }

  /** The ids one call gives for each partition, all together. */
  async eachPartition(read: (partition: Partition) => Promise<string[]>): Promise<string[]> {
    const { partitions } = this.keys;
    if (partitions.length === 1) return read(partitions[0]!);
    return (await Promise.all(partitions.map(read))).flat();
  }
}

/** Redis' clock (ms), from a TIME reply. */
export function timeMs(time: readonly (number | string)[]): number {
  return Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
}

/** Members and scores of a reply WITHSCORES: flat (RESP2) or in pairs (RESP3). */
export function scored(reply: unknown): [member: string, score: number][] {
  const items = reply as unknown[];
  if (items.length > 0 && Array.isArray(items[0])) return (items as [string, unknown][]).map(([m, sc]) => [String(m), Number(sc)]);
  const out: [string, number][] = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push([String(items[i]), Number(items[i + 1])]);
  return out;
}

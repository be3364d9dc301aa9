// The in-memory job cache, kept correct by Redis: what a job page and its
// status poll show, read once per change of the job instead of once per poll.
//
// Redis' server-assisted client-side caching (CLIENT TRACKING) tells this
// server when a key it has read changes, whoever changes it. Two connections
// of the cache's own:
// - the reader (RESP3, the web profile) reads jobs with the store's read
//   script, with `CLIENT TRACKING ON REDIRECT <subscriber>`: Redis remembers
//   every key the script reads (a script's KEYS; verified on Redis 7.0 by
//   test/job-cache.test.ts) and sends one invalidation when it next changes;
// - the subscriber (RESP2: ioredis drops RESP3 "invalidate" pushes) listens
//   on `__redis__:invalidate`. A key of a job (record, results, log, files)
//   drops that job's entry; a null message (FLUSHALL) drops them all.
//
// What keeps it correct:
// - A read that was in flight when an invalidation of its job (or a flush)
//   arrived is answered but not kept: it may predate the change.
// - Either connection closing, reconnecting or ending flushes the cache and
//   turns it off until both are ready again and tracking is on again (on the
//   same Redis server: a Sentinel failover may leave them on different ones
//   for a moment). Until then every read goes to Redis.
// - A lost invalidation cannot go unnoticed for long: the subscriber sends a
//   PING every CONFIRM_MS / 4, and its PONG comes after every invalidation
//   Redis sent before it. An entry is served only while the stream is
//   confirmed up to CONFIRM_MS ago: a frozen Redis or a silent network
//   partition turns the cache into reads within that bound.
// - A running job's entry lasts until its lease runs out at most: past that,
//   the read records it lost (as every read has), whether or not an instance
//   sweeps leases.
// - A waiting job is never kept: its place in line moves with the queue,
//   which is no job's own key.
// Bounded by entries and by (estimated) bytes, least recently used first out.
// Redis Cluster: off (reads go to Redis), see README "The status cache".
import type { Redis } from "ioredis";
import { connectRedis, waitUntilReady } from "../jobs/core/redis.ts";
import type { RedisTarget } from "../jobs/core/settings.ts";
import type { JobStore } from "../jobs/core/store.ts";
import { LOG_LINES_SHOWN, RESULTS_ALL_MAX, RESULTS_SHOWN } from "./job-view.ts";
import type { AnswerMemo, PageRead, PageReader, StatusAnswer } from "./status.ts";

/** The channel Redis sends invalidations on to a redirected tracking client. */
export const INVALIDATE_CHANNEL = "__redis__:invalidate";
/**
 * How long an entry may be served after the invalidation stream was last
 * confirmed complete (a PONG): the freshness bound when invalidations stop
 * coming without the connection closing.
 */
export const CONFIRM_MS = 1000;
/** No PONG for this long: the subscriber reconnects (a half-open connection). */
const PING_GIVE_UP_MS = 5 * CONFIRM_MS;
/** After a failed start of tracking (both connections not on the same server), try again this much later. */
const RETRY_MS = 1000;
/** Bytes counted for an entry besides its strings (objects, maps, the record's numbers). */
const ENTRY_OVERHEAD_BYTES = 1024;
/** Answers kept per entry (shown phase × htmx × log box × the time's words); beyond it they start over. */
const ANSWERS_PER_ENTRY = 8;

export interface JobCacheOptions {
  /** The store on the reader connection (tracking is turned on on store.redis). */
  store: JobStore;
  /** A RESP2 connection of its own for the invalidations (connectRedis(url, "invalidations")). */
  subscriber: Redis;
  maxEntries: number;
  maxBytes: number;
  /** Overrides CONFIRM_MS (tests). */
  confirmMs?: number;
  log?: (message: string) => void;
}

export interface JobCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Entries dropped because Redis said a key of theirs changed. */
  invalidations: number;
  /** Reads not kept: an invalidation or a flush came while they were in flight. */
  discarded: number;
  /** Whole-cache flushes: a lost connection, a null invalidation, close. */
  flushes: number;
  evictions: number;
  /** Times tracking was turned on (first start and every reconnect). */
  enabled: number;
}

interface Load {
  epoch: number;
  /** performance.now() when the read was sent. */
  sentAt: number;
  dropped: boolean;
  promise: Promise<PageRead | null>;
}

/** An answer's text, and its bytes as the request listener writes them. */
const answerBytes = (answer: StatusAnswer): number => 2 * answer.body.length;

/** A job's read, kept: the PageRead the pages show, and the answers rendered from it. */
class Entry implements PageRead, AnswerMemo {
  readonly job: PageRead["job"];
  readonly files: PageRead["files"];
  /** Served until then (performance.now()): when its lease runs out, for a job that holds one. */
  readonly deadline: number;
  /** When the read was sent (performance.now()): it shows every change made before. */
  readonly sentAt: number;
  bytes: number;
  /** Set while the entry is in the cache: its answers count towards the cache's bytes. */
  owner: JobCache | null = null;
  private answers = new Map<string, StatusAnswer>();

  constructor(read: PageRead, sentAt: number) {
    this.job = read.job;
    this.files = read.files;
    this.sentAt = sentAt;
    const { leaseExpiresAt, readAt } = read.job;
    // The lease's remaining time at Redis, counted from when the read was sent: never later than Redis' expiry.
    this.deadline = leaseExpiresAt === null ? Infinity : sentAt + (leaseExpiresAt - readAt);
    this.bytes = ENTRY_OVERHEAD_BYTES + JSON.stringify(read).length;
  }

  answer(key: string, make: () => StatusAnswer): StatusAnswer {
    const known = this.answers.get(key);
    if (known) return known;
    const made = make();
    let delta = answerBytes(made);
    if (this.answers.size >= ANSWERS_PER_ENTRY) {
      for (const old of this.answers.values()) delta -= answerBytes(old);
      this.answers.clear();
    }
    this.answers.set(key, made);
    this.bytes += delta;
    this.owner?.resized(delta);
    return made;
  }

  /** Redis' clock now, as far as this server can tell (for "3 minutes ago"). */
  now(): number {
    return this.job.readAt + (performance.now() - this.sentAt);
  }
}

export interface JobPages {
  /** What the pages and the poll read through. */
  pages: PageReader;
  /** The cache, when it is on. */
  cache: JobCache | null;
  /** The cache's own store (its reads may record a lost job: telemetry counts them), when it is on. */
  stores: JobStore[];
  /** Stops the cache and closes its connections. */
  close(): void;
}

/**
 * The pages' reader for a server: the job cache on two connections of its
 * own (the reader with the web store's options), or the web store itself
 * when the cache is off (a bound at 0) or Redis is a Cluster (see README,
 * "The status cache").
 */
export async function openJobPages(
  settings: { statusCacheMaxEntries: number; statusCacheMaxBytes: number },
  target: RedisTarget,
  store: JobStore,
  { log, readyDeadlineMs }: { log?: (message: string) => void; readyDeadlineMs: number },
): Promise<JobPages> {
  const off = settings.statusCacheMaxEntries === 0 || settings.statusCacheMaxBytes === 0;
  if (off || target.kind === "cluster" || store.redis.isCluster) return { pages: directReader(store), cache: null, stores: [], close() {} };
  const reader = connectRedis(target, "web");
  const subscriber = connectRedis(target, "invalidations");
  const close = () => {
    reader.disconnect();
    subscriber.disconnect();
  };
  try {
    await Promise.all([reader, subscriber].map((r) => waitUntilReady(r, target, readyDeadlineMs)));
  } catch (err) {
    close();
    throw err;
  }
  const cacheStore = store.on(reader);
  const cache = new JobCache({
    store: cacheStore,
    subscriber: subscriber as Redis,
    maxEntries: settings.statusCacheMaxEntries,
    maxBytes: settings.statusCacheMaxBytes,
    log,
  });
  return {
    pages: cache,
    cache,
    stores: [cacheStore],
    close() {
      cache.close();
      close();
    },
  };
}

/** Reads straight from the store: no cache (it is off, or the connection is a Redis Cluster). */
export function directReader(store: JobStore): PageReader {
  return {
    peek: () => undefined,
    read: (id, { all = false } = {}) =>
      store.readWithFiles(id, "auto", { resultLimit: all ? RESULTS_ALL_MAX : RESULTS_SHOWN, logLines: LOG_LINES_SHOWN }),
    forget: () => {},
  };
}

export class JobCache implements PageReader {
  private readonly store: JobStore;
  private readonly reader: Redis;
  private readonly subscriber: Redis;
  private readonly confirmMs: number;
  private readonly log: (message: string) => void;
  /** Least recently used first (a Map keeps insertion order; a hit moves its entry to the end). */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Load>();
  private bytes = 0;
  /** Bumped by every flush and every start of tracking: a read from an older epoch is never kept. */
  private epoch = 0;
  /** Tracking is on, redirected to the subscriber, and both connections are ready. */
  private on = false;
  /** Bumped by every lost connection: a start of tracking begun before it gives up. */
  private attempt = 0;
  /** performance.now() when the last answered PING was sent: every invalidation sent before has arrived. */
  private confirmedAt = -Infinity;
  private pingSentAt: number | null = null;
  /** The subscriber's client id once it has subscribed, on its current connection. */
  private subscriberId: string | null = null;
  private subscriberServer = "";
  private readonly pinger: NodeJS.Timeout;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly unlisten: (() => void)[] = [];
  private readonly stats: Omit<JobCacheStats, "entries" | "bytes"> = {
    hits: 0,
    misses: 0,
    invalidations: 0,
    discarded: 0,
    flushes: 0,
    evictions: 0,
    enabled: 0,
  };

  constructor(private readonly options: JobCacheOptions) {
    this.store = options.store;
    if (options.store.redis.isCluster) throw new Error("the status cache needs one Redis (or a Sentinel's master), not a Cluster");
    this.reader = options.store.redis as Redis;
    this.subscriber = options.subscriber;
    this.confirmMs = options.confirmMs ?? CONFIRM_MS;
    this.log = options.log ?? (() => {});
    const lost = () => this.lost();
    const ready = () => void this.enable();
    for (const redis of [this.reader, this.subscriber]) {
      for (const event of ["close", "reconnecting", "end"]) this.listen(redis, event, lost);
      this.listen(redis, "ready", ready);
    }
    // A new connection is a new client: it has to subscribe again (under a new id).
    this.listen(this.subscriber, "close", () => (this.subscriberId = null));
    this.listen(this.subscriber, "messageBuffer", (channel: Buffer, message: unknown) => {
      if (channel.toString() === INVALIDATE_CHANNEL) this.invalidated(message);
    });
    this.pinger = setInterval(() => this.ping(), Math.max(10, Math.floor(this.confirmMs / 4)));
    this.pinger.unref();
    void this.enable();
  }

  /** Whether entries are kept and served now (tracking on, both connections ready). */
  get active(): boolean {
    return this.on;
  }

  /** The kept read of a job, when it may be served now; else undefined (call read()). */
  peek(id: string): PageRead | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const now = performance.now();
    if (!this.on || now >= entry.deadline || Math.max(this.confirmedAt, entry.sentAt) < now - this.confirmMs) {
      this.remove(id, entry);
      return undefined;
    }
    // Least recently used goes first: a hit moves to the end.
    this.entries.delete(id);
    this.entries.set(id, entry);
    this.stats.hits++;
    return entry;
  }

  /** A job's page read: kept, when it may be served; else from Redis (and kept, when nothing changed meanwhile). */
  read(id: string, { all = false } = {}): Promise<PageRead | null> {
    if (all) return this.fetch(id, RESULTS_ALL_MAX);
    const kept = this.peek(id);
    if (kept) return Promise.resolve(kept);
    this.stats.misses++;
    const now = performance.now();
    const pending = this.loading.get(id);
    // A read in flight shows every change made before it was sent: join it while that is recent enough.
    if (pending && !pending.dropped && pending.sentAt >= now - this.confirmMs) return pending.promise;
    const load: Load = { epoch: this.on ? this.epoch : -1, sentAt: now, dropped: false, promise: Promise.resolve(null) };
    this.loading.set(id, load);
    load.promise = this.fetch(id, RESULTS_SHOWN).then(
      (found) => {
        if (this.loading.get(id) === load) this.loading.delete(id);
        if (!found) return null;
        const entry = new Entry(found, load.sentAt);
        if (load.dropped || load.epoch !== this.epoch || !this.on) {
          if (load.epoch >= 0) this.stats.discarded++;
        } else if (found.job.state !== "queued") {
          this.keep(id, entry);
        }
        return entry;
      },
      (err: unknown) => {
        if (this.loading.get(id) === load) this.loading.delete(id);
        throw err;
      },
    );
    return load.promise;
  }

  /** Drops a job's entry now: this server has just changed the job (a cancel), and its own next read must show it. */
  forget(id: string): void {
    this.drop(id);
  }

  /** Stops: no more entries, no more pings; the connections are the caller's to close. */
  close(): void {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.retry) clearTimeout(this.retry);
    for (const off of this.unlisten) off();
    this.lost();
  }

  /** For the bench and tests: what is kept. */
  snapshot(): JobCacheStats {
    return { ...this.stats, entries: this.entries.size, bytes: this.bytes };
  }

  /** An entry's answers grew or shrank. */
  resized(delta: number): void {
    this.bytes += delta;
    this.evict();
  }

  private fetch(id: string, resultLimit: number): Promise<PageRead | null> {
    return this.store.readWithFiles(id, "auto", { resultLimit, logLines: LOG_LINES_SHOWN });
  }

  private listen(redis: Redis, event: string, fn: (...args: never[]) => void): void {
    const listener = fn as (...args: unknown[]) => void;
    redis.on(event, listener);
    this.unlisten.push(() => redis.off(event, listener));
  }

  private keep(id: string, entry: Entry): void {
    const { maxEntries, maxBytes } = this.options;
    if (entry.bytes > maxBytes) return;
    const old = this.entries.get(id);
    if (old) this.remove(id, old);
    entry.owner = this;
    this.entries.set(id, entry);
    this.bytes += entry.bytes;
    if (this.entries.size > maxEntries) this.evictOne();
    this.evict();
  }

  private evict(): void {
    while (this.bytes > this.options.maxBytes && this.entries.size > 0) this.evictOne();
  }

  private evictOne(): void {
    const first = this.entries.entries().next();
    if (first.done) return;
    this.remove(first.value[0], first.value[1]);
    this.stats.evictions++;
  }

  private remove(id: string, entry: Entry): void {
    if (this.entries.get(id) !== entry) return;
    this.entries.delete(id);
    entry.owner = null;
    this.bytes -= entry.bytes;
  }

  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      this.remove(id, entry);
      this.stats.invalidations++;
    }
    const load = this.loading.get(id);
    if (load) {
      load.dropped = true;
      this.loading.delete(id);
    }
  }

  private flush(): void {
    this.epoch++;
    this.stats.flushes++;
    for (const [id, entry] of this.entries) this.remove(id, entry);
    for (const load of this.loading.values()) load.dropped = true;
    this.loading.clear();
    this.bytes = 0;
  }

  private invalidated(message: unknown): void {
    // null: Redis flushed its keys (FLUSHALL, FLUSHDB), or its tracking table is full.
    if (!Array.isArray(message)) return this.flush();
    for (const key of message as Buffer[]) {
      const id = this.store.jobIdOfKey(key.toString());
      if (id) this.drop(id);
    }
  }

  private lost(): void {
    this.attempt++;
    this.pingSentAt = null;
    this.confirmedAt = -Infinity;
    if (this.on) this.log("status cache: a Redis connection was lost; reads go to Redis until tracking is on again");
    this.on = false;
    this.flush();
  }

  /** Turns tracking on once both connections are ready, redirected to the subscriber. */
  private async enable(): Promise<void> {
    if (this.closed || this.on) return;
    const attempt = ++this.attempt;
    if (this.reader.status !== "ready" || this.subscriber.status !== "ready") return;
    const current = () => attempt === this.attempt && !this.closed;
    try {
      // Subscribed (RESP2), the subscriber can send nothing but (un)subscribe and PING: ask its id first.
      if (this.subscriberId === null) {
        const [id, server] = await Promise.all([this.subscriber.client("ID"), serverOf(this.subscriber)]);
        if (!current()) return;
        await this.subscriber.subscribe(INVALIDATE_CHANNEL);
        [this.subscriberId, this.subscriberServer] = [String(id), server];
      }
      const readerServer = await serverOf(this.reader);
      if (!current()) return;
      if (readerServer !== this.subscriberServer) {
        // A failover under way: the subscriber reconnects, and finds the current server.
        this.subscriber.disconnect(true);
        throw new Error("the reader and the subscriber reached different Redis servers");
      }
      await this.reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", this.subscriberId);
      if (!current()) return;
      this.epoch++;
      this.on = true;
      this.stats.enabled++;
      this.confirmedAt = performance.now();
    } catch (err) {
      if (!current()) return;
      this.log(`status cache: cannot turn client tracking on (${(err as Error).message}); reads go to Redis, trying again`);
      this.retry ??= setTimeout(() => {
        this.retry = null;
        void this.enable();
      }, RETRY_MS);
      this.retry.unref();
    }
  }

  private ping(): void {
    if (!this.on) return;
    const now = performance.now();
    // No PONG for long (each PING gives up after the command timeout): the
    // connection may be half-open. Reconnecting it flushes and starts over.
    if (now - this.confirmedAt > PING_GIVE_UP_MS) {
      this.subscriber.disconnect(true);
      return;
    }
    if (this.pingSentAt !== null) return;
    const sentAt = (this.pingSentAt = now);
    const attempt = this.attempt;
    this.subscriber.ping().then(
      () => {
        if (attempt !== this.attempt) return;
        this.pingSentAt = null;
        this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      },
      () => {
        if (attempt === this.attempt) this.pingSentAt = null;
      },
    );
  }
}

/** Which Redis server a connection reached (its run id). */
async function serverOf(redis: Redis): Promise<string> {
  const info = await redis.info("server");
  return /run_id:(\w+)/.exec(info)?.[1] ?? "";
}

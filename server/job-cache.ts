// The in-memory job cache, kept correct by Redis (CLIENT TRACKING): what a
// job page and its status poll show, read once per change of the job instead
// of once per poll. How it stays correct (an in-flight read not kept, a flush
// on any reconnect, the PING that confirms the stream every CONFIRM_MS), its
// bounds, and when it is off (Redis Cluster, a bound at 0):
// docs/architecture.md, "The status cache".
// The entries and their bounds: job-cache-entries.ts; the two connections,
// the invalidations and the PINGs: job-cache-tracking.ts. Here, the reader
// the pages read through, which ties them together.
import type { Redis } from "ioredis";
import { connectRedis, waitUntilReady } from "../jobs/core/redis.ts";
import type { RedisTarget } from "../jobs/core/settings.ts";
import type { JobStore } from "../jobs/core/store.ts";
import { LOG_LINES_SHOWN, RESULTS_ALL_BYTES, RESULTS_ALL_MAX, RESULTS_SHOWN, RESULTS_SHOWN_BYTES } from "./job-view.ts";
import type { PageRead, PageReader } from "./status.ts";
import { Entries, Entry } from "./job-cache-entries.ts";
import { CONFIRM_MS, InvalidationStream } from "./job-cache-tracking.ts";

export { CONFIRM_MS, INVALIDATE_CHANNEL } from "./job-cache-tracking.ts";

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
 * when the cache is off (a bound at 0) or Redis is a Cluster (see docs/architecture.md,
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

/** What a job page reads: the first results, bounded in count and bytes (more with ?all=1), and the log's last lines. */
const pageReadOptions = (all: boolean) => ({
  resultLimit: all ? RESULTS_ALL_MAX : RESULTS_SHOWN,
  resultBytes: all ? RESULTS_ALL_BYTES : RESULTS_SHOWN_BYTES,
  logLines: LOG_LINES_SHOWN,
});

/** Reads straight from the store: no cache (it is off, or the connection is a Redis Cluster). */
export function directReader(store: JobStore): PageReader {
  return {
    peek: () => undefined,
    read: (id, { all = false } = {}) => store.readWithFiles(id, "auto", pageReadOptions(all)),
    forget: () => {},
  };
}

export class JobCache implements PageReader {
  private readonly store: JobStore;
  private readonly confirmMs: number;
  private readonly entries: Entries;
  private readonly loading = new Map<string, Load>();
  private readonly stream: InvalidationStream;
  /** Bumped by every flush and every start of tracking: a read from an older epoch is never kept. */
  private epoch = 0;
  private readonly stats: Omit<JobCacheStats, "entries" | "bytes" | "evictions"> = {
    hits: 0,
    misses: 0,
    invalidations: 0,
    discarded: 0,
    flushes: 0,
    enabled: 0,
  };

  constructor(options: JobCacheOptions) {
    this.store = options.store;
    if (options.store.redis.isCluster) throw new Error("the status cache needs one Redis (or a Sentinel's master), not a Cluster");
    this.confirmMs = options.confirmMs ?? CONFIRM_MS;
    this.entries = new Entries(options);
    this.stream = new InvalidationStream(options.store.redis as Redis, options.subscriber, this.confirmMs, options.log ?? (() => {}), {
      enabled: () => {
        this.epoch++;
        this.stats.enabled++;
      },
      lost: () => this.flush(),
      invalidated: (keys) => {
        if (keys === null) return this.flush();
        for (const key of keys) {
          const id = this.store.jobIdOfKey(key);
          if (id) this.drop(id);
        }
      },
    });
  }

  /** Whether entries are kept and served now (tracking on, both connections ready). */
  get active(): boolean {
    return this.stream.active;
  }

  /** The kept read of a job, when it may be served now; else undefined (call read()). */
  peek(id: string): PageRead | undefined {
    this.stream.wanted();
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const now = performance.now();
    if (!this.stream.active || now >= entry.deadline || !this.stream.confirmed(entry.sentAt, now)) {
      this.entries.remove(id, entry);
      return undefined;
    }
    // Least recently used goes first: a hit moves to the end.
    this.entries.touch(id, entry);
    this.stats.hits++;
    return entry;
  }

  /** A job's page read: kept, when it may be served; else from Redis (and kept, when nothing changed meanwhile). */
  read(id: string, { all = false } = {}): Promise<PageRead | null> {
    if (all) return this.fetch(id, true);
    const kept = this.peek(id);
    if (kept) return Promise.resolve(kept);
    this.stats.misses++;
    const now = performance.now();
    const pending = this.loading.get(id);
    // A read in flight shows every change made before it was sent: join it while that is recent enough.
    if (pending && !pending.dropped && pending.sentAt >= now - this.confirmMs) return pending.promise;
    const load: Load = { epoch: this.stream.active ? this.epoch : -1, sentAt: now, dropped: false, promise: Promise.resolve(null) };
    this.loading.set(id, load);
    load.promise = this.fetch(id, false).then(
      (found) => {
        if (this.loading.get(id) === load) this.loading.delete(id);
        if (!found) return null;
        const entry = new Entry(found, load.sentAt);
        if (load.dropped || load.epoch !== this.epoch || !this.stream.active) {
          if (load.epoch >= 0) this.stats.discarded++;
        } else if (found.job.state !== "queued") {
          this.entries.keep(id, entry);
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
    this.stream.close();
  }

  /** For the bench and tests: what is kept. */
  snapshot(): JobCacheStats {
    return { ...this.stats, evictions: this.entries.evictions, entries: this.entries.size, bytes: this.entries.bytes };
  }

  private fetch(id: string, all: boolean): Promise<PageRead | null> {
    return this.store.readWithFiles(id, "auto", pageReadOptions(all));
  }

  /** A job changed: its entry goes, and a read of it in flight is not kept. */
  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.remove(id, entry);
      this.stats.invalidations++;
    }
    const load = this.loading.get(id);
    if (load) {
      load.dropped = true;
      this.loading.delete(id);
    }
  }

  /** Anything may have changed: every entry goes, and no read in flight is kept. */
  private flush(): void {
    this.epoch++;
    this.stats.flushes++;
    this.entries.clear();
    for (const load of this.loading.values()) load.dropped = true;
    this.loading.clear();
  }
}

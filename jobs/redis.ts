// Redis connections for the two kinds of process, which want opposite things.
//   web: fail fast. A request must get a 503 within a second or two when Redis
//        is down, never wait in ioredis' offline queue (it retries forever).
//   supervisor: the server's own housekeeping (claims, sweeps, recording
//        exits), on a connection of its own so that page traffic never queues
//        in front of it; gives up as fast as the web one, and tries again at
//        the next sweep.
//   invalidations: the status cache's subscriber (server/job-cache.ts): RESP2,
//        because Redis then sends a redirected client's invalidations as
//        messages on __redis__:invalidate (RESP3 would send "invalidate" pushes,
//        which ioredis drops); the cache subscribes again itself after a
//        reconnect, under the new connection's client id.
//   job: ride out a short Redis restart: queue commands and keep reconnecting.
import { Redis, type RedisOptions } from "ioredis";

export type RedisProfile = "web" | "supervisor" | "invalidations" | "job";

/** How long the web and the supervisor wait for one answer from Redis. */
export const WEB_COMMAND_TIMEOUT_MS = 1500;

const PROFILES: Record<RedisProfile, RedisOptions> = {
  web: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: WEB_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    // Many concurrent status polls share one socket write, which saves Redis
    // CPU per poll (the figure: bench/README.md).
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  },
  supervisor: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: WEB_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  },
  invalidations: {
    protocol: 2,
    autoResubscribe: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: WEB_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  },
  job: {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * times, 500),
  },
};

/** Connection options from a redis://, rediss:// or unix:///path/to.sock URL. */
function urlOptions(url: string): RedisOptions | string {
  const parsed = new URL(url);
  if (parsed.protocol !== "unix:") return url;
  const db = parsed.searchParams.get("db");
  return { path: decodeURIComponent(parsed.pathname), ...(db ? { db: Number(db) } : {}) };
}

export function connectRedis(url: string, profile: RedisProfile, extra: RedisOptions = {}): Redis {
  const target = urlOptions(url);
  const options: RedisOptions = { ...PROFILES[profile], lazyConnect: true, ...extra };
  const redis = typeof target === "string" ? new Redis(target, options) : new Redis({ ...target, ...options });
  // Connection errors are reported through requests (503) and readiness; without
  // a listener ioredis would print each reconnect attempt as an unhandled error.
  redis.on("error", () => {});
  return redis;
}

/** Connects, or rejects once the deadline has passed with a message that names the URL. */
export async function waitUntilReady(redis: Redis, url: string, deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let lastError = "no answer";
  const onError = (err: Error) => (lastError = err.message);
  redis.on("error", onError);
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        redis.once("ready", () => resolve());
        if (redis.status === "wait") redis.connect().catch(() => {});
        else if (redis.status === "ready") resolve();
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Cannot reach Redis at REDIS_URL=${redact(url)} within ${deadlineMs} ms (${lastError})`)),
          deadlineMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    redis.off("error", onError);
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}

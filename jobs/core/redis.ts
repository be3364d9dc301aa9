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
// Each profile has three forms, one per place Redis can be (jobs/core/settings.ts,
// RedisTarget): one server from a URL; a master found through Sentinel (the
// same options: ioredis asks the sentinels for the master at each connect);
// a Redis Cluster, where the same behaviour takes Cluster options (the offline
// queue, reconnecting and the retries after a failover are the Cluster's own,
// while the timeouts belong to each node's connection).
import fs from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { formatAddresses, type RedisAuth, type RedisTarget } from "./settings.ts";
import { TlsConnector } from "./tls-connector.ts";

/** A connection to one Redis (or a Sentinel's master), or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export type RedisProfile = "web" | "supervisor" | "invalidations" | "job";

/** How long the web and the supervisor wait for one answer from Redis. */
export const WEB_COMMAND_TIMEOUT_MS = 1500;
const WEB_BACKSTOP_TIMEOUT_MS = 2 * WEB_COMMAND_TIMEOUT_MS;

/**
 * A job process opens a connection for one short job: what it sends before
 * its first command is paid by every job. RESP2 needs no HELLO (whose reply
 * lists the server); without ioredis' ready check there is no INFO (a 5 KB
 * reply) either. A Redis still loading its data answers LOADING instead,
 * and the job's store sends the command again (store/core.ts,
 * waitWhileLoading); a Sentinel's demoted master answers READONLY, and the
 * connection asks the sentinels again (connectRedis).
 */
const JOB_HANDSHAKE = { protocol: 2, enableReadyCheck: false } as const satisfies RedisOptions;

const PROFILES: Record<RedisProfile, RedisOptions> = {
  web: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A backstop: the web store's own deadline (WEB_COMMAND_TIMEOUT_MS, JobStore's deadlineMs) is
    // what answers 503, and it reads the socket before giving up, which ioredis' timer does not.
    commandTimeout: WEB_BACKSTOP_TIMEOUT_MS,
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
    ...JOB_HANDSHAKE,
  },
};

/**
 * Retries of one command while its shard has no reachable master (a failover
 * in progress): every CLUSTER_RETRY_MS. Web and supervisor calls give up at
 * their deadline anyway; a job's commands wait through a failover of up to
 * JOB_CLUSTER_RETRIES x CLUSTER_RETRY_MS.
 */
const CLUSTER_RETRY_MS = 200;
const JOB_CLUSTER_RETRIES = 600;

/** How long a Cluster client waits for the slot map (CLUSTER SLOTS) before it asks another node. */
const SLOTS_REFRESH_TIMEOUT_MS = 5000;
/** No "invalidations": the status cache is off on a Cluster (server/job-cache.ts). */
/** The web's and the supervisor's: fail fast, as on one Redis. */
const CLUSTER_FAIL_FAST: ClusterOptions = {
  enableOfflineQueue: false,
  clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
  retryDelayOnFailover: CLUSTER_RETRY_MS,
  retryDelayOnClusterDown: CLUSTER_RETRY_MS,
  retryDelayOnTryAgain: CLUSTER_RETRY_MS,
  maxRedirections: 16,
  // Reading the slot map is not a person's answer: ioredis' 1 s default, missed by a
  // busy host, keeps a client from ever being ready (each refresh times out in turn).
  slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
  redisOptions: { maxRetriesPerRequest: 1, commandTimeout: WEB_COMMAND_TIMEOUT_MS, connectTimeout: 2000 },
};
const CLUSTER_PROFILES: Record<Exclude<RedisProfile, "invalidations">, ClusterOptions> = {
  web: {
    ...CLUSTER_FAIL_FAST,
    enableAutoPipelining: true,
    redisOptions: { ...CLUSTER_FAIL_FAST.redisOptions, commandTimeout: WEB_BACKSTOP_TIMEOUT_MS },
  },
  supervisor: CLUSTER_FAIL_FAST,
  job: {
    enableOfflineQueue: true,
    clusterRetryStrategy: (times) => Math.min(50 * times, 500),
    retryDelayOnFailover: CLUSTER_RETRY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_MS,
    maxRedirections: JOB_CLUSTER_RETRIES,
    slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
    redisOptions: { maxRetriesPerRequest: null, connectTimeout: 2000, ...JOB_HANDSHAKE },
  },
};

/**
 * Replies with which Redis refuses a command only for now: a Cluster shard
 * without a master (CLUSTERDOWN), a slot on the move (MOVED, ASK, TRYAGAIN;
 * ioredis follows these itself, except inside a pipeline that also holds
 * other replies, as auto-pipelining makes), a server still loading its data,
 * a replica cut off from its master or a master demoted to replica. They mean
 * Redis is unavailable (a 503), not that the command is wrong.
 */
const UNAVAILABLE_REPLY = /^(CLUSTERDOWN|MOVED|ASK|TRYAGAIN|LOADING|MASTERDOWN|READONLY|NOREPLICAS)\b/;

/**
 * Replies with which Redis refuses a write while it answers reads: out of
 * memory (OOM; inside a script, Redis 6 puts it after the script's own words),
 * a save that failed (MISCONF), a replica (READONLY), too few replicas
 * (NOREPLICAS). Nothing was written; the same write may succeed later.
 */
const WRITE_REFUSED_REPLY = /(^|[\s-])(OOM command not allowed|MISCONF|READONLY|NOREPLICAS)\b/;

export function isWriteRefusedReply(err: unknown): boolean {
  return err instanceof Error && WRITE_REFUSED_REPLY.test(err.message);
}

export function isUnavailableReply(err: unknown): boolean {
  return err instanceof Error && UNAVAILABLE_REPLY.test(err.message);
}

/** Connection options from a redis://, rediss:// or unix:///path/to.sock URL. */
function urlOptions(url: string): RedisOptions | string {
  const parsed = new URL(url);
  if (parsed.protocol !== "unix:") return url;
  const db = parsed.searchParams.get("db");
  return { path: decodeURIComponent(parsed.pathname), ...(db ? { db: Number(db) } : {}) };
}

/** The TLS options of REDIS_TLS and its files, read now (a renewed certificate is read at the next start). */
function tlsOptions(tls: NonNullable<RedisAuth["tls"]>): ConnectionOptions {
  return {
    ...(tls.ca ? { ca: [fs.readFileSync(tls.ca)] } : {}),
    ...(tls.cert ? { cert: fs.readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: fs.readFileSync(tls.key) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** The credentials and TLS every connection of a target uses; what is unset comes from the URL (or is none). */
function authOptions(auth: RedisAuth | undefined): Pick<RedisOptions, "username" | "password" | "tls" | "Connector"> {
  if (!auth) return {};
  return {
    ...(auth.username !== null ? { username: auth.username } : {}),
    ...(auth.password !== null ? { password: auth.password } : {}),
    // TlsConnector: a second error of a TLS socket must not end the process (see tls-connector.ts).
    ...(auth.tls ? { tls: tlsOptions(auth.tls), Connector: TlsConnector } : {}),
  };
}

/** A connection to one Redis from its URL. */
export function connectRedis(url: string, profile: RedisProfile, extra?: RedisOptions): Redis;
/** A connection to wherever the settings say Redis is: a Cluster client for a Redis Cluster. */
export function connectRedis(target: string | RedisTarget, profile: RedisProfile, extra?: RedisOptions): RedisClient;
export function connectRedis(target: string | RedisTarget, profile: RedisProfile, extra: RedisOptions = {}): RedisClient {
  const where: RedisTarget = typeof target === "string" ? { kind: "url", url: target } : target;
  const auth = authOptions(where.auth);
  const options: RedisOptions = { ...PROFILES[profile], lazyConnect: true, ...auth, ...extra };
  let redis: RedisClient;
  if (where.kind === "cluster") {
    if (profile === "invalidations") throw new Error("the status cache's invalidations need one Redis, not a Cluster");
    const profileOptions = CLUSTER_PROFILES[profile];
    redis = new Cluster(where.nodes, {
      ...profileOptions,
      scaleReads: "master",
      lazyConnect: true,
      redisOptions: { ...profileOptions.redisOptions, ...auth, ...clusterNodeOptions(extra) },
    });
  } else if (where.kind === "sentinel") {
    redis = new Redis({
      sentinels: where.sentinels,
      name: where.name,
      ...(where.sentinelPassword !== null ? { sentinelPassword: where.sentinelPassword } : {}),
      // With TLS on, the sentinels and the master they name are both reached over TLS.
      ...(auth.tls ? { enableTLSForSentinelMode: true, sentinelTLS: auth.tls } : {}),
      // A master demoted to replica (it came back after a failover) refuses
      // writes: reconnect, which asks the sentinels again, and resend.
      reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
      ...options,
      // The sentinels' own connector finds the master.
      Connector: undefined,
    });
  } else {
    const url = urlOptions(where.url);
    // A unix socket has no TLS.
    redis = typeof url === "string" ? new Redis(url, options) : new Redis({ ...url, ...options, tls: undefined, Connector: undefined });
  }
  // Connection errors are reported through requests (503) and readiness; without
  // a listener ioredis would print each reconnect attempt as an unhandled error.
  redis.on("error", () => {});
  return redis;
}

/** The options a Cluster passes on to each node's connection (it keeps its own offline queue and reconnecting). */
function clusterNodeOptions(extra: RedisOptions): NonNullable<ClusterOptions["redisOptions"]> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { retryStrategy, enableOfflineQueue, port, host, path, sentinels, readOnly, lazyConnect, ...rest } = extra;
  return rest;
}

/** Where Redis is, as the settings name it, for messages (no password). */
export function describeTarget(target: string | RedisTarget): string {
  const where: RedisTarget = typeof target === "string" ? { kind: "url", url: target } : target;
  if (where.kind === "cluster") return `the Redis Cluster at REDIS_CLUSTER_NODES=${formatAddresses(where.nodes)}`;
  if (where.kind === "sentinel")
    return `the master ${where.name} through the sentinels at REDIS_SENTINELS=${formatAddresses(where.sentinels)}`;
  return `Redis at REDIS_URL=${redact(where.url)}`;
}

/** Redis answered, but refuses these settings: trying again cannot help (a wrong password, an untrusted certificate). */
export class RedisRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisRefusedError";
  }
}

const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/;

/** What to change when an error says the settings are wrong, not that Redis is away; null for any other error. */
export function refusedSettings(err: Error & { code?: string }): string | null {
  const what = err.message.split("\n")[0];
  if (/^WRONGPASS/.test(err.message))
    return `Redis refused the user name or password (${what}): check REDIS_USERNAME and REDIS_PASSWORD (or the password in REDIS_URL)`;
  if (/^NOAUTH/.test(err.message)) return `Redis asks for a password (${what}): set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user)`;
  if (/^NOPERM/.test(err.message))
    return `Redis's ACL does not let this user run what sidejob needs (${what}): see the ACL in docs/operations.md`;
  if (typeof err.code === "string" && TLS_TRUST.test(err.code))
    return `Redis's TLS certificate is not trusted (${err.code}: ${what}): set REDIS_TLS_CA to the CA that signed it, and REDIS_TLS_SERVERNAME if it names another host`;
  return null;
}

/**
 * Connects, or rejects once the deadline has passed with a message that
 * names where it tried; at once with a RedisRefusedError when Redis refuses
 * the settings themselves (credentials, TLS trust).
 */
export async function waitUntilReady(redis: RedisClient, target: string | RedisTarget, deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let lastError = "no answer";
  let refuse: ((err: Error) => void) | undefined;
  const onError = (err: Error & { lastNodeError?: Error }) => {
    lastError = err.message;
    // A Cluster client wraps its nodes' errors.
    const refused = refusedSettings(err.lastNodeError ?? err);
    if (refused) refuse?.(new RedisRefusedError(`${describeTarget(target)}: ${refused}`));
  };
  redis.on("error", onError);
  try {
    await Promise.race([
      new Promise<never>((_, reject) => (refuse = reject)),
      new Promise<void>((resolve) => {
        redis.once("ready", () => resolve());
        if (redis.status === "wait") redis.connect().catch(() => {});
        else if (redis.status === "ready") resolve();
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Cannot reach ${describeTarget(target)} within ${deadlineMs} ms (${lastError})`)),
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

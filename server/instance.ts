// One server instance, built in one place: its Redis connections, stores,
// status cache, telemetry, supervisor, renderer, app, request listener and
// HTTP server. main.ts builds the process's instance here; the tests and the
// bench build theirs here too, changing only what `overrides` names.
//
// Connections: pages on one, the supervisor (claims, sweeps, exits) on its
// own, so a flood of page reads never delays the jobs' housekeeping; the
// status cache opens two more (job-cache.ts).
import type Koa from "koa";
import type { Config } from "./config.ts";
import { connectRedis, waitUntilReady, WEB_COMMAND_TIMEOUT_MS, type RedisClient } from "../jobs/core/redis.ts";
import { leaseMsOf, redisTarget } from "../jobs/core/settings.ts";
import { JobStore, WriteRefusals } from "../jobs/core/store.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { createRenderer } from "./render.ts";
import { newInstanceId, Supervisor } from "./supervisor/index.ts";
import { createLogger, warnLine, type Logger } from "./log.ts";
import { createTelemetry, type Telemetry } from "./telemetry.ts";
import { createApp } from "./app.ts";
import { Identity } from "./identity.ts";
import { RedisMemory } from "./redis-memory.ts";
import { createRequestListener } from "./listener.ts";
import { createHttpServer, HTTP_LIMITS, type HttpServer } from "./http-server.ts";
import { jobScript } from "./paths.ts";
import { openJobPages, type JobCache, type JobPages } from "./job-cache.ts";
import type { PageReader } from "./status.ts";
import { checkEvictionPolicy } from "./redis-eviction.ts";
import { Notifier } from "./notify/notifier.ts";

/** What a caller may change in an instance; everything else is built from the settings. */
export interface InstanceOverrides {
  /** The root logger (default: one from LOG_LEVEL and LOG_FORMAT, to stdout); the instance's lines add `instance` to it. */
  logger?: Logger;
  /** Its id (default: a new one); main.ts makes it first, so that its lines before the instance exists carry it too. */
  instanceId?: string;
  /** The script that runs a job of a type (default: its build, server/paths.ts jobScript). */
  scriptFor?: (type: JobType) => string;
  /**
   * The job types it knows (default: config.types, the built-in ones and JOB_TYPES_DIR's). Of those, it
   * offers and runs the ones JOB_TYPES names (all of them when unset).
   */
  types?: readonly JobType[];
  /** false: an instance that takes no jobs (its supervisor is closed from the start), so what is submitted stays queued. */
  takesJobs?: boolean;
  /** How long each connection may take to be ready at start (default REDIS_STARTUP_WAIT_MS). */
  readyDeadlineMs?: number;
  /** Keep compiled templates (default: in production only). */
  renderCache?: boolean;
  /** A middleware put before all others (the tests' check of every answer against the API document). */
  outermost?: Koa.Middleware;
}

/** Why an instance could not be built: which step failed, with the error's own message. */
export class InstanceError extends Error {
  constructor(
    /** "redis": the web or supervisor connection; "cache": the status cache's connections; "eviction": Redis's maxmemory-policy. */
    readonly step: "redis" | "cache" | "eviction",
    cause: Error,
  ) {
    super(cause.message, { cause });
    this.name = "InstanceError";
  }
}

export interface Instance {
  config: Config;
  /** The Koa app behind the request listener. */
  app: Koa;
  /** The HTTP server, with its counts of client errors and refused requests. */
  server: HttpServer;
  /** The pages' store (the web connection). */
  store: JobStore;
  supervisor: Supervisor;
  /** What job pages and the status poll read through: the cache, or the store directly. */
  pages: PageReader;
  /** The status cache (null when it is off, or Redis is a Cluster). */
  cache: JobCache | null;
  /** Its logger (every line carries `instance`), poll count, metrics and job events. */
  telemetry: Telemetry;
  /**
   * Serves on port and host (default: the settings' PORT and HOST), then
   * starts taking jobs (unless takesJobs is false). Resolves with the URL
   * (the port the system chose for port 0); rejects with the listen error.
   */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops taking jobs, stops listening and lets requests in flight finish,
   * then closes the connections. Job processes run on. abortRequests: end
   * the requests in flight at once instead.
   */
  close(options?: { abortRequests?: boolean }): Promise<void>;
}

/** Builds an instance from its settings; rejects with an InstanceError when Redis cannot be reached in time. */
export async function createInstance(config: Config, overrides: InstanceOverrides = {}): Promise<Instance> {
  const rootLogger = overrides.logger ?? createLogger(config);
  const instanceId = overrides.instanceId ?? newInstanceId();
  const known = overrides.types ?? config.types;
  // What this deployment offers: its forms, home page, short addresses and
  // API document, and the jobs this instance runs. A queued job of a known
  // type it leaves out waits for an instance that offers it (the supervisor's
  // knownTypes); claim ends only a job of a type no instance knows.
  const offered = config.offeredTypes;
  const types = offered ? known.filter((t) => offered.includes(t.name)) : known;
  const readyDeadlineMs = overrides.readyDeadlineMs ?? config.redisStartupWaitMs;
  const target = redisTarget(config);
  const redis = connectRedis(target, "web");
  const supervisorRedis = connectRedis(target, "supervisor");
  const connections: RedisClient[] = [redis, supervisorRedis];
  const disconnect = () => connections.forEach((r) => r.disconnect());
  try {
    await Promise.all(connections.map((r) => waitUntilReady(r, target, readyDeadlineMs)));
  } catch (err) {
    disconnect();
    throw new InstanceError("redis", err as Error);
  }
  try {
    await checkEvictionPolicy(redis, config.redisEvictionCheck, warnLine(rootLogger.child({ instance: instanceId })));
  } catch (err) {
    disconnect();
    throw new InstanceError("eviction", err as Error);
  }

  const storeOptions = {
    prefix: config.redisPrefix,
    partitions: config.redisPartitions,
    ttlSucceededS: config.jobTtlSucceededS,
    ttlFailedS: config.jobTtlFailedS,
    fileDir: config.fileStoreDir,
    // An upload's key outlives its idle timeout (FILE_STORE_DIR: then the sweep removes its file).
    uploadTtlS: Math.ceil(config.uploadIdleTimeoutMs / 1000) + 60,
    // Every store of the instance notes refused writes in one place: the
    // supervisor's sweep and every read then wait a lease after the last one.
    refusals: new WriteRefusals(),
    refusalGraceMs: leaseMsOf(config.jobHeartbeatMs),
  };
  const store = new JobStore(redis, { ...storeOptions, maxInFlight: HTTP_LIMITS.REDIS_MAX_IN_FLIGHT, deadlineMs: WEB_COMMAND_TIMEOUT_MS });
  const supervisorStore = new JobStore(supervisorRedis, storeOptions);
  // Every script in Redis before the first job starts, and again after each reconnect: no job meets NOSCRIPT.
  await supervisorStore.keepScriptsLoaded();
  let jobPages: JobPages;
  try {
    jobPages = await openJobPages(config, target, store, { readyDeadlineMs, log: warnLine(rootLogger.child({ instance: instanceId })) });
  } catch (err) {
    disconnect();
    throw new InstanceError("cache", err as Error);
  }
  const { pages } = jobPages;
  const telemetry = createTelemetry({
    instanceId,
    types: types.map((t) => t.name),
    logger: rootLogger,
    store,
    stores: [store, supervisorStore, ...jobPages.stores],
  });
  const { logger } = telemetry;
  const supervisor = new Supervisor({
    store: supervisorStore,
    config,
    types,
    knownTypes: known.map((t) => t.name),
    scriptFor: overrides.scriptFor ?? jobScript,
    instanceId,
    logger,
    events: telemetry.events,
  });
  const renderer = createRenderer({
    cache: overrides.renderCache ?? config.nodeEnv === "production",
    site: config.site,
    overrides: config.templatesDir,
  });
  const memory = new RedisMemory(store, config.redisMemoryRefusePercent, logger);
  // Those who asked to be told when a job ends are told by the instance that reports the end (job-events.ts).
  const notifier = new Notifier({
    store: supervisorStore,
    settings: config.notify,
    types: known,
    instanceId,
    logger,
    siteName: config.site.name,
    publicUrl: config.publicUrl,
    userAgent: `sidejob (${config.site.name})`,
    metrics: telemetry.metrics,
  });
  telemetry.events.onFinished = (job) => notifier.jobEnded(job);
  const identity = new Identity(config.signIn, config.jobVisibility, config.adminUsers);
  const app = createApp({ config, types, registry: known, store, pages, supervisor, renderer, telemetry, memory, identity, notifier });
  if (overrides.outermost) app.middleware.unshift(overrides.outermost);
  const server = createHttpServer(createRequestListener({ app, pages, renderer, config, identity, polls: telemetry.polls }), {
    allowedHosts: config.allowedHosts,
    logger,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  if (overrides.takesJobs === false) await supervisor.close();

  return {
    config,
    app,
    server,
    store,
    supervisor,
    pages,
    cache: jobPages.cache,
    telemetry,
    async listen(port = config.port, host = config.host) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      if (overrides.takesJobs !== false) supervisor.start();
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
      notifier.listening(url);
      return url;
    },
    async close({ abortRequests = false } = {}) {
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      if (abortRequests) server.closeAllConnections();
      else server.closeIdleConnections();
      await supervisor.close();
      await closed;
      notifier.close();
      jobPages.close();
      telemetry.close();
      disconnect();
    },
  };
}

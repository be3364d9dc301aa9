// The app in this test process, on a free port, with its own Redis prefix, a
// log folder of its own, and real job processes.
//   startApp(t, options)   in a test; stopped when the test ends
//   useApp(test, options)  shared by a test file; stopped after its last test
//   launchApp(options)     without ava (the bench); call close() yourself
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext, TestFn } from "ava";
import { loadConfig, type Config } from "../../server/config.ts";
import { connectRedis, waitUntilReady, WEB_COMMAND_TIMEOUT_MS } from "../../jobs/core/redis.ts";
import { redisTarget } from "../../jobs/core/settings.ts";
import { JobStore, type JobRecord } from "../../jobs/core/store.ts";
import { createRenderer } from "../../server/render.ts";
import { newInstanceId, Supervisor } from "../../server/supervisor/index.ts";
import { silentLogger, warnLine, type Logger } from "../../server/log.ts";
import { createTelemetry, type Telemetry } from "../../server/telemetry.ts";
import { createRequestListener } from "../../server/listener.ts";
import { createHttpServer, HTTP_LIMITS, type HttpServer } from "../../server/http-server.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import type Koa from "koa";
import { createApp } from "../../server/app.ts";
import { openJobPages, type JobCache } from "../../server/job-cache.ts";
import { BUILD_DIR, jobScript } from "../../server/paths.ts";
import { post, submit, waitForState, type Form } from "./http.ts";
import { killProcessesIn } from "./procs.ts";
import { fileScoped } from "./scope.ts";
import { DEFAULT_TIMEOUT } from "./wait.ts";

export interface AppOptions {
  /** The Redis to use: a test's own (see useRedis, useCluster, useSentinel). */
  redis: RedisSettings;
  /** Names the Redis prefix, for reading keys when a test fails. */
  name?: string;
  /** Another instance's prefix, to share its jobs (by default a fresh one). */
  prefix?: string;
  env?: Record<string, string>;
  /** Replace the job script (a fixture) for every job. */
  script?: string;
  /** false: an instance that takes no jobs, so what is submitted stays queued. */
  takesJobs?: boolean;
  /** The job types its Supervisor runs (default: the registry). */
  types?: readonly JobType[];
  /** Added to every job process's environment (e.g. SIDEJOB_TYPES_MODULE). */
  jobEnv?: Record<string, string>;
  /** Where the server's and the supervisor's log lines go (default: nowhere); see support/logs.ts. */
  logger?: Logger;
}

export interface TestApp {
  url: string;
  /** The Koa app behind the request listener. */
  koa: Koa;
  config: Config;
  /**
   * The test's own store calls, on a connection of their own with a test's
   * deadline (DEFAULT_TIMEOUT): the web's 1.5 s is for answering people fast,
   * and a busy machine can stall this process for longer than that.
   */
  store: JobStore;
  /** The status cache (null when a test turns it off with STATUS_CACHE_MAX_ENTRIES=0). */
  cache: JobCache | null;
  supervisor: Supervisor;
  /** Its logger, poll count, metrics and job events. */
  telemetry: Telemetry;
  /** The HTTP server, with its counts of client errors and refused requests. */
  server: HttpServer;
  prefix: string;
  logDir: string;
  /** fetch against the app, without following redirects. */
  get(pathname: string, headers?: Record<string, string>): Promise<Response>;
  post(pathname: string, form: Form | string, headers?: Record<string, string>): Promise<Response>;
  /** POST /count and return the new job's id. */
  submit(form: Form): Promise<string>;
  /** Reads the job from the store until it is in one of the states. */
  waitForState(id: string, states: string | readonly string[], timeout?: number): Promise<JobRecord>;
  close(): Promise<void>;
}

/**
 * Where a test's Redis is: a URL (one redis-server), or the settings that
 * name a Redis Cluster or Sentinel (REDIS_CLUSTER_NODES, REDIS_SENTINELS...).
 */
export interface RedisSettings {
  url?: string;
  env?: Record<string, string>;
}

/** The settings a server or app gets for this Redis. */
export function redisEnv(redis: RedisSettings): Record<string, string> {
  return { ...(redis.url ? { REDIS_URL: redis.url } : {}), ...redis.env };
}

export function uniquePrefix(name: string): string {
  return `t-${name}-${crypto.randomBytes(3).toString("hex")}`;
}

/** A fixture job script, built by `node scripts/build.mjs --fixtures` (npm test does it). */
export function fixtureScript(name: string): string {
  return path.join(BUILD_DIR, "fixtures", `${name}.js`);
}

export async function launchApp(options: AppOptions): Promise<TestApp> {
  const prefix = options.prefix ?? uniquePrefix(options.name ?? "app");
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-"));
  const config = loadConfig({
    PATH: process.env.PATH,
    ...redisEnv(options.redis),
    REDIS_PREFIX: prefix,
    JOB_LOG_DIR: logDir,
    COUNT_STEP_DELAY_MS: "0",
    PORT: "0",
    ...options.env,
  });
  // As main.ts does: pages on one connection, the supervisor on its own.
  const target = redisTarget(config);
  const redis = connectRedis(target, "web");
  const supervisorRedis = connectRedis(target, "supervisor");
  const testRedis = connectRedis(target, "supervisor", { commandTimeout: DEFAULT_TIMEOUT });
  await Promise.all([redis, supervisorRedis, testRedis].map((r) => waitUntilReady(r, target, 10_000)));
  const storeOptions = {
    prefix,
    partitions: config.redisPartitions,
    ttlSucceededS: config.jobTtlSucceededS,
    ttlFailedS: config.jobTtlFailedS,
  };
  const store = new JobStore(redis, { ...storeOptions, maxInFlight: HTTP_LIMITS.REDIS_MAX_IN_FLIGHT, deadlineMs: WEB_COMMAND_TIMEOUT_MS });
  const supervisorStore = new JobStore(supervisorRedis, storeOptions);
  const testStore = new JobStore(testRedis, storeOptions);
  // The status cache, as main.ts opens it.
  const jobPages = await openJobPages(config, target, store, { readyDeadlineMs: 10_000, log: warnLine(options.logger ?? silentLogger) });
  const { pages } = jobPages;
  const instanceId = newInstanceId();
  const telemetry = createTelemetry({
    instanceId,
    logger: options.logger ?? silentLogger,
    store,
    // The test's store too: a job its reads record lost is counted, as the app's reads would.
    stores: [store, supervisorStore, testStore, ...jobPages.stores],
  });
  const { logger } = telemetry;
  const supervisor = new Supervisor({
    store: supervisorStore,
    config,
    types: options.types,
    jobEnv: options.jobEnv,
    scriptFor: (type) => options.script ?? jobScript(type),
    instanceId,
    logger,
    events: telemetry.events,
  });
  const renderer = createRenderer({ cache: true });
  const app = createApp({ config, store, pages, supervisor, renderer, telemetry });
  app.silent = true;
  // The one place a test app is served: through the request listener, as main.ts does.
  const server = createHttpServer(createRequestListener({ app, pages, renderer, config, polls: telemetry.polls }), {
    allowedHosts: config.allowedHosts,
    logger,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  if (options.takesJobs === false) await supervisor.close();
  else supervisor.start();
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    koa: app,
    config,
    store: testStore,
    cache: jobPages.cache,
    supervisor,
    telemetry,
    server,
    prefix,
    logDir,
    get: (pathname, headers = {}) => fetch(url + pathname, { redirect: "manual", headers }),
    post: (pathname, form, headers) => post(url + pathname, form, headers),
    submit: (form) => submit(url, form),
    waitForState: (id, states, timeout) => waitForState(testStore, id, states, timeout),
    async close() {
      await supervisor.close();
      telemetry.close();
      // Job processes outlive a server on purpose; a test leaves none behind.
      killProcessesIn(logDir);
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      jobPages.close();
      redis.disconnect();
      supervisorRedis.disconnect();
      testRedis.disconnect();
      fs.rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** An app for one test, closed (its job processes killed) when the test ends. */
export async function startApp(t: ExecutionContext, options: AppOptions): Promise<TestApp> {
  const app = await launchApp(options);
  t.teardown(() => app.close());
  return app;
}

/** An app shared by the tests of a file, started before the first and closed after the last. */
export function useApp(test: TestFn, options: AppOptions): TestApp {
  return fileScoped(
    test,
    `the file's app${options.name ? ` (${options.name})` : ""}`,
    () => launchApp(options),
    (app) => app.close(),
  );
}

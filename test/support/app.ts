// The app in this test process, on a free port, with its own Redis prefix, a
// log folder of its own, and real job processes: an instance built by
// createInstance (server/instance.ts) as main.ts builds its own, with the
// test's overrides (a silent logger, a fixture script, fixture types...).
//   startApp(t, options)   in a test; stopped when the test ends
//   useApp(test, options)  shared by a test file; stopped after its last test
//   launchApp(options)     without ava (the bench); call close() yourself
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext, TestFn } from "ava";
import { loadConfig, type Config } from "../../server/config.ts";
import { JobStore, type JobRecord } from "../../jobs/core/store.ts";
import { connectRedis, waitUntilReady } from "../../jobs/core/redis.ts";
import { leaseMsOf, redisTarget } from "../../jobs/core/settings.ts";
import type { Supervisor } from "../../server/supervisor/index.ts";
import { silentLogger, type Logger } from "../../server/log.ts";
import type { Telemetry } from "../../server/telemetry.ts";
import type { HttpServer } from "../../server/http-server.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import type Koa from "koa";
import type { JobCache } from "../../server/job-cache.ts";
import { createInstance } from "../../server/instance.ts";
import { BUILD_DIR, jobScript } from "../../server/paths.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { JOB_TYPES as FIXTURE_COMMAND_TYPES } from "../fixtures/types/index.ts";
import { post, submit, waitForState, type Form } from "./http.ts";
import { killProcessesIn } from "./procs.ts";
import { fileScoped } from "./scope.ts";
import { contractCheck, type Contract } from "./contract.ts";
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
  /** The script that runs a job of a type (default: its build); see WITH_FIXTURE_TYPES for the runner's fixture types. */
  scriptFor?: (type: JobType) => string;
  /** false: an instance that takes no jobs, so what is submitted stays queued. */
  takesJobs?: boolean;
  /** The job types its Supervisor runs (default: the registry); see WITH_FIXTURE_TYPES. */
  types?: readonly JobType[];
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
  /** The instance's own web store (its deadline is the web's), for its counts of calls Redis did not answer. */
  webStore: JobStore;
  /** The status cache (null when a test turns it off with STATUS_CACHE_MAX_ENTRIES=0). */
  cache: JobCache | null;
  supervisor: Supervisor;
  /** Its logger, poll count, metrics and job events. */
  telemetry: Telemetry;
  /** The HTTP server, with its counts of client errors and refused requests. */
  server: HttpServer;
  prefix: string;
  logDir: string;
  /** Its answers checked against the API document: the mismatches met, the documented answers reached. */
  contract: Contract;
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

/**
 * The options of an app that also runs the fixture command types
 * (test/fixtures/types): its supervisor knows them after the registry's, and
 * every command type runs under the fixture runner (build/fixtures/runner.js,
 * the runner built with those types too); a Node type runs its own script.
 */
export const WITH_FIXTURE_TYPES: Pick<AppOptions, "types" | "scriptFor"> = {
  types: [...JOB_TYPES, ...FIXTURE_COMMAND_TYPES],
  scriptFor: (type) => ("command" in type.run ? fixtureScript("runner") : jobScript(type)),
};

export async function launchApp(options: AppOptions): Promise<TestApp> {
  const prefix = options.prefix ?? uniquePrefix(options.name ?? "app");
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-"));
  const loaded = loadConfig({
    PATH: process.env.PATH,
    ...redisEnv(options.redis),
    REDIS_PREFIX: prefix,
    JOB_LOG_DIR: logDir,
    // A count's values go to Redis a few times a second whatever its pace (jobs/runtime/reports.ts): 1 ms
    // a step makes LONG_COUNT (1,000 steps) run for a second or more, long enough to be seen running.
    COUNT_STEP_DELAY_MS: "1",
    PORT: "0",
    // Tests set the concurrency they need per type; the machine's CPUs (JOB_SLOTS' default) must not cap it.
    JOB_SLOTS: "64",
    // A loaded test machine can starve a job's process of CPU for seconds: at the 1 s
    // default its lease would run out, and a job meant to run once would be retried.
    // The tests of lost jobs set the beat they need.
    JOB_HEARTBEAT_MS: "5000",
    ...options.env,
  });
  // The test's own types (fixtures) are the deployment's, with those of JOB_TYPES_DIR after them.
  const types = options.types && [...options.types, ...loaded.types.filter((t) => !options.types!.some((o) => o.name === t.name))];
  const config = types ? { ...loaded, types } : loaded;
  const { script } = options;
  // Every answer on a documented path is checked against the API document; close() fails on a mismatch.
  const { contract, middleware } = contractCheck(config.offeredTypes);
  const instance = await createInstance(config, {
    outermost: middleware,
    logger: options.logger ?? silentLogger,
    types,
    scriptFor: script ? () => script : options.scriptFor,
    takesJobs: options.takesJobs,
    readyDeadlineMs: 10_000,
    renderCache: true,
  });
  instance.app.silent = true;
  const url = await instance.listen(0, "127.0.0.1");
  // The test's own store calls: a connection of their own, with a test's deadline.
  const target = redisTarget(config);
  const testRedis = connectRedis(target, "supervisor", { commandTimeout: DEFAULT_TIMEOUT });
  await waitUntilReady(testRedis, target, 10_000);
  const testStore = new JobStore(testRedis, {
    prefix,
    partitions: config.redisPartitions,
    ttlSucceededS: config.jobTtlSucceededS,
    ttlFailedS: config.jobTtlFailedS,
    fileDir: config.fileStoreDir,
    // Refused writes noted with the instance's: its reads wait out a full Redis as the app's do.
    refusals: instance.store.refusals,
    refusalGraceMs: leaseMsOf(config.jobHeartbeatMs),
  });
  // An end its calls make on the way is reported, as the app's would be.
  testStore.onEnded = (end) => void instance.telemetry.events.ended(end.id, end.seen);
  testStore.onRetried = (job) => instance.telemetry.events.retried(job, "read");

  return {
    url,
    koa: instance.app,
    config,
    store: testStore,
    webStore: instance.store,
    cache: instance.cache,
    supervisor: instance.supervisor,
    telemetry: instance.telemetry,
    server: instance.server,
    prefix,
    logDir,
    contract,
    get: (pathname, headers = {}) => fetch(url + pathname, { redirect: "manual", headers }),
    post: (pathname, form, headers) => post(url + pathname, form, headers),
    submit: (form) => submit(url, form),
    waitForState: (id, states, timeout) => waitForState(testStore, id, states, timeout),
    async close() {
      await instance.close({ abortRequests: true });
      // Job processes outlive a server on purpose; a test leaves none behind.
      killProcessesIn(logDir);
      testRedis.disconnect();
      fs.rmSync(logDir, { recursive: true, force: true });
      contract.assertClean();
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

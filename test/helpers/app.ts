// The app in this test process, on a free port, with its own Redis prefix,
// a log folder of its own, and real job processes.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http, { type Server } from "node:http";
import type Koa from "koa";
import { loadConfig, type Config } from "../../server/config.ts";
import { connectRedis, waitUntilReady } from "../../jobs/redis.ts";
import { JobStore, type JobRecord, type JobState } from "../../jobs/store.ts";
import type { JobType } from "../../jobs/job-type.ts";
import { createRenderer } from "../../server/render.ts";
import { Supervisor } from "../../server/supervisor/index.ts";
import { createApp } from "../../server/app.ts";
import { createRequestListener } from "../../server/listener.ts";
import { BUILD_DIR, jobScript } from "../../server/paths.ts";
import { waitFor } from "./wait.ts";

export interface TestApp {
  url: string;
  /** The Koa app behind the request listener. */
  koa: Koa;
  config: Config;
  store: JobStore;
  supervisor: Supervisor;
  prefix: string;
  logDir: string;
  /** fetch against the app, without following redirects. */
  get(pathname: string, headers?: Record<string, string>): Promise<Response>;
  post(pathname: string, form: Record<string, string> | string, headers?: Record<string, string>): Promise<Response>;
  /** POST /count and return the new job's id. */
  submit(form: Record<string, string>): Promise<string>;
  waitForState(id: string, states: JobState | JobState[], timeout?: number): Promise<JobRecord>;
  close(): Promise<void>;
}

/** A count that runs long enough to watch, cancel or kill. */
export const LONG_COUNT: Record<string, string> = { start: "1", end: "1000", increment: "1" };

export function uniquePrefix(name: string): string {
  return `t-${name}-${crypto.randomBytes(3).toString("hex")}`;
}

/** A fixture job script, built by `npm run build -- --fixtures` (npm test does it). */
export function fixtureScript(name: string): string {
  return path.join(BUILD_DIR, "fixtures", `${name}.js`);
}

export async function startApp(options: {
  redisUrl: string;
  env?: Record<string, string>;
  /** Replace the job script (a fixture) for every job. */
  script?: string;
  name?: string;
  /** The job types its Supervisor runs (default: the registry). */
  types?: readonly JobType[];
  /** Added to every job process's environment (e.g. SIDEJOB_TYPES_MODULE). */
  jobEnv?: Record<string, string>;
}): Promise<TestApp> {
  const prefix = uniquePrefix(options.name ?? "app");
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-"));
  const config = loadConfig({
    PATH: process.env.PATH,
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: prefix,
    JOB_LOG_DIR: logDir,
    COUNT_STEP_DELAY_MS: "0",
    PORT: "0",
    ...options.env,
  });
  const redis = connectRedis(config.redisUrl, "web");
  await waitUntilReady(redis, config.redisUrl, 5000);
  const store = new JobStore(redis, { prefix, ttlSucceededS: config.jobTtlSucceededS, ttlFailedS: config.jobTtlFailedS });
  const supervisor = new Supervisor({ store, config, types: options.types, jobEnv: options.jobEnv, scriptFor: (type) => options.script ?? jobScript(type), log: () => {} });
  const renderer = createRenderer({ cache: true });
  const app = createApp({ config, store, supervisor, renderer });
  app.silent = true;
  const server: Server = await new Promise((resolve) => {
    const s = http.createServer(createRequestListener({ app, store, renderer }));
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
  supervisor.start();
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;

  const handle: TestApp = {
    url,
    koa: app,
    config,
    store,
    supervisor,
    prefix,
    logDir,
    get: (pathname, headers = {}) => fetch(url + pathname, { redirect: "manual", headers }),
    post: (pathname, form, headers = {}) =>
      fetch(url + pathname, {
        method: "POST",
        redirect: "manual",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
        body: typeof form === "string" ? form : new URLSearchParams(form).toString(),
      }),
    async submit(form) {
      const res = await handle.post("/count", form);
      if (res.status !== 303) throw new Error(`POST /count answered ${res.status}: ${await res.text()}`);
      return res.headers.get("location")!.split("/").pop()!;
    },
    async waitForState(id, states, timeout = 10_000) {
      const wanted = Array.isArray(states) ? states : [states];
      let last: JobRecord | null = null;
      return waitFor(
        async () => {
          last = await store.read(id, "all");
          return last && wanted.includes(last.state) ? last : null;
        },
        { timeout, message: () => `job ${id} to be ${wanted.join(" or ")} (it is ${JSON.stringify(last)})` },
      );
    },
    async close() {
      // Job processes outlive a server on purpose; a test leaves none behind.
      for (const pid of supervisor.pids()) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await supervisor.close();
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      redis.disconnect();
    },
  };
  return handle;
}

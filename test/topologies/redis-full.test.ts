// A Redis at maxmemory (noeviction: it refuses writes with OOM) is an
// outage, not a bug: requests that write answer 503 with Retry-After, one
// warning is logged, /healthz says so, and a running job waits it out and
// finishes once memory is freed. Near maxmemory (REDIS_MEMORY_REFUSE_PERCENT)
// new jobs are refused before anything is written. The test's own
// redis-server is made full with CONFIG SET maxmemory, and freed with 0.
import test, { type ExecutionContext } from "ava";
import { startApp, type TestApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { memoryLogger, LEVELS } from "../support/logs.ts";
import { waitFor } from "../support/wait.ts";
import { MEMORY_CACHE_MS } from "../../server/redis-memory.ts";

const redis = useRedis(test);

/** Redis refuses every write from now on (used_memory is always over 1 byte); memory is freed again after the test. */
async function fill(t: ExecutionContext): Promise<void> {
  t.teardown(() => redis.client.config("SET", "maxmemory", "0"));
  await redis.client.config("SET", "maxmemory", "1");
}

async function free(): Promise<void> {
  await redis.client.config("SET", "maxmemory", "0");
}

const json = { Accept: "application/json" };

function postForm(a: TestApp, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(a.url + path, { method: "POST", redirect: "manual", body: new URLSearchParams(form), headers });
}

function postCsv(a: TestApp): Promise<Response> {
  const form = new FormData();
  form.set("file", new Blob(["a,b\n1,2\n"], { type: "text/csv" }), "f.csv");
  form.set("delimiter", "detect");
  form.set("header", "true");
  return fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
}

test.serial(
  "with Redis at maxmemory, writes answer 503 with Retry-After as a page and as JSON, one warning is logged, and /healthz says so",
  async (t) => {
    const logs = memoryLogger();
    const a = await startApp(t, { redis, name: "full", takesJobs: false, logger: logs.logger });
    const queued = await a.submit({ start: "1", end: "3", increment: "1" });
    t.is((await a.get("/healthz")).status, 200);

    await fill(t);
    const refused: Response[] = [];
    for (let i = 0; i < 3; i++) refused.push(await postForm(a, `/jobs/${queued}/cancel`, {}));
    refused.push(await postForm(a, `/jobs/${queued}/cancel`, {}, json));
    refused.push(await postForm(a, "/count", { start: "1", end: "3", increment: "1" }));
    refused.push(await postForm(a, "/count", { start: "1", end: "3", increment: "1" }, json));
    refused.push(await postCsv(a));
    for (const res of refused) {
      t.is(res.status, 503, `${res.url} answers 503`);
      t.truthy(res.headers.get("retry-after"), `${res.url} says when to try again`);
    }
    const page = await refused[0]!.text();
    t.regex(page, /The job store \(Redis\) is full/);
    t.notRegex(page, /at \w+ \(|node_modules|Error:/, "no stack trace");
    t.like(await refused[3]!.json(), { error: "store-full", status: 503 });
    t.like(await refused[5]!.json(), { error: "store-full", status: 503 });

    // A page that only reads still answers.
    t.is((await a.get(`/jobs/${queued}`)).status, 200);

    // The figure is read at most once a second.
    type Health = { status: number; redis: string; accepting: boolean; memory: { maxBytes: number; usedPercent: number } };
    const facts = await waitFor(
      async () => {
        const r = await a.get("/healthz");
        const body = (await r.json()) as Health;
        return body.memory?.maxBytes === 1 ? { ...body, status: r.status, retryAfter: r.headers.get("retry-after") } : null;
      },
      { timeout: 5 * MEMORY_CACHE_MS, message: "/healthz to report maxmemory" },
    );
    t.is(facts.status, 503);
    t.is(facts.retryAfter, "30", "a 503 says when to ask again");
    t.like(facts, { redis: "refusing-writes", accepting: false, memory: { maxBytes: 1 } });
    t.true(facts.memory.usedPercent >= 100);

    const warnings = logs.records.filter((r) => r.level === LEVELS.warn && /Redis refuses writes/.test(r.msg));
    t.is(warnings.length, 1, logs.messages().join("\n"));
    t.false(
      logs.records.some((r) => r.level >= LEVELS.error),
      "no error lines",
    );

    await free();
    t.is((await postForm(a, `/jobs/${queued}/cancel`, {})).status, 303, "once memory is freed, the cancel goes through");
    await waitFor(async () => (await a.get("/healthz")).status === 200, { timeout: 10_000, message: "/healthz to answer 200 again" });
  },
);

test.serial(
  "near maxmemory, a new job is refused with 503 before anything is written, while what exists still changes, and /healthz reports the figure",
  async (t) => {
    const a = await startApp(t, { redis, name: "nearly", takesJobs: false, env: { REDIS_MEMORY_REFUSE_PERCENT: "90" } });
    const queued = await a.submit({ start: "1", end: "3", increment: "1" });
    t.teardown(() => redis.client.config("SET", "maxmemory", "0"));
    const used = Number(/used_memory:(\d+)/.exec(await redis.client.info("memory"))![1]);
    // About 95% full: over the threshold, under the limit.
    await redis.client.config("SET", "maxmemory", String(Math.round(used / 0.95)));
    // The figure is read at most once a second.
    const res = await waitFor(
      async () => {
        const r = await postForm(a, "/count", { start: "1", end: "3", increment: "1" }, json);
        return r.status === 503 ? r : null;
      },
      { timeout: 5 * MEMORY_CACHE_MS, message: "the submit to be refused" },
    );
    t.truthy(res.headers.get("retry-after"));
    t.like(await res.json(), { error: "store-full" });
    const before = await a.store.queueLength();
    t.is((await postForm(a, "/count", { start: "1", end: "3", increment: "1" })).status, 503);
    t.is((await postCsv(a)).status, 503);
    t.is(await a.store.queueLength(), before, "nothing was queued");
    const health = await a.get("/healthz");
    t.is(health.status, 200);
    const facts = (await health.json()) as { accepting: boolean; memory: { usedPercent: number; refusePercent: number } };
    t.false(facts.accepting);
    t.is(facts.memory.refusePercent, 90);
    t.true(facts.memory.usedPercent >= 90 && facts.memory.usedPercent < 100, String(facts.memory.usedPercent));
    t.is((await postForm(a, `/jobs/${queued}/cancel`, {})).status, 303, "a cancel is not a new job: it goes through");
  },
);

test.serial("a running count job survives 15 s of a full Redis (five leases) and finishes once memory is freed", async (t) => {
  const heartbeatMs = 1000; // a lease is 3 s
  const stepMs = 300;
  const a = await startApp(t, {
    redis,
    name: "survive",
    env: { JOB_HEARTBEAT_MS: String(heartbeatMs), COUNT_STEP_DELAY_MS: String(stepMs) },
  });
  const id = await a.submit({ start: "1", end: "40", increment: "1" });
  await waitFor(async () => ((await a.store.read(id))?.done ?? 0) >= 3, { timeout: 20_000, message: "the job to make progress" });

  await fill(t);
  const outage = 5 * 3 * heartbeatMs;
  const until = Date.now() + outage;
  const jobKey = a.store.jobKeys(id)[0];
  // Watched straight on Redis (a read through the app could record it lost): it stays running throughout.
  while (Date.now() < until) {
    t.is(await redis.client.hget(jobKey, "state"), "running");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await free();

  const job = await a.waitForState(id, ["succeeded", "failed", "cancelled"], 40 * stepMs + 10 * 3 * heartbeatMs);
  t.like(job, { state: "succeeded", done: 40 }, `${job.reason}: ${job.error}`);
  t.is(job.results.length, 40, "every value reported once");
  const log = await a.store.readLog(id);
  t.true(
    log.every((line) => line.length <= 256),
    "no long line (a stack of the bundle) in the log",
  );
  t.true(
    log.some((line) => /Redis refuses writes/.test(line)),
    log.join("\n"),
  );
});

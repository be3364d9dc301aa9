// What each job used (JobRecord.usage: its peak memory and CPU time, measured
// by its runner at its end), shown and exported: in its JSON, on its page for
// operators, on /admin (the job, the list, and each type's p50 and p95 over
// the last day), in /metrics (a histogram of each) and on the job-finished
// log line. Real Redis, real job processes.
import test from "ava";
import { startApp, useApp, type TestApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { memoryLogger } from "../support/logs.ts";
import { promtool } from "../support/prometheus.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { usageText } from "../../server/job-words.ts";
import { formatSize } from "../../server/format-size.ts";
import { formatDuration } from "../../jobs/core/format.ts";
import type { Job } from "../../server/api-schemas.ts";

const TOKEN = "usage-metrics-token-0123456789ab";
const PASSWORD = "correct horse battery";
const ENV = { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "s".repeat(40), METRICS_TOKEN: TOKEN, SHOW_JOB_INTERNALS: "true" };
const redis = useRedis(test);
const log = memoryLogger();
const app = useApp(test, { redis, name: "usage", env: ENV, logger: log.logger });

async function login(a: TestApp): Promise<string> {
  const res = await a.post("/admin/login", { password: PASSWORD, next: "/admin" });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

async function jobJson(a: TestApp, id: string, headers: Record<string, string> = {}): Promise<Job> {
  const res = await a.get(`/jobs/${id}`, { Accept: "application/json", ...headers });
  if (res.status !== 200) throw new Error(`GET /jobs/${id} answered ${res.status}`);
  return (await res.json()) as Job;
}

/** The sum of a metric's samples whose labels match. */
async function metric(a: TestApp, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await a.get("/metrics", { Authorization: `Bearer ${TOKEN}` })).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[k!] = v!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

const escaped = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

test.serial(
  "a job that ends has its usage in its JSON, on its page for operators, on /admin, in the metrics' histograms and on its job-finished line",
  async (t) => {
    const instance = { type: "count", instance_id: app.telemetry.instanceId };
    const countsBefore = await Promise.all([
      metric(app, "sidejob_job_peak_memory_bytes_count", instance),
      metric(app, "sidejob_job_cpu_seconds_count", instance),
    ]);
    const id = await app.submit({ start: "1", end: "3", increment: "1" });
    const record = await app.waitForState(id, "succeeded");
    const usage = record.usage!;
    t.truthy(usage, "the record has the usage its runner measured");
    t.true(usage.peakMemoryBytes > 1024 * 1024, `a node process peaks above 1 MB: ${usage.peakMemoryBytes}`);
    t.true(Number.isInteger(usage.cpuMs) && usage.cpuMs >= 0);

    // The JSON of the job, with or without the internals.
    const json = await jobJson(app, id);
    t.deepEqual(json.usage, usage);
    t.is(json.limit, null, "no limit stopped it");

    // Its page, for operators (SHOW_JOB_INTERNALS): "Peak memory 42.1 MB · CPU time 120 ms".
    const words = usageText(usage);
    t.regex(words, /^Peak memory [\d.,]+ (MB|kB|GB) · CPU time [\d.,]+ (ms|s|min)$/);
    t.true((await (await app.get(`/jobs/${id}`)).text()).includes(escaped(words)), words);
    // Without SHOW_JOB_INTERNALS, the public page does not show it; the JSON does.
    const plain = await startApp(t, { redis, name: "usage-plain", prefix: app.prefix, takesJobs: false });
    const page = await (await plain.get(`/jobs/${id}`)).text();
    t.true(page.includes("Ran for"));
    t.false(page.includes("Peak memory"), "the public page does not show what it used");
    t.deepEqual((await jobJson(plain, id)).usage, usage);

    // /admin: the job's page and JSON, the jobs list and its JSON.
    const cookie = await login(app);
    const adminPage = await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie })).text();
    t.regex(adminPage, new RegExp(`<dt>Used</dt><dd class="usage">${escaped(words)}</dd>`));
    const adminJson = (await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie, Accept: "application/json" })).json()) as Job;
    t.deepEqual(adminJson.usage, usage);
    const list = (await (await app.get("/admin/jobs?type=count", { Cookie: cookie, Accept: "application/json" })).json()) as {
      jobs: { id: string; usage: unknown }[];
    };
    t.deepEqual(list.jobs.find((j) => j.id === id)?.usage, usage);
    t.true(
      (await (await app.get("/admin/jobs?type=count", { Cookie: cookie })).text()).includes(`<td class="usage">${escaped(words)}</td>`),
    );

    // The metrics: one sample more in each histogram, promtool accepts the whole output.
    await waitFor(
      async () =>
        (await metric(app, "sidejob_job_peak_memory_bytes_count", instance)) === countsBefore[0] + 1 &&
        (await metric(app, "sidejob_job_cpu_seconds_count", instance)) === countsBefore[1] + 1,
      { message: "a sample in each histogram" },
    );
    t.true((await metric(app, "sidejob_job_peak_memory_bytes_sum", instance)) >= usage.peakMemoryBytes);
    t.true((await metric(app, "sidejob_job_peak_memory_bytes_bucket", { ...instance, le: "+Inf" })) >= 1, "the +Inf bucket counts it");
    const text = await (await app.get("/metrics", { Authorization: `Bearer ${TOKEN}` })).text();
    const checked = await promtool(["check", "metrics"], text);
    t.is(checked.code, 0, checked.output);

    // The job-finished line.
    await waitFor(() => log.records.some((r) => r.event === "job-finished" && r.job === id), { message: "the end's log line" });
    t.like(
      log.records.find((r) => r.event === "job-finished" && r.job === id),
      { state: "succeeded", peakMemoryBytes: usage.peakMemoryBytes, cpuMs: usage.cpuMs },
    );
  },
);

test.serial("a job that has not ended has no usage in its JSON, and a job that never ran has none when it ends", async (t) => {
  const id = await app.submit(LONG_COUNT);
  await app.waitForState(id, "running");
  const running = await jobJson(app, id);
  t.is(running.state, "running");
  t.is(running.usage, null);
  t.is(running.limit, null);
  t.is((await app.post(`/jobs/${id}/cancel`, {}, { Accept: "application/json" })).status, 202);
  await app.waitForState(id, "cancelled");

  const waiting = await startApp(t, { redis, name: "usage-waiting", takesJobs: false, env: ENV });
  const queued = await waiting.submit({ start: "1", end: "3", increment: "1" });
  t.is((await jobJson(waiting, queued)).usage, null);
  t.is((await waiting.post(`/jobs/${queued}/cancel`, {}, { Accept: "application/json" })).status, 202);
  await waiting.waitForState(queued, "cancelled");
  const ended = await jobJson(waiting, queued);
  t.is(ended.usage, null, "cancelled before it started: nothing was measured");
  const cookie = await login(waiting);
  t.regex(
    await (await waiting.get(`/admin/jobs/${queued}`, { Cookie: cookie })).text(),
    /<dt>Used<\/dt><dd class="usage">not measured<\/dd>/,
  );
  const overview = (await (await waiting.get("/admin", { Cookie: cookie, Accept: "application/json" })).json()) as {
    usageLastDay: { type: string; jobs: number }[];
  };
  t.is(overview.usageLastDay.find((u) => u.type === "count")?.jobs, 0, "an end without usage is not counted");
});

test.serial("/admin shows each type's p50 and p95 of peak memory and CPU time over the last day, from buckets kept 25 hours", async (t) => {
  // An app of its own (its own keys), whose jobs' usages are known: ended through the store, as a runner does.
  const a = await startApp(t, { redis, name: "usage-percentiles", takesJobs: false, env: ENV });
  const MiB = 1024 * 1024;
  const ends = [
    ...Array.from({ length: 19 }, () => ({ peakMemoryBytes: 40 * MiB, cpuMs: 200 })),
    { peakMemoryBytes: 900 * MiB, cpuMs: 60_000 },
  ];
  for (const usage of ends) {
    const id = await a.store.create({ type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 1e9 });
    const claimed = await a.store.claim("test-owner", 600_000, ["count"], ["count"]);
    t.is(claimed?.id, id);
    await a.store.start(id, process.pid, "test-host", 600_000);
    await a.store.finish(id, "succeeded", "job", { usage });
  }
  // One that failed without a measure (its process died before its runner could tell) counts in none.
  const lost = await a.store.create({ type: "primes", params: { n: 10 }, total: 0, queueMax: 1e9 });
  await a.store.claim("test-owner", 600_000, ["primes"], ["primes"]);
  await a.store.start(lost, process.pid, "test-host", 600_000);
  await a.store.finish(lost, "failed", "force", { reason: "exit-code", exitCode: 1 });

  const now = await a.store.now();
  const buckets = await a.store.usage(["count", "primes"], now);
  t.is(
    [...buckets.count!.peakMemoryBytes.values()].reduce((s, c) => s + c, 0),
    20,
  );
  t.is(
    [...buckets.count!.cpuMs.values()].reduce((s, c) => s + c, 0),
    20,
  );
  t.is(buckets.primes!.cpuMs.size, 0);
  const keys = await redis.client.keys(`${a.prefix}:{jobs}:ix:u:*`);
  t.deepEqual(
    keys.map((k) => k.replace(/:\d+$/, "")),
    [`${a.prefix}:{jobs}:ix:u:count`],
  );
  const ttl = await redis.client.ttl(keys[0]!);
  t.true(ttl > 0 && ttl <= 90_000, `kept 25 hours: ${ttl}`);

  const cookie = await login(a);
  const overview = (await (await a.get("/admin", { Cookie: cookie, Accept: "application/json" })).json()) as {
    usageLastDay: { type: string; jobs: number; peakMemoryBytes: { p50: number; p95: number }; cpuMs: { p50: number; p95: number } }[];
  };
  const count = overview.usageLastDay.find((u) => u.type === "count")!;
  t.is(count.jobs, 20);
  // Each percentile is its bucket's upper bound: at most 19% above the value.
  const near = (got: number, want: number) => got >= want && got <= want * 1.19;
  t.true(near(count.peakMemoryBytes.p50, 40 * MiB), String(count.peakMemoryBytes.p50));
  t.true(near(count.peakMemoryBytes.p95, 40 * MiB), "19 of 20 at 40 MiB: the 95th is one of them");
  t.true(near(count.cpuMs.p50, 200), String(count.cpuMs.p50));
  t.deepEqual(
    overview.usageLastDay.find((u) => u.type === "primes"),
    { type: "primes", jobs: 0, peakMemoryBytes: { p50: null, p95: null }, cpuMs: { p50: null, p95: null } },
  );

  const page = await (await a.get("/admin", { Cookie: cookie })).text();
  t.true(page.includes("What jobs used, last 24 hours"));
  const row = /<tr id="usage-count">(.*?)<\/tr>/.exec(page)?.[1] ?? "";
  t.true(row.includes(`<td class="num">20</td>`), row);
  t.true(row.includes(formatSize(count.peakMemoryBytes.p50)), row);
  t.true(row.includes(formatDuration(count.cpuMs.p50)), row);
  t.regex(/<tr id="usage-primes">(.*?)<\/tr>/.exec(page)?.[1] ?? "", /no jobs/);
});

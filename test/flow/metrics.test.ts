// GET /metrics: Prometheus' text format, off without METRICS_TOKEN, and only
// with the token when on; every series a job can move there at 0 from the
// start; counts that move with real jobs, and the cluster's values read from
// Redis, the same on every instance; the whole output as promtool checks it.
import test from "ava";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { bearerMatches, END_LABELS, RETRIED_REASONS } from "../../server/metrics.ts";
import { startApp, useApp, type TestApp } from "../support/app.ts";
import { promtool } from "../support/prometheus.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const TOKEN = "metrics-token-for-the-tests-0123";
const redis = useRedis(test);
/** A Redis of its own, stopped by one test. */
const spare = useRedis(test);
const app = useApp(test, { redis, name: "metrics", env: { METRICS_TOKEN: TOKEN } });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  return text.split("\n").flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    return [{ name: m[1]!, labels, value: m[3] === "NaN" ? NaN : Number(m[3]) }];
  });
}

async function scrapeText(target: TestApp, token = TOKEN): Promise<string> {
  const res = await target.get("/metrics", { Authorization: `Bearer ${token}` });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return res.text();
}

async function scrape(target: TestApp, token = TOKEN): Promise<Sample[]> {
  return parse(await scrapeText(target, token));
}

/** The value of one sample, matching every label given (0 when there is none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

test.serial("metrics are off without METRICS_TOKEN: 404", async (t) => {
  const off = await startApp(t, { redis, name: "metrics-off", takesJobs: false });
  const res = await off.get("/metrics");
  t.is(res.status, 404);
  t.is((await off.get("/metrics", { Authorization: `Bearer ${TOKEN}` })).status, 404);
});

test.serial("without the token, or with a wrong one, /metrics answers 401 and shows nothing", async (t) => {
  for (const headers of <Record<string, string>[]>[
    {},
    { Authorization: "Bearer wrong-token-wrong-token" },
    { Authorization: `Basic ${TOKEN}` },
    { Authorization: `Bearer ${TOKEN}x` },
  ]) {
    const res = await app.get("/metrics", { Accept: "application/json", ...headers });
    t.is(res.status, 401, JSON.stringify(headers));
    t.regex(res.headers.get("www-authenticate") ?? "", /^Bearer/);
    const body = (await res.json()) as { error: string; message: string };
    t.is(body.error, "unauthorized");
    t.notRegex(JSON.stringify(body), /sidejob_/);
  }
});

test.serial("the token is compared whole: a prefix, a longer value or an empty one does not match", (t) => {
  t.true(bearerMatches(`Bearer ${TOKEN}`, TOKEN));
  t.true(bearerMatches(`bearer  ${TOKEN}`, TOKEN));
  for (const header of [undefined, "", "Bearer", "Bearer ", `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}0`, TOKEN])
    t.false(bearerMatches(header, TOKEN), String(header));
});

test.serial(
  "every known type's submitted, lost and finished counts (each end state and reason), its retried attempts (each reason) and its duration, peak memory and CPU time histograms exist at 0 from the start",
  async (t) => {
    const fresh = await startApp(t, { redis, name: "metrics-fresh", takesJobs: false, env: { METRICS_TOKEN: TOKEN } });
    const samples = await scrape(fresh);
    const instance = { instance_id: fresh.telemetry.instanceId };
    const zero = (name: string, labels: Record<string, string>) => {
      const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      t.is(found.length, 1, `${name} ${JSON.stringify(labels)}`);
      t.is(found[0]?.value, 0, `${name} ${JSON.stringify(labels)}`);
    };
    t.true(END_LABELS.length >= 12, "a success and every reason a job of a known type can end for");
    for (const { name: type } of JOB_TYPES) {
      zero("sidejob_jobs_submitted_total", { type, ...instance });
      zero("sidejob_jobs_lost_total", { type, ...instance });
      zero("sidejob_job_duration_seconds_count", { type, ...instance });
      zero("sidejob_job_duration_seconds_bucket", { type, le: "+Inf", ...instance });
      for (const histogram of ["sidejob_job_peak_memory_bytes", "sidejob_job_cpu_seconds"]) {
        zero(`${histogram}_count`, { type, ...instance });
        zero(`${histogram}_bucket`, { type, le: "+Inf", ...instance });
      }
      for (const end of END_LABELS) zero("sidejob_jobs_finished_total", { type, ...end, ...instance });
      for (const reason of RETRIED_REASONS) zero("sidejob_job_attempts_retried_total", { type, reason, ...instance });
    }
    t.like(
      END_LABELS.find((e) => e.reason === "cancel-killed"),
      { state: "cancelled" },
    );
    t.like(
      END_LABELS.find((e) => e.reason === "lost"),
      { state: "failed" },
    );
    t.false(
      samples.some((s) => s.name === "sidejob_jobs_finished_total" && s.labels.reason === "unknown-type"),
      "no series for an end a known type cannot have",
    );
  },
);

test.serial("promtool check metrics accepts the whole output, with a NaN written NaN while Redis is down", async (t) => {
  // Real jobs first, so every kind of series has samples.
  const id = await app.submit({ start: "1", end: "3", increment: "1" });
  await app.waitForState(id, "succeeded");
  const text = await scrapeText(app);
  const checked = await promtool(["check", "metrics"], text);
  t.is(checked.code, 0, checked.output);
  t.notRegex(text, /^nodejs_active_\w+_total/m, "no gauge named like a counter");

  const lonely = await startApp(t, { redis: spare, name: "metrics-nan", takesJobs: false, env: { METRICS_TOKEN: TOKEN } });
  await spare.stop();
  t.teardown(() => spare.start());
  const down = await scrapeText(lonely);
  t.regex(down, /^sidejob_queue_length NaN$/m);
  t.notRegex(down, /\bNan$/m);
  const checkedDown = await promtool(["check", "metrics"], down);
  t.is(checkedDown.code, 0, checkedDown.output);
});

test.serial("real jobs move the counters: submitted and finished by type, state and reason, and the duration histogram", async (t) => {
  const before = await scrape(app);
  const instance = { instance_id: app.telemetry.instanceId };
  const ok = await app.submit({ start: "1", end: "5", increment: "1" });
  await app.waitForState(ok, "succeeded");
  const primes = await app.post("/jobs/new/primes", { n: "100" });
  t.is(primes.status, 303);
  const primesId = primes.headers.get("location")!.split("/").pop()!;
  await app.waitForState(primesId, "succeeded");
  const finished = (s: Sample[], type: string) =>
    value(s, "sidejob_jobs_finished_total", { type, state: "succeeded", reason: "none", ...instance });
  let after: Sample[] = [];
  await waitFor(
    async () => {
      after = await scrape(app);
      return finished(after, "count") - finished(before, "count") === 1 && finished(after, "primes") - finished(before, "primes") === 1;
    },
    { message: "both ends to be counted" },
  );
  const diff = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
  t.is(diff("sidejob_jobs_submitted_total", { type: "count", ...instance }), 1);
  t.is(diff("sidejob_jobs_submitted_total", { type: "primes", ...instance }), 1);
  t.is(diff("sidejob_job_duration_seconds_count", { type: "count", ...instance }), 1);
  t.true(diff("sidejob_job_duration_seconds_sum", { type: "count", ...instance }) > 0);
  t.is(diff("sidejob_job_duration_seconds_bucket", { type: "count", le: "+Inf", ...instance }), 1);
  t.true(
    after.some((s) => s.name === "process_cpu_user_seconds_total" && s.labels.instance_id === instance.instance_id),
    "process defaults, by instance",
  );
});

test.serial("a cancelled job is counted by its end state, status polls one by one, and Redis errors have a counter", async (t) => {
  const instance = { instance_id: app.telemetry.instanceId };
  const before = await scrape(app);
  const id = await app.submit({ start: "1", end: "1000", increment: "1" });
  await app.waitForState(id, "running");
  t.is((await app.post(`/jobs/${id}/cancel`, {})).status, 303);
  await app.waitForState(id, "cancelled");
  for (let i = 0; i < 3; i++) t.is((await app.get(`/jobs/${id}/status`, { "HX-Request": "true" })).status, 286);
  let after: Sample[] = [];
  await waitFor(
    async () => {
      after = await scrape(app);
      return (
        value(after, "sidejob_jobs_finished_total", { type: "count", state: "cancelled", ...instance }) >
        value(before, "sidejob_jobs_finished_total", { type: "count", state: "cancelled", ...instance })
      );
    },
    { message: "the cancelled job to be counted" },
  );
  t.is(value(after, "sidejob_status_polls_total", instance) - value(before, "sidejob_status_polls_total", instance), 3);
  t.true(after.some((s) => s.name === "sidejob_redis_errors_total" && s.labels.instance_id === instance.instance_id));
});

test.serial("a job whose process stopped reporting is counted lost, and finished failed with reason lost", async (t) => {
  const instance = { instance_id: app.telemetry.instanceId };
  const before = await scrape(app);
  // Claimed and started elsewhere, with a lease that runs out at once: the sweep here records it lost.
  const id = await app.store.createClaimed({ type: "count", params: { start: 1, end: 5, increment: 1 }, total: 5 }, "elsewhere", 60_000);
  await app.store.start(id, 999_999, "elsewhere", 1);
  await app.waitForState(id, "failed");
  let after: Sample[] = [];
  await waitFor(
    async () => {
      after = await scrape(app);
      return (
        value(after, "sidejob_jobs_lost_total", { type: "count", ...instance }) >
        value(before, "sidejob_jobs_lost_total", { type: "count", ...instance })
      );
    },
    { message: "the lost job to be counted" },
  );
  t.is(
    value(after, "sidejob_jobs_lost_total", { type: "count", ...instance }) -
      value(before, "sidejob_jobs_lost_total", { type: "count", ...instance }),
    1,
  );
  t.is(
    value(after, "sidejob_jobs_finished_total", { type: "count", state: "failed", reason: "lost", ...instance }) -
      value(before, "sidejob_jobs_finished_total", { type: "count", state: "failed", reason: "lost", ...instance }),
    1,
  );
});

test.serial("the queue length and the jobs running are the cluster's: two instances agree, without an instance label", async (t) => {
  const a = await startApp(t, { redis, name: "metrics-a", takesJobs: false, env: { METRICS_TOKEN: TOKEN } });
  const b = await startApp(t, { redis, name: "metrics-b", prefix: a.prefix, takesJobs: false, env: { METRICS_TOKEN: TOKEN } });
  for (let i = 0; i < 3; i++) await a.submit({ start: "1", end: "5", increment: "1" });
  await b.submit({ start: "1", end: "5", increment: "1" });
  const [sa, sb] = await Promise.all([scrape(a), scrape(b)]);
  for (const samples of [sa, sb]) {
    const queue = samples.filter((s) => s.name === "sidejob_queue_length");
    t.deepEqual(queue, [{ name: "sidejob_queue_length", labels: {}, value: 4 }]);
    t.deepEqual(
      samples.filter((s) => s.name === "sidejob_jobs_running"),
      [{ name: "sidejob_jobs_running", labels: {}, value: 0 }],
    );
  }
  t.is(value(sa, "sidejob_jobs_submitted_total", { instance_id: a.telemetry.instanceId }), 3);
  t.is(value(sb, "sidejob_jobs_submitted_total", { instance_id: b.telemetry.instanceId }), 1);
});

test.serial("Redis errors are counted, and the cluster's values read NaN while Redis is down", async (t) => {
  const lonely = await startApp(t, { redis: spare, name: "metrics-down", takesJobs: false, env: { METRICS_TOKEN: TOKEN } });
  await spare.stop();
  t.teardown(() => spare.start());
  const id = "0".repeat(32);
  t.is((await lonely.get(`/jobs/${id}`, { Accept: "application/json" })).status, 503);
  const samples = await scrape(lonely);
  t.true(value(samples, "sidejob_redis_errors_total", { instance_id: lonely.telemetry.instanceId }) >= 1);
  t.true(Number.isNaN(samples.find((s) => s.name === "sidejob_queue_length")!.value));
});

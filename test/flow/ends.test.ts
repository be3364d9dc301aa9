// Each end of a job is logged and counted once, by the call whose transition
// made it terminal (server/job-events.ts): a cancel that races the spawn of
// its job, and cancels from /admin, one job or a bulk action.
import test from "ava";
import { startApp, type TestApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { memoryLogger, type LogRecord } from "../support/logs.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const TOKEN = "metrics-token-for-the-tests-0123";
const PASSWORD = "correct horse battery";
const ADMIN_ENV = { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "s".repeat(40), METRICS_TOKEN: TOKEN };
const redis = useRedis(test);

/** A counter of /metrics, summed over the series whose labels match. */
async function counter(app: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await app.get("/metrics", { Authorization: `Bearer ${TOKEN}` })).text();
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

const endsOf = (records: LogRecord[], id: string) => records.filter((r) => r.event === "job-finished" && r.job === id);

/** The Cookie header of a logged-in operator. */
async function login(app: TestApp): Promise<string> {
  const res = await app.post("/admin/login", { password: PASSWORD, next: "/admin" });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

test("a cancel that finds a claimed job still waiting ends it and counts one end; the exit of its process counts none", async (t) => {
  const log = memoryLogger();
  const app = await startApp(t, { redis, name: "ends-race", env: { METRICS_TOKEN: TOKEN }, logger: log.logger });
  const before = await counter(app, "sidejob_jobs_finished_total", { type: "count" });
  const id = await app.submit(LONG_COUNT);
  // Claimed: its process is being started, and has not marked it running yet.
  await waitFor(async () => (await redis.client.hget(app.store.jobKeys(id)[0], "owner")) !== null, { message: "the claim" });
  const res = await app.post(`/jobs/${id}/cancel`, {}, { Accept: "application/json" });
  t.is(res.status, 202);
  const { outcome } = (await res.json()) as { outcome: string };
  await app.waitForState(id, "cancelled");
  await app.supervisor.idle();
  // After the exit is recorded: one more job's end, reported after whatever the exit reported.
  const barrier = await app.submit({ start: "1", end: "1", increment: "1" });
  await waitFor(() => endsOf(log.records, barrier).length === 1, { message: "the next job's end" });

  const ends = endsOf(log.records, id);
  t.is(ends.length, 1, JSON.stringify(ends));
  // Most often the cancel wins the race (the job was still waiting); else the job stops itself and its exit reports it.
  t.like(ends[0], { state: "cancelled", seen: outcome === "cancelled" ? "cancel" : "exit" });
  t.is(await counter(app, "sidejob_jobs_finished_total", { type: "count" }), before + 2, "the cancelled job and the next one");
  t.is(await counter(app, "sidejob_jobs_finished_total", { type: "count", state: "cancelled" }), 1);
});

test("cancels from the admin job page and from the bulk action are each counted and logged once", async (t) => {
  const log = memoryLogger();
  const app = await startApp(t, { redis, name: "ends-admin", env: ADMIN_ENV, takesJobs: false, logger: log.logger });
  const cookie = await login(app);
  const one = await app.submit(LONG_COUNT);
  const many = [await app.submit(LONG_COUNT), await app.submit(LONG_COUNT), await app.submit(LONG_COUNT)];

  const single = await app.post(`/admin/jobs/${one}/cancel`, {}, { Cookie: cookie, Accept: "application/json" });
  t.is(single.status, 202);
  const bulk = await app.post("/admin/bulk/cancel-queued", { confirm: "yes" }, { Cookie: cookie, Accept: "application/json" });
  t.is(bulk.status, 200);
  t.like(await bulk.json(), { matched: 3, done: 3 });
  // Asked again, nothing is left to cancel: nothing more is counted.
  t.like(await (await app.post("/admin/bulk/cancel-queued", { confirm: "yes" }, { Cookie: cookie, Accept: "application/json" })).json(), {
    matched: 0,
  });
  t.is((await app.post(`/admin/jobs/${one}/cancel`, {}, { Cookie: cookie, Accept: "application/json" })).status, 409);

  for (const id of [one, ...many]) {
    const ends = endsOf(log.records, id);
    t.is(ends.length, 1, id);
    t.like(ends[0], { state: "cancelled", reason: "cancelled", seen: "cancel" });
  }
  t.is(await counter(app, "sidejob_jobs_submitted_total", { type: "count" }), 4);
  t.is(await counter(app, "sidejob_jobs_finished_total", { type: "count", state: "cancelled", reason: "cancelled" }), 4);
});

import test from "ava";
import { useRedis } from "../support/redis.ts";
import { fixtureScript, startApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

test("a queued job is cancelled at once, shows its place in line before, and never starts", async (t) => {
  const app = await startApp(t, { redis, name: "cancel-queued", env: { JOB_CONCURRENCY_COUNT: "1", COUNT_STEP_DELAY_MS: "200" } });
  const busy = await app.submit(LONG_COUNT);
  await app.waitForState(busy, "running");
  const second = await app.submit(LONG_COUNT);
  const third = await app.submit(LONG_COUNT);
  t.regex(await (await app.get(`/jobs/${third}`)).text(), /2nd in line/);
  t.is((await app.store.read(second))?.queuePosition, 0);

  const res = await app.post(`/jobs/${second}/cancel`, "");
  t.is(res.status, 303);
  t.is(res.headers.get("location"), `/jobs/${second}`);
  const job = await app.store.read(second);
  t.is(job?.state, "cancelled");
  t.is(job?.pid, null, "no process was started for it");
  t.regex(await (await app.get(`/jobs/${third}`)).text(), /1st in line/);
  const html = await (await app.get(`/jobs/${second}/status?shown=queued`)).text();
  t.regex(html, /Status: Cancelled/);
  t.regex(html, /<p id="job-announce" hx-swap-oob="innerHTML">Cancelled/);

  await app.post(`/jobs/${busy}/cancel`, "");
  await app.post(`/jobs/${third}/cancel`, "");
  await app.waitForState(busy, "cancelled");
});

test("a running job stops cleanly at its next report when cancelled, from a JSON client too", async (t) => {
  const app = await startApp(t, { redis, name: "cancel-running", env: { COUNT_STEP_DELAY_MS: "300" } });
  const id = await app.submit(LONG_COUNT);
  const running = await app.waitForState(id, "running");
  const res = await fetch(`${app.url}/jobs/${id}/cancel`, { method: "POST", headers: { Accept: "application/json" } });
  t.is(res.status, 202);
  t.like(await res.json(), { id, outcome: "requested" });
  const job = await app.waitForState(id, "cancelled");
  t.is(job.reason, "cancelled");
  t.is(job.signal, null, "it stopped by itself, no signal needed");
  t.true(job.done < 1000);
  t.deepEqual(
    job.results,
    Array.from({ length: job.done }, (_, i) => i + 1),
  );
  await waitFor(() => !isAlive(running.pid!), { message: "the job process to exit" });
  t.regex(await (await app.get(`/jobs/${id}`)).text(), /Cancelled after \d+ of 1,000 values/);
});

test("a job that ignores its cancel request is killed after the grace period and still ends cancelled", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "cancel-ignored",
    script: fixtureScript("ignore-cancel"),
    env: { JOB_CANCEL_GRACE_MS: "300" },
  });
  const id = await app.submit(LONG_COUNT);
  const running = await app.waitForState(id, "running");
  t.is((await app.post(`/jobs/${id}/cancel`, "")).status, 303);
  // SIGTERM after the grace (ignored by this script), SIGKILL 2 s later.
  const job = await app.waitForState(id, "cancelled");
  t.true(job.finishedAt! - job.cancelRequestedAt! >= 300, "it ended after the grace period, by the record's own times");
  t.is(job.signal, "SIGKILL");
  t.false(isAlive(running.pid!));
});

test("cancelling a finished job changes nothing and answers 409", async (t) => {
  const app = await startApp(t, { redis, name: "cancel-finished" });
  const id = await app.submit({ start: "1", end: "3", increment: "1" });
  const before = await app.waitForState(id, "succeeded");
  const res = await app.post(`/jobs/${id}/cancel`, "");
  t.is(res.status, 409);
  t.regex(await res.text(), /already ended \(succeeded\)/);
  const after = await app.store.read(id);
  t.deepEqual({ ...after, readAt: 0 }, { ...before, readAt: 0 });
  t.is((await app.post("/jobs/0123456789abcdef0123456789abcdef/cancel", "")).status, 404);
});

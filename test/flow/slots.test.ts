// JOB_SLOTS caps an instance's job processes, all types together; each
// type's concurrency applies inside it. JOB_SLOTS=0 is a web-only instance;
// JOB_CONCURRENCY_<TYPE>=0 leaves a type out. Several instances on one
// Redis: a job submitted to one that does not run its type runs on another.
import test from "ava";
import { startApp, type TestApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

const SHORT = { start: "1", end: "10", increment: "1" };
const NO_RUNNER = /No server runs count jobs right now; it will start when one does\./;

/** The most job processes each app had at once, sampled every 10 ms until stop(). */
function sampleSizes(apps: TestApp[]): { max: number[]; stop: () => void } {
  const max = apps.map(() => 0);
  const timer = setInterval(() => apps.forEach((a, i) => (max[i] = Math.max(max[i]!, a.supervisor.size))), 10);
  return { max, stop: () => clearInterval(timer) };
}

test("a type's concurrency above JOB_SLOTS is capped at JOB_SLOTS", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "slots-cap",
    env: { JOB_SLOTS: "2", JOB_CONCURRENCY_COUNT: "8", COUNT_STEP_DELAY_MS: "200" },
  });
  t.deepEqual(app.supervisor.facts().types.count, { used: 0, total: 2 });
  t.is(app.supervisor.facts().slotsTotal, 2);
  for (let i = 0; i < 4; i++) await app.submit(LONG_COUNT);
  await waitFor(() => app.supervisor.size === 2, { message: "two jobs running" });
  // Another pass finds no free slot: the other two stay queued.
  await app.supervisor.pump();
  t.is(app.supervisor.size, 2);
  t.is(await app.store.queueLength(), 2, "the other two wait");
});

test("JOB_SLOTS=0 runs no job: a submit queues and stays queued, and with JOB_QUEUE_MAX=0 it is refused", async (t) => {
  const app = await startApp(t, { redis, name: "slots-zero", env: { JOB_SLOTS: "0" } });
  const id = await app.submit(SHORT);
  await app.supervisor.tick();
  t.is(app.supervisor.size, 0);
  t.is((await app.store.read(id))!.state, "queued");
  t.is(app.supervisor.facts().slotsTotal, 0);

  const noWait = await startApp(t, { redis, name: "slots-zero-nowait", env: { JOB_SLOTS: "0", JOB_QUEUE_MAX: "0" } });
  t.is((await noWait.post("/count", SHORT)).status, 503);
});

test("JOB_CONCURRENCY_<TYPE>=0 never runs that type, and its form is still offered", async (t) => {
  const app = await startApp(t, { redis, name: "type-zero", env: { JOB_CONCURRENCY_COUNT: "0" } });
  const home = await app.get("/");
  t.regex(await home.text(), /action="\/count"/);
  const id = await app.submit(SHORT);
  await app.supervisor.tick();
  t.is(app.supervisor.size, 0);
  t.is((await app.store.read(id))!.state, "queued");
  t.deepEqual(app.supervisor.facts().types.count, { used: 0, total: 0 });
});

test("a web-only instance accepts a job only another instance runs; it runs there, and neither exceeds its cap", async (t) => {
  const web = await startApp(t, { redis, name: "web-only", env: { JOB_SLOTS: "0" } });
  const worker = await startApp(t, { redis, prefix: web.prefix, env: { JOB_SLOTS: "1", COUNT_STEP_DELAY_MS: "30" } });
  const sizes = sampleSizes([web, worker]);
  t.teardown(sizes.stop);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await web.submit(SHORT));
  for (const id of ids) t.deepEqual((await web.waitForState(id, "succeeded")).results, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  sizes.stop();
  t.is(sizes.max[0], 0, "the web-only instance started no process");
  t.is(sizes.max[1], 1, "the other ran them, one at a time");
});

test("a queued job's page says when no live instance runs its type, and not when one does", async (t) => {
  const web = await startApp(t, { redis, name: "no-runner", env: { JOB_SLOTS: "0" } });
  const id = await web.submit(SHORT);
  const page = await (await web.get(`/jobs/${id}`, { Accept: "text/html" })).text();
  t.regex(page, NO_RUNNER);

  // An instance that runs count, kept busy so the next job waits: that job's page has no such note.
  const worker = await startApp(t, {
    redis,
    prefix: web.prefix,
    env: { JOB_CONCURRENCY_COUNT: "1", COUNT_STEP_DELAY_MS: "200" },
  });
  await worker.waitForState(id, "succeeded");
  await worker.submit(LONG_COUNT);
  await waitFor(() => worker.supervisor.size === 1, { message: "the worker's slot taken" });
  await worker.supervisor.heartbeat();
  const waiting = await worker.submit(SHORT);
  // A second app with the same prefix reads the heartbeats afresh (the web app may keep its last read a few seconds).
  const reader = await startApp(t, { redis, prefix: web.prefix, env: { JOB_SLOTS: "0" } });
  t.is((await reader.store.read(waiting))!.state, "queued");
  const busy = await (await reader.get(`/jobs/${waiting}`, { Accept: "text/html" })).text();
  t.notRegex(busy, NO_RUNNER);
});

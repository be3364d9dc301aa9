// JOB_QUEUE_MAX=0: no waiting. A job is accepted only when this instance has
// a free slot for its type right now, and it starts at once; otherwise 503.
import test from "ava";
import { startApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";
import { LONG_COUNT } from "../support/http.ts";

const redis = useRedis(test);

test("with JOB_QUEUE_MAX=0 a job starts at once while a slot is free, and the next is refused with 503 and nothing written", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "no-wait",
    env: { JOB_QUEUE_MAX: "0", JOB_CONCURRENCY_COUNT: "1", COUNT_STEP_DELAY_MS: "200" },
  });
  const first = await app.submit(LONG_COUNT);
  t.is(app.supervisor.size, 1, "its process was started before the answer");
  t.is(await app.store.queueLength(), 0, "it never waited in the queue");
  await app.waitForState(first, "running");

  // The running job adds its own keys (results, log) as it goes, so compare
  // everything but the first job's keys.
  const others = async () => (await keysUnder(redis.client, app.prefix)).filter((key) => !key.includes(first)).sort();
  const before = await others();
  const refused = await app.post("/count", { start: "1", end: "2", increment: "1" });
  t.is(refused.status, 503);
  t.truthy(refused.headers.get("retry-after"));
  t.deepEqual(await others(), before, "nothing was written");

  // Once the slot is free again, a job is accepted and runs.
  await app.post(`/jobs/${first}/cancel`, "");
  await app.waitForState(first, "cancelled");
  await app.supervisor.idle();
  const second = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(second, "succeeded");
});

test("with JOB_QUEUE_MAX=0 an instance that takes no jobs refuses every job", async (t) => {
  const app = await startApp(t, { redis, name: "no-slots", takesJobs: false, env: { JOB_QUEUE_MAX: "0" } });
  t.is((await app.post("/count", { start: "1", end: "2", increment: "1" })).status, 503);
  t.deepEqual(await keysUnder(redis.client, app.prefix), []);
});

import test from "ava";
import { startApp } from "../support/app.ts";
import { processesIn } from "../support/procs.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

/** Ten times the slots: enough to fill them over and over. The time of a larger burst is the bench's to measure. */
const JOBS = 40;

test(`a burst of ${JOBS} jobs with JOB_CONCURRENCY_COUNT=4 all succeed, never more than 4 processes at once`, async (t) => {
  const app = await startApp(t, { redis, name: "burst", env: { JOB_CONCURRENCY_COUNT: "4" } });
  // Every few ms, the app's job processes (they run in its log folder); each lives 50 ms or more.
  let most = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, processesIn(app.logDir).length);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();

  const ids = new Set(await Promise.all(Array.from({ length: JOBS }, () => app.submit({ start: "1", end: "5", increment: "1" }))));
  t.is(ids.size, JOBS);
  await waitFor(
    async () => {
      const jobs = await Promise.all([...ids].map((id) => app.store.read(id)));
      return jobs.every((job) => job && job.state !== "queued" && job.state !== "running");
    },
    { timeout: 50_000, interval: 200, message: "every job to end" },
  );
  sampling = false;
  await sampler;

  const jobs = await Promise.all([...ids].map((id) => app.store.read(id)));
  t.is(jobs.filter((job) => job?.state === "succeeded").length, JOBS);
  t.deepEqual(jobs.find((job) => job?.state !== "succeeded") ?? null, null);
  t.is(await app.store.queueLength(), 0);
  t.deepEqual(await app.store.leasedIds(), []);
  t.true(most <= 4, `at most 4 job processes at once, saw ${most}`);
  t.true(most >= 2, `the slots were used (saw ${most})`);
  t.log(`at most ${most} job processes at once over ${samples} samples`);
});

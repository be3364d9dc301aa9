import test from "ava";
import { startApp } from "./support/app.ts";
import { jobProcesses } from "./support/procs.ts";
import { useRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

const redis = useRedis(test);

test("a burst of 200 jobs with JOB_CONCURRENCY=4 all succeed, never more than 4 processes at once", async (t) => {
  t.timeout(120_000);
  const app = await startApp(t, { redis, name: "burst", env: { JOB_CONCURRENCY: "4" } });
  const ids = new Set<string>();
  let most = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, jobProcesses(ids).length);
      samples++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();

  const started = Date.now();
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      ids.add(await app.submit({ start: "1", end: "5", increment: "1" }));
    }),
  );
  t.is(ids.size, 200);
  await waitFor(
    async () => {
      const jobs = await Promise.all([...ids].map((id) => app.store.read(id)));
      return jobs.every((job) => job && job.state !== "queued" && job.state !== "running");
    },
    { timeout: 100_000, interval: 200, message: "every job to end" },
  );
  const wall = Date.now() - started;
  sampling = false;
  await sampler;

  const jobs = await Promise.all([...ids].map((id) => app.store.read(id)));
  t.is(jobs.filter((job) => job?.state === "succeeded").length, 200);
  t.deepEqual(jobs.find((job) => job?.state !== "succeeded") ?? null, null);
  t.is(await app.store.queueLength(), 0);
  t.deepEqual(await app.store.leasedIds(), []);
  t.true(most <= 4, `at most 4 job processes at once, saw ${most}`);
  t.true(most >= 2, `the slots were used (saw ${most})`);
  t.log(`200 jobs in ${wall} ms; at most ${most} job processes at once over ${samples} samples`);
});

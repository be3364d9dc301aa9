import test from "ava";
import { useRedis } from "../support/redis.ts";
import { fixtureScript, startApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

test("a job stopped past its lease is declared lost, and its late writes are refused when it continues", async (t) => {
  // A lease of 2.5 x 500 ms: short enough to wait for, long enough that a busy machine does not let it lapse before the stop.
  // One attempt: the lost job ends (test/flow/retries.test.ts runs it again).
  const app = await startApp(t, {
    redis,
    name: "sigstop",
    env: { JOB_HEARTBEAT_MS: "500", COUNT_STEP_DELAY_MS: "50", JOB_MAX_ATTEMPTS: "1" },
  });
  const id = await app.submit(LONG_COUNT);
  const running = await app.waitForState(id, "running");
  await waitFor(async () => ((await app.store.read(id))?.done ?? 0) >= 2, { message: "a few values" });
  process.kill(running.pid!, "SIGSTOP");
  const lost = await app.waitForState(id, "failed");
  t.is(lost.reason, "lost");
  t.false(await app.store.leasedIds().then((ids) => ids.includes(id)), "it left the lease index");

  process.kill(running.pid!, "SIGCONT");
  await waitFor(() => !isAlive(running.pid!), { message: "the fenced process to exit" });
  await app.supervisor.idle();
  const after = await app.store.read(id);
  // Its log may gain the line that says it stopped (a log is not the job's state); nothing else changes.
  const state = (job: typeof after) => ({ ...job, readAt: 0, logCount: 0, logTail: [], logDropped: 0 });
  t.deepEqual(state(after), state(lost), "the record did not change");
});

test("reading a job whose lease has expired records it lost at once", async (t) => {
  // The hang fixture blocks its event loop: no heartbeat. No sweep runs in
  // this app (its supervisor is closed), so only the read can notice.
  const app = await startApp(t, {
    redis,
    name: "lease-read",
    script: fixtureScript("hang"),
    env: { JOB_HEARTBEAT_MS: "500", JOB_MAX_ATTEMPTS: "1" },
  });
  const id = await app.submit(LONG_COUNT);
  await app.waitForState(id, "running");
  await waitFor(async () => ((await app.store.read(id))?.done ?? 0) >= 1);
  await app.supervisor.close();
  const html = await waitFor(
    async () => {
      const page = await (await app.get(`/jobs/${id}/status?shown=running`)).text();
      return page.includes("Status: Failed") ? page : null;
    },
    { message: "the status read to record the lost job" },
  );
  t.regex(html, /stopped responding/);
  t.is((await app.store.read(id))?.reason, "lost");
  t.true((await app.store.leasedIds()).length === 0);
});

test("the status page of a running job says how long it has run and about how long is left", async (t) => {
  const app = await startApp(t, { redis, name: "elapsed", env: { COUNT_STEP_DELAY_MS: "300" } });
  const id = await app.submit({ start: "1", end: "5", increment: "1" });
  await app.waitForState(id, "running");
  t.regex(await (await app.get(`/jobs/${id}`)).text(), /Running for [^<]+/);
  await app.waitForState(id, "succeeded");
});

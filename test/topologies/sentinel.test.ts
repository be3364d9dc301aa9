// sidejob on Redis with Sentinel (one master, one replica, three sentinels,
// all real processes): the core flow, and the master killed mid-job.
import { spawn } from "node:child_process";
import test from "ava";
import { connectRedis, waitUntilReady, WEB_COMMAND_TIMEOUT_MS } from "../../jobs/core/redis.ts";
import { JobStore, StoreUnavailableError } from "../../jobs/core/store.ts";
import { freePort } from "../support/ports.ts";
import { useSentinel } from "../support/sentinel.ts";
import { submit, waitForState, watchAnswers } from "../support/http.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const sentinel = useSentinel(test);

const count = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test.serial("the core flow through Sentinel: a count submitted, run and shown", async (t) => {
  const env = serverEnv(sentinel, "core", { COUNT_STEP_DELAY_MS: "0" });
  const server = await startServer(t, env);
  t.regex(server.output(), /listening on .*the master sidejob-test through the sentinels at REDIS_SENTINELS=/);
  const id = await submit(server.url, { start: "1", end: "5", increment: "1" });
  t.deepEqual((await waitForState(server.url, id, "succeeded")).results, count(5));
});

test.serial(
  "the master killed mid-job: pages answer 503 during the switch, the server runs on, jobs reconnect and every job ends in a true state",
  async (t) => {
    t.timeout(120_000);
    const STEPS = 30;
    // A lease of 15 s, longer than the switch (about 2.5 s here): jobs are expected to ride it out (see README).
    const env = serverEnv(sentinel, "failover", { COUNT_STEP_DELAY_MS: "150", JOB_HEARTBEAT_MS: "5000" });
    const server = await startServer(t, env);
    const ids = await Promise.all([1, 2, 3].map(() => submit(server.url, { start: "1", end: String(STEPS), increment: "1" })));
    const before = await Promise.all(ids.map((id) => waitForState(server.url, id, "running")));
    await waitFor(async () => (await waitForState(server.url, ids[0]!, "running")).done >= 2, { message: "progress before the kill" });

    // A page read every 50 ms, from before the kill until the server answers 200 again after the switch.
    const watch = watchAnswers(`${server.url}/jobs/${ids[0]}`);
    const oldPort = await sentinel.killMaster();
    const newPort = await sentinel.waitForNewMaster(oldPort);
    t.log(`master ${oldPort} killed; ${newPort} promoted`);
    await waitFor(() => watch.statuses.includes(503) && watch.statuses.lastIndexOf(200) > watch.statuses.indexOf(503), {
      message: () => `a 503 during the switch, then a 200 (answers: ${watch.statuses.join(",")})`,
    });
    await watch.stop();

    t.deepEqual(watch.failures, [], "every request was answered");
    t.true(
      watch.statuses.every((s) => s === 200 || s === 503),
      `only pages or 503 pages: ${watch.statuses.join(",")}`,
    );
    t.regex(watch.first503, /<html[\s\S]*The job store \(Redis\) cannot be reached right now/);
    t.is(server.proc.exitCode, null, "the server runs on");

    // Each job ends true: all its values, once each, or recorded lost.
    const ended = await Promise.all(ids.map((id) => waitForState(server.url, id, ["succeeded", "failed"], 40_000)));
    t.log(`after the failover: ${ended.map((j) => `${j.state}${j.reason ? ` (${j.reason})` : ""}`).join(", ")}`);
    for (const job of ended) {
      if (job.state === "succeeded") t.deepEqual(job.results, count(STEPS), `job ${job.id}'s results, each once`);
      else t.is(job.reason, "lost", `job ${job.id} failed: ${job.reason}`);
    }
    // The status cache was emptied by the switch and is back on the new master: each poll shows the end the JSON shows.
    for (const job of ended) {
      const poll = await fetch(`${server.url}/jobs/${job.id}/status?shown=running`, { headers: { "HX-Request": "true" } });
      t.is(poll.status, 286, `job ${job.id}'s poll`);
      t.regex(await poll.text(), new RegExp(`class="job-status state-${job.state}"`), `job ${job.id}'s poll shows its end`);
    }
    // Reconnected: a process that ran before the kill recorded its own end on the new master.
    t.true(
      ended.some((job, i) => job.state === "succeeded" && job.pid === before[i]!.pid),
      "a job process reconnected to the new master and finished its job",
    );
    // And the server works on the new master.
    const after = await submit(server.url, { start: "1", end: "3", increment: "1" });
    t.deepEqual((await waitForState(server.url, after, "succeeded")).results, count(3));
  },
);

test("a replica cut off from its master (MASTERDOWN) is Redis unavailable for the store, a 503, not a refused command", async (t) => {
  const [port, nowhere] = [await freePort(), await freePort()];
  const proc = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--replicaof",
      "127.0.0.1",
      String(nowhere),
      "--replica-serve-stale-data",
      "no",
    ],
    { stdio: "ignore" },
  );
  t.teardown(() => proc.kill("SIGKILL"));
  const url = `redis://127.0.0.1:${port}`;
  const redis = connectRedis(url, "web");
  t.teardown(() => redis.disconnect());
  await waitUntilReady(redis, url, 10_000);
  const store = new JobStore(redis, { prefix: "masterdown", ttlSucceededS: 60, ttlFailedS: 60, deadlineMs: WEB_COMMAND_TIMEOUT_MS });
  const err = await t.throwsAsync(store.read("0123456789abcdef0123456789abcdef"), { instanceOf: StoreUnavailableError });
  t.regex(err.message, /MASTERDOWN/);
});

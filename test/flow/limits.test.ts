import test from "ava";
import { keysUnder, useRedis } from "../support/redis.ts";
import { fixtureScript, startApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

test("a job past its time limit is stopped with signals and ends failed, timed out", async (t) => {
  // 3 s: the limit counts from the claim, and on a busy machine a process can take a second or more to start.
  const app = await startApp(t, { redis, name: "timeout-hang", script: fixtureScript("hang"), env: { JOB_TIMEOUT_MS: "3000" } });
  // Straight to failed: the time limit can pass between two reads on a busy machine.
  const job = await app.waitForState(await app.submit(LONG_COUNT), "failed");
  t.like(job, { reason: "timeout", timeoutMs: 3000 });
  t.truthy(job.pid, "it had started");
  await waitFor(() => !isAlive(job.pid!), { message: "the process to be killed" });
});

test("a job that keeps its event loop free stops itself at the time limit", async (t) => {
  // 3 s, counted from the claim: on a busy machine the process may take a second or more to start.
  const app = await startApp(t, { redis, name: "timeout-self", env: { JOB_TIMEOUT_MS: "3000", COUNT_STEP_DELAY_MS: "100" } });
  const id = await app.submit(LONG_COUNT);
  const job = await app.waitForState(id, "failed");
  t.like(job, { reason: "timeout", timeoutMs: 3000 });
  t.falsy(job.signal, "it stopped itself: no signal ended it");
  t.true(job.done < 1000, "it stopped before the end of its count");
});

test("every key of a finished job has a TTL, and it leaves every index but the jobs list's set of its end state", async (t) => {
  const app = await startApp(t, { redis, name: "ttl", env: { JOB_TTL_SUCCEEDED_S: "100", JOB_TTL_FAILED_S: "200" } });
  const ok = await app.submit({ start: "1", end: "10", increment: "1" });
  await app.waitForState(ok, "succeeded");
  await app.supervisor.idle();
  const keys = await keysUnder(redis.client, app.prefix);
  const jobKeys = keys.filter((k) => k.includes(ok));
  t.is(jobKeys.length, 2, "the record and its results");
  for (const key of jobKeys) {
    const ttl = await redis.client.ttl(key);
    t.true(ttl > 90 && ttl <= 100, `${key}: ${ttl}`);
  }
  for (const key of keys.filter((k) => !k.includes(ok))) {
    const type = await redis.client.type(key);
    if (type === "hash") continue;
    const members = type === "zset" ? await redis.client.zrange(key, "0", "-1") : await redis.client.lrange(key, 0, -1);
    // The jobs list (admin) shows the job until its keys expire.
    if (key.endsWith(":ix:count:succeeded")) t.true(members.includes(ok), `${key} lists the job`);
    else t.false(members.includes(ok), `${key} no longer lists the job`);
  }
});

test("failed and cancelled jobs keep for JOB_TTL_FAILED_S", async (t) => {
  const app = await startApp(t, { redis, name: "ttl-failed", script: fixtureScript("throws"), env: { JOB_TTL_FAILED_S: "200" } });
  const id = await app.submit(LONG_COUNT);
  await app.waitForState(id, "failed");
  for (const key of (await keysUnder(redis.client, app.prefix)).filter((k) => k.includes(id))) {
    const ttl = await redis.client.ttl(key);
    t.true(ttl > 190 && ttl <= 200, `${key}: ${ttl}`);
  }
});

test("an expired job answers 404 with a page that says jobs are kept for a limited time", async (t) => {
  const app = await startApp(t, { redis, name: "expired", env: { JOB_TTL_SUCCEEDED_S: "1" } });
  const id = await app.submit({ start: "1", end: "2", increment: "1" });
  // Not waiting to see it succeed: on a busy machine it can succeed and expire between two reads.
  const res = await waitFor(
    async () => {
      const r = await app.get(`/jobs/${id}`);
      return r.status === 404 ? r : null;
    },
    { message: "the job to expire" },
  );
  t.regex(await res.text(), /kept for 1 s after they succeed/);
  t.deepEqual(
    (await keysUnder(redis.client, app.prefix)).filter((k) => k.includes(id)),
    [],
  );
});

test("with JOB_QUEUE_MAX jobs waiting, POST /count answers 503 with Retry-After and writes nothing", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "queue-full",
    env: { JOB_CONCURRENCY_COUNT: "1", JOB_QUEUE_MAX: "1", COUNT_STEP_DELAY_MS: "200" },
  });
  const running = await app.submit(LONG_COUNT);
  await app.waitForState(running, "running");
  const waiting = await app.submit(LONG_COUNT);
  // The running job adds its own keys (results, log) as it goes.
  const others = async () => (await keysUnder(redis.client, app.prefix)).filter((key) => !key.includes(running)).sort();
  const before = await others();
  const res = await app.post("/count", LONG_COUNT);
  t.is(res.status, 503);
  t.is(res.headers.get("retry-after"), "30");
  t.regex(await res.text(), /Too many jobs are waiting/);
  t.deepEqual(await others(), before);
  for (const id of [waiting, running]) await app.post(`/jobs/${id}/cancel`, "");
  await app.waitForState(running, "cancelled");
});

test("job logs older than the longest retention are deleted, newer ones kept", async (t) => {
  const app = await startApp(t, { redis, name: "logs", env: { JOB_TTL_SUCCEEDED_S: "60", JOB_TTL_FAILED_S: "120" } });
  const fs = await import("node:fs");
  const old = `${app.logDir}/${"a".repeat(32)}.log`;
  const fresh = `${app.logDir}/${"b".repeat(32)}.log`;
  const other = `${app.logDir}/notes.txt`;
  for (const f of [old, fresh, other]) fs.writeFileSync(f, "x\n");
  const past = new Date(Date.now() - 121_000);
  fs.utimesSync(old, past, past);
  fs.utimesSync(other, past, past);
  t.is(await app.supervisor.deleteOldLogs(), 1);
  t.false(fs.existsSync(old));
  t.true(fs.existsSync(fresh));
  t.true(fs.existsSync(other), "only job logs are touched");
});

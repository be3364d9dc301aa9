// Lost jobs run again (docs/job-types.md, "Retries"): a job whose process
// stops reporting is recorded lost and queued for another attempt, which runs
// and succeeds; its attempts show in its JSON, its page and /admin; attempts
// run out; a program's own failure is retried only when its type says so; a
// cancel is never retried. Real job processes; a stopped process (SIGSTOP)
// is a host that no longer answers. The death of a whole host (its server
// and the job's process group SIGKILLed): test/processes/lost-host.test.ts.
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { fixtureScript, startApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { isAlive } from "../support/procs.ts";
import { DEFAULT_TIMEOUT, waitFor } from "../support/wait.ts";

const redis = useRedis(test);

const ADMIN_ENV = { ADMIN_PASSWORD: "correct horse battery staple", SESSION_SECRET: "s".repeat(40) };

interface AttemptsJson {
  state: string;
  reason: string | null;
  attempt: number;
  maxAttempts: number;
  attempts: { attempt: number; reason: string; endedAt: string; exitCode: number | null }[];
  nextAttemptAt: string | null;
  results: number[];
}

async function json(app: TestApp, id: string): Promise<AttemptsJson> {
  return (await (await app.get(`/jobs/${id}`, { Accept: "application/json" })).json()) as AttemptsJson;
}

/** Queues a job of a fixture type through the supervisor (as a submit does: with its type's retry policy). */
async function submitType(app: TestApp, type: string): Promise<string> {
  return app.supervisor.submit({ type, params: {}, total: 0 });
}

async function retriedCount(app: TestApp, type: string, reason: string): Promise<number> {
  const metric = await app.telemetry.metrics.retried.get();
  return metric.values.find((v) => v.labels.type === type && v.labels.reason === reason)?.value ?? 0;
}

test("a job whose process stops reporting runs again and succeeds, attempt 2 of 3, and the stopped process, woken, changes nothing", async (t) => {
  // The default lease (2.5 x 1 s): a busy machine does not stall the second attempt that long. 100 values 50 ms
  // apart: the second attempt runs 5 s, long enough to wake the first meanwhile.
  const app = await startApp(t, { redis, name: "retry-stop", env: { COUNT_STEP_DELAY_MS: "50" } });
  const id = await app.submit({ start: "1", end: "100", increment: "1" });
  const first = await app.waitForState(id, "running");
  await waitFor(async () => ((await app.store.read(id))?.done ?? 0) >= 2, { message: "a few values" });
  process.kill(first.pid!, "SIGSTOP");
  t.teardown(() => {
    if (isAlive(first.pid!)) process.kill(first.pid!, "SIGKILL");
  });

  const second = await waitFor(
    async () => {
      const job = await app.store.read(id);
      return job?.state === "running" && job.attempt === 2 ? job : null;
    },
    { message: "the second attempt to start" },
  );
  t.not(second.pid, first.pid);
  t.is(await retriedCount(app, "count", "lost"), 1, "the attempt is counted apart from jobs");
  process.kill(first.pid!, "SIGCONT");
  await waitFor(() => !isAlive(first.pid!), { message: "the woken process to stop: it is fenced" });

  const done = await app.waitForState(id, "succeeded", DEFAULT_TIMEOUT + 5000);
  t.like(done, { attempt: 2, maxAttempts: 3, pid: second.pid });
  t.deepEqual(
    (await app.store.read(id, "all"))!.results,
    Array.from({ length: 100 }, (_, i) => i + 1),
    "each value once: the first attempt's results are gone, and its process added none",
  );

  const body = await json(app, id);
  t.like(body, { state: "succeeded", attempt: 2, maxAttempts: 3, nextAttemptAt: null });
  t.is(body.attempts.length, 1);
  t.like(body.attempts[0], { attempt: 1, reason: "lost" });
  const page = await (await app.get(`/jobs/${id}`)).text();
  t.regex(page, /Attempt 2 of 3/);
  t.regex(page, /Attempt 1 stopped responding/);
});

test("a job lost on every attempt ends failed (lost) once its attempts are used up, each one listed in its JSON and in /admin", async (t) => {
  // The hang fixture blocks its event loop after one value: every attempt is lost.
  const app = await startApp(t, {
    redis,
    name: "retry-used-up",
    script: fixtureScript("hang"),
    env: { ...ADMIN_ENV, JOB_HEARTBEAT_MS: "500", JOB_MAX_ATTEMPTS: "2" },
  });
  const id = await app.submit({ start: "1", end: "5", increment: "1" });
  const ended = await app.waitForState(id, "failed", 2 * DEFAULT_TIMEOUT);
  t.like(ended, { reason: "lost", attempt: 2, maxAttempts: 2 });
  const body = await json(app, id);
  t.like(body, { state: "failed", reason: "lost", attempt: 2, maxAttempts: 2 });
  t.deepEqual(
    body.attempts.map((a) => [a.attempt, a.reason]),
    [[1, "lost"]],
  );
  t.regex(await (await app.get(`/jobs/${id}`)).text(), /Attempt 2 of 2/);

  const login = await app.post("/admin/login", { password: ADMIN_ENV.ADMIN_PASSWORD, next: "/admin" });
  t.is(login.status, 303);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const admin = await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie })).text();
  t.regex(admin, /<h2 id="attempts-title">Attempts<\/h2>/);
  t.regex(admin, /<td>1<\/td><td>lost<\/td>/);
  t.regex(admin, /<td>2<\/td><td>lost<\/td>/);
});

test("a program's failure (exit code) is not retried, unless its type lists exit-code in retryOn", async (t) => {
  const app = await startApp(t, { redis, name: "retry-exit", ...WITH_FIXTURE_TYPES });
  const plain = await submitType(app, "sh-exit");
  const opted = await submitType(app, "sh-exit-retried");
  const once = await app.waitForState(plain, "failed");
  t.like(once, { reason: "exit-code", attempt: 1, attempts: [] });
  const twice = await app.waitForState(opted, "failed");
  t.like(twice, { reason: "exit-code", exitCode: 3, attempt: 2, maxAttempts: 2 });
  t.deepEqual(
    twice.attempts.map((a) => [a.attempt, a.reason, a.exitCode]),
    [[1, "exit-code", 3]],
  );
  // Reported once the first attempt's process has exited and its exit was recorded, which may come after the second's end.
  await waitFor(async () => (await retriedCount(app, "sh-exit-retried", "exit-code")) >= 1, { message: "the retry to be counted" });
  await app.supervisor.idle();
  t.is(await retriedCount(app, "sh-exit-retried", "exit-code"), 1);
  t.is(await retriedCount(app, "sh-exit", "exit-code"), 0);
});

test("a cancelled job is never retried, and a cancel of a job waiting for its next attempt cancels it", async (t) => {
  const app = await startApp(t, { redis, name: "retry-cancel", env: { COUNT_STEP_DELAY_MS: "50" }, ...WITH_FIXTURE_TYPES });
  const running = await app.submit({ start: "1", end: "1000", increment: "1" });
  await app.waitForState(running, "running");
  t.is((await app.post(`/jobs/${running}/cancel`, {})).status, 303);
  t.like(await app.waitForState(running, "cancelled"), { attempt: 1, attempts: [] });

  // Its first attempt fails; the next waits 10 minutes.
  const waiting = await submitType(app, "sh-exit-backoff");
  const queued = await waitFor(
    async () => {
      const job = await app.store.read(waiting);
      return job?.state === "queued" && job.attempt === 2 ? job : null;
    },
    { message: "the job to wait for its second attempt" },
  );
  t.true(queued.notBefore! > queued.readAt + 60_000, "not before its backoff");
  const body = await json(app, waiting);
  t.truthy(body.nextAttemptAt);
  t.regex(await (await app.get(`/jobs/${waiting}`)).text(), /Attempt 2 of 2[^<]*<\/strong>\. It starts again in about \d+ min/);
  t.is((await app.post(`/jobs/${waiting}/cancel`, {})).status, 303);
  const cancelled = await app.waitForState(waiting, "cancelled");
  t.like(cancelled, { reason: "cancelled", attempt: 2 });
  t.deepEqual(
    cancelled.attempts.map((a) => a.reason),
    ["exit-code"],
  );
});

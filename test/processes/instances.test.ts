// Real server processes sharing one Redis: restarts, signals, several instances.
import test, { type ExecutionContext } from "ava";
import { jobJson, LONG_COUNT, submit, waitForState } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { DEFAULT_TIMEOUT, waitFor, within } from "../support/wait.ts";

const redis = useRedis(test, { appendonly: true }); // jobs must survive a restart of Redis

const QUICK = { start: "1", end: "5", increment: "1" };

/** A server on a prefix of its own, and a count of 1 to `end`, 100 ms a value, running under it. */
async function jobRunningUnder(t: ExecutionContext, name: string, end: number, extraEnv: Record<string, string> = {}) {
  const env = serverEnv(redis, name, { COUNT_STEP_DELAY_MS: "100", ...extraEnv });
  const server = await startServer(t, env);
  const id = await submit(server.url, { start: "1", end: String(end), increment: "1" });
  const running = await waitForState(server.url, id, "running");
  return { env, server, id, running };
}

// Serial: the Redis restart in the last test would disturb the others.
test.serial("two instances share one Redis: submit on one, watch and cancel on the other", async (t) => {
  const env = serverEnv(redis, "two", { COUNT_STEP_DELAY_MS: "100" });
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)]);
  const quick = await submit(a.url, QUICK);
  const done = await waitForState(b.url, quick, "succeeded");
  t.deepEqual(done.results, [1, 2, 3, 4, 5]);
  t.regex(await (await fetch(`${b.url}/jobs/${quick}`)).text(), /5 values, from 1 to 5 by 1/);

  const slow = await submit(a.url, LONG_COUNT);
  await waitForState(b.url, slow, "running");
  const res = await fetch(`${b.url}/jobs/${slow}/cancel`, { method: "POST", redirect: "manual" });
  t.is(res.status, 303);
  const cancelled = await waitForState(a.url, slow, "cancelled");
  t.true(cancelled.done < 1000);
});

test.serial("a job killed after its server is gone is recorded lost by another instance", async (t) => {
  // The lease (2.5 heartbeats) must outlast any stall of the running job on a busy machine, or the job
  // is recorded lost before its server is killed and stops by itself: 2.5 x 3 s. One attempt: the
  // lost job ends (test/flow/retries.test.ts runs one again).
  const HEARTBEAT_MS = 3000;
  const {
    env,
    server: a,
    id,
    running,
  } = await jobRunningUnder(t, "lost", 1000, {
    JOB_HEARTBEAT_MS: String(HEARTBEAT_MS),
    JOB_MAX_ATTEMPTS: "1",
  });
  // Only now the other instance: the job is certainly a's, so b cannot see its process exit.
  const b = await startServer(t, env);
  a.kill("SIGKILL");
  await a.exited;
  t.true(isAlive(running.pid!), "the job outlives its server");
  process.kill(running.pid!, "SIGKILL");
  // Bound: the lease runs out, then b's next sweep (every 0.5 s) records it; the default wait on top.
  const lost = await waitForState(b.url, id, "failed", 3 * HEARTBEAT_MS + DEFAULT_TIMEOUT);
  t.is(lost.reason, "lost");
  t.is(lost.signal, null, "no instance saw the process exit");
});

test.serial("SIGKILL of the server mid-job: the job runs on, and a restarted server shows its result", async (t) => {
  const { env, server: first, id, running } = await jobRunningUnder(t, "restart", 20);
  first.kill("SIGKILL");
  await first.exited;
  const second = await startServer(t, env);
  const done = await waitForState(second.url, id, "succeeded");
  t.is(done.results.length, 20);
  t.is(done.pid, running.pid);
});

test.serial("SIGTERM: the server stops accepting, exits 0, and leaves the job running", async (t) => {
  const { env, server: s, id, running } = await jobRunningUnder(t, "sigterm", 30);
  s.kill("SIGTERM");
  // main.ts forces the exit 4 s after SIGTERM at the latest; how soon it exits is the bench's to measure.
  const { code } = await within(s.exited, 15_000, "the server to exit after SIGTERM");
  t.is(code, 0);
  t.true(isAlive(running.pid!), "the job is still running");
  await t.throwsAsync(fetch(`${s.url}/healthz`), undefined, "no longer accepting");
  const other = await startServer(t, env);
  const done = await waitForState(other.url, id, "succeeded");
  t.is(done.results.length, 30);
});

test.serial("Redis restarted mid-job: the job reconnects and finishes; nothing is lost or stuck", async (t) => {
  const { server: s, id } = await jobRunningUnder(t, "redis-restart", 25, { COUNT_STEP_DELAY_MS: "150" });
  await waitFor(async () => (await jobJson(s.url, id)).done >= 3, { message: "a few values" });
  await redis.stop();
  await redis.start();
  const done = await waitForState(s.url, id, "succeeded", 20_000);
  t.deepEqual(
    done.results,
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
});

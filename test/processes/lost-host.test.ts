// A host's death: the server that started a job and the job's whole process
// group SIGKILLed at once, while another instance runs. The other instance
// records the job lost, queues it again and runs its second attempt to the
// end; the job's JSON and page say "attempt 2 of 3" and why the first ended.
import test from "ava";
import { jobJson, submit, waitForState } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { DEFAULT_TIMEOUT, waitFor } from "../support/wait.ts";

const redis = useRedis(test);

interface Attempts {
  attempt: number;
  maxAttempts: number;
  attempts: { attempt: number; reason: string; pid?: number | null }[];
}

test("a job whose server and process group are SIGKILLed runs again on another instance and succeeds, attempt 2 of 3", async (t) => {
  // 150 values 100 ms apart: 15 s per attempt, so that the first still runs once the other server has started. A lease of 2.5 x 2 s, so that no stall of the second attempt on a
  // busy machine loses it too (the default's detection time is bench:faults' to measure).
  const env = serverEnv(redis, "lost-host", { COUNT_STEP_DELAY_MS: "100", JOB_HEARTBEAT_MS: "2000" });
  const a = await startServer(t, env);
  const id = await submit(a.url, { start: "1", end: "150", increment: "1" });
  const first = await waitForState(a.url, id, "running");
  // Only now the other instance: the job is certainly a's, so b cannot see its process exit.
  const b = await startServer(t, env);
  t.is((await jobJson(b.url, id)).state, "running", "the first attempt still runs");
  a.kill("SIGKILL");
  process.kill(-first.pid!, "SIGKILL");
  await a.exited;
  await waitFor(() => !isAlive(first.pid!), { message: "the job's process to be gone" });

  // Bound: the lease (5 s), b's sweep, the backoff (1 s), a start, 15 s of counting; the default wait on top.
  const done = await waitForState(b.url, id, "succeeded", 22_000 + DEFAULT_TIMEOUT);
  t.deepEqual(
    done.results,
    Array.from({ length: 150 }, (_, i) => i + 1),
  );
  t.not(done.pid, first.pid);
  const body = (await jobJson(b.url, id)) as unknown as Attempts;
  t.like(body, { attempt: 2, maxAttempts: 3 });
  t.is(body.attempts.length, 1);
  t.like(body.attempts[0], { attempt: 1, reason: "lost", pid: first.pid });
  const page = await (await fetch(`${b.url}/jobs/${id}`)).text();
  t.regex(page, /Attempt 2 of 3/);
  t.regex(page, /Attempt 1 stopped responding/);
});

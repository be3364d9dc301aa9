// Hosts are part of the model: a job whose server is gone and which ignores
// its cancel request is killed by an instance on its own host, never by one
// on another (a pid means nothing across hosts). "Another host" here is a
// server in a UTS namespace of its own (`unshare -u`, root only) with its own
// host name, sharing this machine's network and Redis.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import test from "ava";
import { startApp } from "../support/app.ts";
import { LONG_COUNT, submit, waitForState } from "../support/http.ts";
import { isAlive } from "../support/procs.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const OTHER_HOST = "sidejob-other-host";

const canIsolate =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync("unshare", ["-u", "true"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

/** Signals sent to a process and not yet delivered (a stopped process keeps them pending). */
function pendingSignals(pid: number): bigint {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const mask = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s+([0-9a-f]+)`, "m").exec(status)?.[1] ?? "0"}`);
  return mask("SigPnd") | mask("ShdPnd");
}

if (!canIsolate) {
  if (process.env.CI)
    test("the host boundary can be tested: root and unshare -u are available", (t) => t.fail("not root, or unshare -u failed"));
  else test.skip("the host boundary needs root and unshare -u to be tested", () => {});
} else {
  const redis = useRedis(test);

  test("a job on another host that ignores its cancel is not signalled by this host's instance, but by one on its own host", async (t) => {
    t.not(os.hostname(), OTHER_HOST);
    // A long heartbeat: the stopped job's lease outlasts the test, so nothing records it lost meanwhile.
    const env = serverEnv(redis, "hosts", { COUNT_STEP_DELAY_MS: "100", JOB_HEARTBEAT_MS: "20000", JOB_CANCEL_GRACE_MS: "300" });
    const other = await startServer(t, env, { hostname: OTHER_HOST });
    const id = await submit(other.url, LONG_COUNT);
    const running = await waitForState(other.url, id, "running");
    t.is(running.host, OTHER_HOST, "the job runs on the other host");
    const pid = running.pid!;
    // Its server gone, and the job stopped (it ignores everything but SIGKILL, and holds other signals pending).
    other.kill("SIGKILL");
    await other.exited;
    process.kill(pid, "SIGSTOP");

    // An instance on this host takes the cancel; the grace runs out; its sweep sees the due kill.
    const here = await startApp(t, { redis, prefix: env.REDIS_PREFIX, env: { JOB_HEARTBEAT_MS: "20000", JOB_CANCEL_GRACE_MS: "300" } });
    t.is((await here.post(`/jobs/${id}/cancel`, "")).status, 303);
    await waitFor(async () => (await here.store.dueKills()).includes(id), { message: "the cancel's grace to run out" });
    await here.supervisor.tick();
    await here.supervisor.tick();
    // Started, not in flight: the instance's own timer may be checking the job's host at this moment.
    t.is(here.supervisor.remoteKillsStarted, 0, "this host's instance started no kill");
    t.true(isAlive(pid), "the job's process lives");
    t.is(pendingSignals(pid), 0n, "no signal was sent to it from this host");
    t.is((await here.store.read(id, "auto"))?.state, "running");

    // An instance on the job's own host kills it: SIGTERM (held pending by the stopped process), then SIGKILL.
    await startServer(t, env, { hostname: OTHER_HOST });
    await waitFor(() => !isAlive(pid), { timeout: 20_000, message: "the instance on the job's host to kill it" });
    t.pass();
  });
}

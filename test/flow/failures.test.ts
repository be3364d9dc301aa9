import test from "ava";
import { useRedis } from "../support/redis.ts";
import { fixtureScript, startApp } from "../support/app.ts";

const redis = useRedis(test);

const form = { start: "1", end: "100", increment: "1" };

test("a job script that crashes ends failed with its exit code and the last lines it wrote", async (t) => {
  const app = await startApp(t, { redis, name: "crash", script: fixtureScript("crash") });
  const job = await app.waitForState(await app.submit(form), "failed");
  t.is(job.exitCode, 1);
  t.is(job.signal, null);
  t.like(job, { reason: "exit-code", exitCode: 1 });
  t.regex(job.detail ?? "", /fixture crash: something broke/);
  t.deepEqual(job.results, [1]);
  const html = await (await app.get(`/jobs/${job.id}`)).text();
  t.regex(html, /exit code:? 1\b/i);
});

test("a job script that exits non-zero without recording its end ends failed with that code; its log says a report was left unwritten", async (t) => {
  const app = await startApp(t, { redis, name: "exit", script: fixtureScript("exit-code") });
  const job = await app.waitForState(await app.submit(form), "failed");
  t.is(job.exitCode, 3);
  t.regex(job.detail ?? "", /giving up with exit code 3/);
  t.deepEqual(job.results, [1], "its first report was written at once; the second waited, and process.exit() ended it first");
  t.regex(job.detail ?? "", /the job's last reports were not written: it called process\.exit\(\) before they were sent/);
});

test("a job script's own error is recorded with its message", async (t) => {
  const app = await startApp(t, { redis, name: "throws", script: fixtureScript("throws") });
  const job = await app.waitForState(await app.submit(form), "failed");
  t.is(job.error, "fixture: the input could not be processed");
  await app.supervisor.idle();
  const after = await app.store.read(job.id);
  t.is(after?.error, "fixture: the input could not be processed", "the exit does not overwrite the script's verdict");
});

test("a job killed with SIGKILL while its server runs is recorded failed with the signal by that server", async (t) => {
  const app = await startApp(t, { redis, name: "sigkill", env: { COUNT_STEP_DELAY_MS: "200" } });
  const id = await app.submit(form);
  const running = await app.waitForState(id, "running");
  process.kill(running.pid!, "SIGKILL");
  // How soon is measured by bench/faults.ts; here, that the server saw the exit (not a lapsed lease).
  const job = await app.waitForState(id, "failed");
  t.is(job.signal, "SIGKILL");
  t.is(job.exitCode, null);
  t.like(job, { reason: "signal", signal: "SIGKILL" });
  const html = await (await app.get(`/jobs/${id}/status?shown=running`)).text();
  t.regex(html, /Signal: SIGKILL/);
});

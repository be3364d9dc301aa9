// A real Prometheus scraping a real server, with the scrape config of
// docs/operations.md ("Metrics"): the first failure after a restart shows in
// increase(), because its series was scraped at 0 before it. Prometheus
// comes with Debian's prometheus package (.ci/run installs it); without it
// this test fails, it is not skipped.
import test from "ava";
import { jobJson, LONG_COUNT, submit, waitForState } from "../support/http.ts";
import { jsonLines } from "../support/logs.ts";
import { freePort } from "../support/ports.ts";
import { startPrometheus } from "../support/prometheus.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer, type ServerProcess } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);
const TOKEN = "prometheus-test-token-0123456789";
/** Set-up and scrapes on a busy machine: a scrape a second, but a start can take many. */
const SCRAPED = { timeout: 60_000, interval: 250 };

/** The instance id a server writes on its listening line (the metrics' instance_id). */
function instanceOf(server: ServerProcess): string {
  const listening = jsonLines(server.output()).find((l) => l.msg.startsWith("sidejob listening on"));
  if (typeof listening?.instance !== "string") throw new Error(`no listening line: ${server.output()}`);
  return listening.instance;
}

test("after a restart, Prometheus' increase() shows the first failed job, its series scraped at 0 before it", async (t) => {
  const port = await freePort();
  const env = serverEnv(redis, "prometheus", { PORT: String(port), METRICS_TOKEN: TOKEN });
  const prometheus = await startPrometheus(t, { target: `127.0.0.1:${port}`, token: TOKEN, scrapeInterval: "1s" });

  // The first run, scraped, then stopped.
  const first = await startServer(t, env);
  const firstId = instanceOf(first);
  await waitFor(async () => (await prometheus.query(`sidejob_jobs_submitted_total{instance_id="${firstId}",type="count"}`)).length === 1, {
    ...SCRAPED,
    message: () => `Prometheus to scrape the first run (its log: ${prometheus.output().slice(-2000)})`,
  });
  await first.close();

  // The restart: a new instance on the same address. Its failed count is scraped at 0 before anything fails.
  const second = await startServer(t, env);
  const failed = `sidejob_jobs_finished_total{instance_id="${instanceOf(second)}",type="count",state="failed",reason="signal"}`;
  await waitFor(async () => (await prometheus.query(`${failed} == 0`)).length === 1, {
    ...SCRAPED,
    message: "Prometheus to scrape the restarted server's failed count at 0",
  });

  // One job fails: its process is killed.
  const id = await submit(second.url, LONG_COUNT);
  const running = await waitForState(second.url, id, "running");
  t.is(typeof running.pid, "number");
  process.kill(running.pid!, "SIGKILL");
  await waitForState(second.url, id, "failed");
  t.is((await jobJson(second.url, id)).reason, "signal");

  const rise = await waitFor(
    async () => {
      const result = await prometheus.query(`increase(${failed}[1m]) > 0`);
      return result.length === 1 ? result[0] : null;
    },
    { ...SCRAPED, message: "increase() over the failed count to be above 0" },
  );
  t.true(rise.value > 0, JSON.stringify(rise));
});

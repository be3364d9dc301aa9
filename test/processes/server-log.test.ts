// The server's own log, read from a real server's standard output: JSON
// lines (LOG_FORMAT=json, the default), one per request except status polls,
// which are counted and written as one line; one line per job transition.
import test from "ava";
import { LONG_COUNT, submit, waitForState } from "../support/http.ts";
import { jsonLines, LEVELS, type LogRecord } from "../support/logs.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

test("the server writes JSON lines, each with its instance: listening, one per request, one per job transition, polls only as a count, and no warning on SIGTERM", async (t) => {
  const server = await startServer(t, serverEnv(redis, "log-json", { COUNT_STEP_DELAY_MS: "100" }));
  const lines = () => jsonLines(server.output());

  const listening = lines().find((l) => /^sidejob listening on http:\/\/127\.0\.0\.1:\d+ /.test(l.msg))!;
  t.truthy(listening, server.output());
  t.is(listening.url, server.url);
  t.is(listening.level, LEVELS.info);
  t.regex(String(listening.instance), /^[^:]+:\d+:[0-9a-f]{8}$/);
  const instance = listening.instance;

  // A request with a query string: the line has the path alone.
  t.is((await fetch(`${server.url}/jobs/new/count?start=1&end=1000&increment=7`)).status, 200);
  const id = await submit(server.url, { start: "1", end: "3", increment: "1" });
  await waitForState(server.url, id, "succeeded");
  let polls = 0;
  for (let i = 0; i < 4; i++) {
    t.is((await fetch(`${server.url}/jobs/${id}/status`, { headers: { "HX-Request": "true" } })).status, 286);
    polls++;
  }
  t.is((await fetch(`${server.url}/jobs/${id}/status`, { headers: { Accept: "application/json" } })).status, 200);
  polls++;
  const cancelled = await submit(server.url, LONG_COUNT);
  await waitForState(server.url, cancelled, "running");
  t.is((await fetch(`${server.url}/jobs/${cancelled}/cancel`, { method: "POST", redirect: "manual" })).status, 303);
  await waitForState(server.url, cancelled, "cancelled");
  await waitFor(() => lines().some((l) => l.event === "job-finished" && l.job === cancelled), { message: "the cancel's end in the log" });

  const requests = lines().filter((l) => typeof l.method === "string");
  const form = requests.find((l) => l.path === "/jobs/new/count" && l.method === "GET")!;
  t.like(form, { level: LEVELS.info, status: 200, instance });
  t.is(typeof form.ms, "number");
  t.notRegex(server.output(), /\?start=|increment=7/, "no query string in the log");
  t.like(
    requests.find((l) => l.method === "POST" && l.path === "/count"),
    { status: 303 },
  );
  t.deepEqual(
    requests.filter((l) => String(l.path).endsWith("/status")),
    [],
    "no line per status poll",
  );

  const transitions = (job: string) => lines().filter((l) => l.job === job);
  const events = (job: string) => transitions(job).map((l) => l.event);
  t.deepEqual(events(id), ["job-submitted", "job-started", "job-finished"]);
  const [submitted, started, finished] = transitions(id) as [LogRecord, LogRecord, LogRecord];
  t.like(submitted, { type: "count", state: "queued", instance });
  t.like(started, { type: "count", state: "running", instance });
  t.is(typeof started.pid, "number");
  t.like(finished, { type: "count", state: "succeeded", reason: null, seen: "exit", instance, level: LEVELS.info });
  t.true(typeof finished.durationMs === "number" && finished.durationMs >= 0);
  t.like(transitions(cancelled).at(-1), { event: "job-finished", state: "cancelled", reason: "cancelled", type: "count" });
  t.like(
    transitions(cancelled).find((l) => l.event === "job-cancel-requested"),
    { type: "count", instance, level: LEVELS.info },
  );

  // The count of polls is written once a minute, and when the server stops.
  server.kill("SIGTERM");
  await server.exited;
  const summary = lines().filter((l) => typeof l.polls === "number");
  t.is(summary.length, 1, JSON.stringify(summary));
  t.like(summary[0], { polls, instance, level: LEVELS.info });
  t.regex(summary[0]!.msg, new RegExp(`^${polls} status polls served in the last \\d+ s$`));

  // Every line says which instance wrote it, and a clean stop is not a warning.
  t.deepEqual(
    lines().filter((l) => l.instance !== instance),
    [],
    "every line carries the instance",
  );
  t.deepEqual(
    lines().filter((l) => l.level >= LEVELS.warn),
    [],
    "no warning from a clean run and stop",
  );
});

test("LOG_FORMAT=pretty writes lines for people, and still says where it listens", async (t) => {
  const server = await startServer(t, serverEnv(redis, "log-pretty", { LOG_FORMAT: "pretty" }));
  t.is((await fetch(`${server.url}/`)).status, 200);
  await waitFor(() => /GET \/ 200/.test(server.output()), { message: "the request line" });
  t.regex(server.output(), /INFO.*sidejob listening on http:\/\/127\.0\.0\.1:\d+/);
  t.deepEqual(jsonLines(server.output()), [], "no JSON lines");
});

test("LOG_LEVEL=warn leaves out requests, but not where the server listens", async (t) => {
  const server = await startServer(t, serverEnv(redis, "log-warn", { LOG_LEVEL: "warn" }));
  t.is((await fetch(`${server.url}/`)).status, 200);
  t.is((await fetch(`${server.url}/no/such/page`)).status, 404);
  const lines = jsonLines(server.output());
  t.true(lines.some((l) => l.msg.startsWith("sidejob listening on")));
  t.deepEqual(
    lines.filter((l) => l.method),
    [],
  );
});

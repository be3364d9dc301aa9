// A job's pages for any type, over HTTP: the primes type's output file (its
// log is the operators'), a log shown with SHOW_JOB_INTERNALS, a cancelled count's partial results, a cancel that was requested, and
// a record of a type this site does not run.
import test from "ava";
import { startApp, useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { LOG_MAX_LINES } from "../../jobs/core/store.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "job-pages", env: { COUNT_STEP_DELAY_MS: "150" } });

/** One primes job up to 100,000 that the tests below look at. */
let primes: string;

test.before(async () => {
  const res = await app.post("/jobs/new/primes", { n: "100000" });
  if (res.status !== 303) throw new Error(`POST /jobs/new/primes answered ${res.status}: ${await res.text()}`);
  primes = res.headers.get("location")!.split("/").pop()!;
  const job = await app.waitForState(primes, ["succeeded", "failed"], 30_000);
  if (job.state !== "succeeded") throw new Error(`the primes job ${job.state}: ${job.error ?? job.detail}`);
  // Its last log line is written when its process exits.
  await waitFor(async () => (await app.store.read(primes, "auto", { logLines: 1 }))!.logCount > 0, { message: "the primes job's log" });
});

test("a finished primes job's page shows its result as a table and its file as a download, not its log", async (t) => {
  const html = await (await app.get(`/jobs/${primes}`)).text();
  t.regex(html, /<h1>Prime numbers up to 100,000<\/h1>/);
  t.regex(html, /<h2 id="job-status-title">Status: Finished<\/h2>/);
  t.regex(html, /<th scope="col">count<\/th><th scope="col">largest<\/th>/, "the summary result, a record, as a table");
  t.regex(html, /<td class="num">9,592<\/td><td class="num">99,991<\/td>/);
  t.regex(
    html,
    new RegExp(`<a href="/jobs/${primes}/files/primes.txt" download>primes.txt</a> <span class="hint">\\(\\d+(\\.\\d)? kB\\)</span>`),
  );
  t.notRegex(html, /<details class="job-log">/, "the log is the operators'");
  t.notRegex(html, new RegExp(`/jobs/${primes}/log`));
  t.regex(html, new RegExp(`<a href="/jobs/new/primes\\?n=100000">Start this again</a>`));
});

test("an output file downloads as an attachment of its own type, and only a name the job's listing has is served", async (t) => {
  const res = await app.get(`/jobs/${primes}/files/primes.txt`);
  t.is(res.status, 200);
  t.is(res.headers.get("content-type"), "text/plain; charset=utf-8");
  t.is(res.headers.get("content-disposition"), 'attachment; filename="primes.txt"');
  const text = await res.text();
  t.true(text.startsWith("2\n3\n5\n7\n11\n"));
  t.is(text.trim().split("\n").length, 9592);
  for (const name of ["other.txt", "..%2F..%2Fpackage.json", "primes.txt%00", "PRIMES.TXT"]) {
    t.is((await app.get(`/jobs/${primes}/files/${name}`)).status, 404, name);
  }
  t.is((await app.get(`/jobs/${"e".repeat(32)}/files/primes.txt`)).status, 404, "no such job");
});

test("the JSON of a finished primes job lists its files with their addresses", async (t) => {
  const job = (await (await app.get(`/jobs/${primes}`, { Accept: "application/json" })).json()) as {
    files: { name: string; size: number; url: string }[];
    resultCount: number;
  };
  t.is(job.resultCount, 1);
  t.deepEqual(
    job.files.map((f) => [f.name, f.url]),
    [["primes.txt", `/jobs/${primes}/files/primes.txt`]],
  );
  t.true(job.files[0]!.size > 40_000);
});

test("a type's log is not downloaded by strangers: the public address answers 404 with a sentence", async (t) => {
  const res = await app.get(`/jobs/${primes}/log`);
  t.is(res.status, 404);
  t.regex(await res.text(), /kept for the site&#39;s operators/);
});

test("with SHOW_JOB_INTERNALS, the log downloads as plain text, and one that dropped lines says so on its first line", async (t) => {
  // A job of the app's own, given more lines than the log keeps, through the store as a job's process does.
  const idle = await startApp(t, { redis, name: "job-pages-log", takesJobs: false, env: { SHOW_JOB_INTERNALS: "true" } });
  const id = await idle.store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 10 });
  t.true(
    await idle.store.appendLog(
      id,
      Array.from({ length: LOG_MAX_LINES + 5 }, (_, i) => `line ${i + 1}`),
    ),
  );
  const res = await idle.get(`/jobs/${id}/log`);
  t.is(res.headers.get("content-type"), "text/plain; charset=utf-8");
  t.is(res.headers.get("content-disposition"), `attachment; filename="count-${id}.log"`);
  const text = await res.text();
  const lines = text.trimEnd().split("\n");
  t.is(lines[0], `[5 earlier lines were dropped: the log keeps its last ${LOG_MAX_LINES} lines]`);
  t.is(lines[1], "line 6");
  t.is(lines.length, LOG_MAX_LINES + 1);
  const html = await (await idle.get(`/jobs/${id}`)).text();
  t.regex(html, new RegExp(`The last 20 of 1,005 lines\\. <a href="/jobs/${id}/log">Download the whole log</a>`));
  t.regex(html, /line 986\n[\s\S]*line 1005<\/pre>/);
  t.is((await idle.get(`/jobs/${"e".repeat(32)}/log`)).status, 404);
});

test("a cancelled count shows the values it had counted, marked as partial, and they download", async (t) => {
  const id = await app.submit({ start: "1", end: "50", increment: "1" });
  await waitFor(async () => (await app.store.read(id, "auto"))!.done >= 3, { message: "three values" });
  t.is((await app.post(`/jobs/${id}/cancel`, {})).status, 303);
  const job = await app.waitForState(id, "cancelled");
  const html = await (await app.get(`/jobs/${id}`)).text();
  t.notRegex(html, /class="cancel-text"/, "the partial results say it once");
  t.regex(html, new RegExp(`<p class="partial">Partial: ${job.done} of 50 values, cancelled\\.</p>`));
  t.regex(html, /Download these results: <a href="[^"]+\/result\.csv" download>CSV<\/a> or/);
  t.is(html.match(/<li>\d+<\/li>/g)?.length, job.resultCount);
  const csv = await app.get(`/jobs/${id}/result.csv`);
  t.is(csv.headers.get("content-disposition"), `attachment; filename="count-${id}-partial.csv"`);
  t.is((await csv.text()).trimEnd().split("\r\n").length, job.resultCount + 1);
});

test("a job whose cancel was requested says so, not that it has started, and offers no second cancel", async (t) => {
  // Running as far as Redis knows (marked so through the store, with a long lease), so the request stays pending.
  const idle = await startApp(t, { redis, name: "job-pages-stubborn", takesJobs: false });
  const id = await idle.store.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 10 });
  t.like(await idle.store.start(id, process.pid, "test", 60_000), { ok: true });
  t.is((await idle.post(`/jobs/${id}/cancel`, {})).status, 303);
  const html = await (await idle.get(`/jobs/${id}`)).text();
  t.regex(html, /role="status"[^>]*>Cancel requested; the count is stopping\.<\/p>/);
  t.regex(html, /Status: Stopping/);
  t.regex(html, /Cancel requested: the count stops at its next step\./);
  t.notRegex(html, /Counting has started|id="cancel-job"/);
  t.regex(html, /status\?shown=cancelling/);
  const poll = await (await idle.get(`/jobs/${id}/status?shown=running`)).text();
  t.regex(poll, /hx-swap-oob="innerHTML">Cancel requested; the count is stopping\.<\/p>/, "the request is announced once");
  t.notRegex(await (await idle.get(`/jobs/${id}/status?shown=cancelling`)).text(), /hx-swap-oob/);
  const refused = await idle.get(`/jobs/${id}/result.csv`, { Accept: "application/json" });
  t.is(refused.status, 409);
  t.like(await refused.json(), { message: "The results can be downloaded once the job has ended; it is stopping." });
  await idle.store.finish(id, "cancelled", "force", { reason: "cancelled" });
});

test("a record of a type this site does not run is shown as such, and never started", async (t) => {
  const id = await app.store.create({ type: "report", params: { month: "2024-01" }, total: 0, queueMax: 10 });
  void app.supervisor.pump();
  const job = await app.waitForState(id, "failed");
  t.is(job.reason, "unknown-type");
  const res = await app.get(`/jobs/${id}`);
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /<h1>A job of an unknown type<\/h1>/);
  t.regex(html, /<p class="failure-message">This job&#39;s type \(report\) is not one this site runs, so it was not started\.<\/p>/);
  t.regex(html, /<a href="\/">Go to the start page<\/a>/);
  t.notRegex(html, /Start this again/);
  const json = (await (await app.get(`/jobs/${id}`, { Accept: "application/json" })).json()) as Record<string, unknown>;
  t.like(json, {
    type: "report",
    title: null,
    state: "failed",
    reason: "unknown-type",
    message: "This job's type (report) is not one this site runs, so it was not started.",
  });
});

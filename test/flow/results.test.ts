import test from "ava";
import { startApp, useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "results" });
/** One finished count, -2 to 7 by 3, that every test downloads. */
let id: string;

test.before(async () => {
  id = await app.submit({ start: "-2", end: "7", increment: "3" });
  await app.waitForState(id, "succeeded");
});

test("the JSON download is an attachment named after the job, with the parameters and values", async (t) => {
  const res = await app.get(`/jobs/${id}/result.json`);
  t.is(res.status, 200);
  t.is(res.headers.get("content-type"), "application/json; charset=utf-8");
  t.is(res.headers.get("content-disposition"), `attachment; filename="count-${id}.json"`);
  t.deepEqual(await res.json(), {
    id,
    type: "count",
    state: "succeeded",
    params: { start: -2, end: 7, increment: 3 },
    results: [-2, 1, 4, 7],
  });
});

test("the CSV download is an attachment with a header row and one row per value, CRLF line ends", async (t) => {
  const res = await app.get(`/jobs/${id}/result.csv`);
  t.is(res.status, 200);
  t.is(res.headers.get("content-type"), "text/csv; charset=utf-8");
  t.is(res.headers.get("content-disposition"), `attachment; filename="count-${id}.csv"`);
  t.is(await res.text(), "index,value\r\n1,-2\r\n2,1\r\n3,4\r\n4,7\r\n");
});

test("the CSV download neutralises every cell a spreadsheet would run as a formula, and leaves plain numbers", async (t) => {
  // Results as a program reports them, through the store as a job's process does.
  const idle = await startApp(t, { redis, name: "results-formulas", takesJobs: false });
  const cells = ['=HYPERLINK("http://e.example","x")', "+SUM(1,1)", "-", "-1+2", "@SUM(1)", "\tx", "\rx", "-2", "+1.5e3", "plain"];
  const job = await idle.store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 100 });
  await idle.store.claim("test", 60_000, ["count"], ["count"]);
  await idle.store.start(job, process.pid, "test", 60_000);
  await idle.store.report(job, 60_000, { done: 1, results: cells });
  await idle.store.finish(job, "succeeded", "force");
  const csv = await (await idle.get(`/jobs/${job}/result.csv`)).text();
  t.is(
    csv,
    [
      "index,value",
      `1,"'=HYPERLINK(""http://e.example"",""x"")"`,
      `2,"'+SUM(1,1)"`,
      "3,'-",
      "4,'-1+2",
      "5,'@SUM(1)",
      "6,'\tx",
      `7,"'\rx"`,
      "8,-2",
      "9,+1.5e3",
      "10,plain",
      "",
    ].join("\r\n"),
  );
});

test("an ended job's downloads are kept only with their ETag, checked again each time (no-cache)", async (t) => {
  for (const ext of ["csv", "json"]) {
    const res = await app.get(`/jobs/${id}/result.${ext}`);
    await res.arrayBuffer();
    t.is(res.headers.get("cache-control"), "private, no-cache", ext);
    t.regex(res.headers.get("etag") ?? "", /^"[\w-]+"$/, ext);
  }
});

test("downloads are refused with 409 while a job waits, and are empty once it is cancelled before it started", async (t) => {
  // An instance that takes no jobs: what is submitted stays queued.
  const idle = await startApp(t, { redis, name: "results-idle", takesJobs: false });
  const waiting = await idle.submit({ start: "1", end: "5", increment: "1" });
  for (const ext of ["json", "csv"]) {
    const res = await idle.get(`/jobs/${waiting}/result.${ext}`, { Accept: "application/json" });
    t.is(res.status, 409, `${ext} while queued`);
    t.like(await res.json(), { error: "conflict", message: "The results can be downloaded once the job has ended; it is queued." });
  }
  await idle.post(`/jobs/${waiting}/cancel`, {});
  const csv = await idle.get(`/jobs/${waiting}/result.csv`);
  t.is(csv.status, 200);
  t.is(csv.headers.get("content-disposition"), `attachment; filename="count-${waiting}-partial.csv"`);
  t.is(await csv.text(), "index,value\r\n");
  t.deepEqual(((await (await idle.get(`/jobs/${waiting}/result.json`)).json()) as { results: unknown[] }).results, []);
});

test("downloads of a job that does not exist answer 404", async (t) => {
  for (const path of [`/jobs/${"f".repeat(32)}/result.json`, `/jobs/${"f".repeat(32)}/result.csv`, "/jobs/not-an-id/result.csv"]) {
    t.is((await app.get(path)).status, 404, path);
  }
});

test("the status page links both downloads above the values", async (t) => {
  const html = await (await app.get(`/jobs/${id}`)).text();
  t.true(html.includes(`href="/jobs/${id}/result.csv"`));
  t.true(html.includes(`href="/jobs/${id}/result.json"`));
  t.true(html.includes("4 values, from -2 to 7 by 3."));
  t.true(html.indexOf("result.csv") < html.indexOf('<ol class="values'), "downloads come first");
});

test("a long count shows its first 100 values and a link to all of them; downloads have every value, read in pages", async (t) => {
  const long = await app.submit({ start: "1", end: "1000", increment: "1" });
  await app.waitForState(long, "succeeded", 20_000);
  const html = await (await app.get(`/jobs/${long}`)).text();
  t.is(html.match(/<li>/g)?.length, 100);
  t.true(html.includes("1,000 values, from 1 to 1,000 by 1."));
  t.true(html.includes(`<a href="/jobs/${long}?all=1#results-title">Show all 1,000 values</a>`));
  t.notRegex(html, /values-box|tabindex="0"/, "no inner scroll box");
  const all = await (await app.get(`/jobs/${long}?all=1`)).text();
  t.is(all.match(/<li>/g)?.length, 1000);
  t.notRegex(all, /Show all/);
  const csv = await (await app.get(`/jobs/${long}/result.csv`)).text();
  t.is(csv.split("\r\n").length, 1002);
  t.true(csv.endsWith("999,999\r\n1000,1000\r\n"));
  const json = (await (await app.get(`/jobs/${long}/result.json`)).json()) as { results: number[] };
  t.deepEqual(
    json.results,
    Array.from({ length: 1000 }, (_, i) => i + 1),
  );
});

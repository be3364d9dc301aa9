// JOB_TYPES: a deployment offers only the types it names. A type left out
// has no form, no short address, no place on the home page or in the API
// document, and this instance never runs it; a queued job of that type waits
// for an instance that offers it.
import test from "ava";
import { startApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

const redis = useRedis(test);

test("with JOB_TYPES=primes,csv-check nothing of the counter is offered", async (t) => {
  const app = await startApp(t, { redis, name: "offered", takesJobs: false, env: { JOB_TYPES: "primes,csv-check" } });
  const home = await app.get("/");
  t.is(home.status, 200);
  const html = await home.text();
  t.regex(html, /<h1>Find prime numbers<\/h1>/, "the first offered type's form is the home page's");
  t.regex(html, /href="\/jobs\/new\/csv-check"/, "the other offered type is listed");
  t.notRegex(html, /Count in the background|\/jobs\/new\/count|action="\/count"/, "nothing of the counter");

  const before = await keysUnder(redis.client, app.prefix);
  for (const path of ["/jobs/new/count", "/count/1/3"]) t.is((await app.get(path)).status, 404, path);
  t.is((await app.post("/jobs/new/count", { start: "1", end: "3", increment: "1" })).status, 404, "POST /jobs/new/count");
  t.is((await app.post("/count", { start: "1", end: "3", increment: "1" })).status, 404, "POST /count");
  t.deepEqual(await keysUnder(redis.client, app.prefix), before, "nothing was written");

  const doc = (await (await app.get("/api/openapi.json")).json()) as { paths: Record<string, unknown> };
  const paths = Object.keys(doc.paths);
  t.true(paths.includes("/jobs/new/primes"), paths.join(" "));
  t.false(
    paths.some((p) => p.includes("count")),
    paths.join(" "),
  );
});

test("with one type offered the home page is that type's form, and no other type is listed", async (t) => {
  const app = await startApp(t, { redis, name: "offered-one", takesJobs: false, env: { JOB_TYPES: " csv-check " } });
  const html = await (await app.get("/")).text();
  t.regex(html, /<h1>Check a CSV file<\/h1>/);
  t.regex(html, /action="\/jobs\/new\/csv-check"/);
  t.notRegex(html, /Other jobs you can run|\/jobs\/new\/(count|primes)/);
});

test("a queued job of a type this instance does not offer waits for one that does, jobs behind it run, and its page offers no form", async (t) => {
  // The web-only instance offers the counter; the other runs primes only, on the same jobs.
  const web = await startApp(t, { redis, name: "offered-queue", takesJobs: false });
  const runner = await startApp(t, { redis, prefix: web.prefix, env: { JOB_TYPES: "primes" } });
  const counted = await web.submit({ start: "1", end: "3", increment: "1" });
  const res = await web.post("/jobs/new/primes", { n: "10" }, { Accept: "application/json" });
  t.is(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  await runner.waitForState(id, "succeeded");
  // The primes job was behind the counter's in the queue: the claim passed over it, and left it queued.
  t.is((await runner.store.read(counted))?.state, "queued");
  // Once ended, its page on the instance that does not offer the counter links to no counter form.
  t.is((await web.post(`/jobs/${counted}/cancel`, {})).status, 303);
  await runner.waitForState(counted, "cancelled");
  const page = await (await runner.get(`/jobs/${counted}`)).text();
  t.regex(page, /Go to the start page/);
  t.notRegex(page, /\/jobs\/new\/count|\/count\/1\/3/);
});

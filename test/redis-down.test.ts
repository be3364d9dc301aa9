import test from "ava";
import { startRedis, type TestRedis } from "./helpers/redis.ts";
import { startApp, type TestApp } from "./helpers/app.ts";
import { waitFor } from "./helpers/wait.ts";

let redis: TestRedis;
let app: TestApp;

test.before(async () => {
  redis = await startRedis({ appendonly: true }); // the job must still be there after the restart
  app = await startApp({ redisUrl: redis.url, name: "down" });
});
test.after.always(async () => {
  await app?.close();
  await redis?.close();
});

test.serial("with Redis stopped under a running app, requests get 503 pages within two seconds, and /healthz 503", async (t) => {
  const id = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(id, "succeeded");
  t.is((await app.get("/healthz")).status, 200);

  await redis.stop();
  const timed = async (fn: () => Promise<Response>) => {
    const started = Date.now();
    const res = await fn();
    return { res, ms: Date.now() - started };
  };

  const page = await timed(() => app.get(`/jobs/${id}`));
  t.is(page.res.status, 503);
  t.true(page.ms < 2000, `answered in ${page.ms} ms`);
  const html = await page.res.text();
  t.regex(html, /Service unavailable/);
  t.regex(html, /cannot be reached/);
  t.notRegex(html, /at \w+ \(|node_modules|Error:/, "no stack trace");
  t.true(html.includes(`<a href="/jobs/${id}">Try again</a>`), "the page offers to load the same address again");

  const poll = await timed(() => app.get(`/jobs/${id}/status?shown=running`));
  t.is(poll.res.status, 503);
  t.true(poll.ms < 2000);
  t.regex(await poll.res.text(), /hx-trigger="every 2s"/, "the poll keeps trying until Redis is back");

  const submit = await timed(() => app.post("/count", { start: "1", end: "2", increment: "1" }));
  t.is(submit.res.status, 503);
  t.notRegex(await submit.res.text(), /Try again<\/a>/, "no link can repeat a POST");
  t.true(submit.ms < 2000);
  t.is(app.supervisor.size, 0);

  const json = await app.get(`/jobs/${id}`, { Accept: "application/json" });
  t.is(json.status, 503);
  t.like(await json.json(), { status: 503 });

  const health = await timed(() => app.get("/healthz"));
  t.is(health.res.status, 503);
  t.true(health.ms < 2000);

  t.is((await app.get("/")).status, 200, "the form itself needs no Redis");

  await redis.start();
  await waitFor(async () => (await app.get("/healthz")).status === 200, { timeout: 10_000, message: "/healthz to recover" });
  t.is((await app.get(`/jobs/${id}`)).status, 200);
});

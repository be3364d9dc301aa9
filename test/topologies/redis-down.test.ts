import test from "ava";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test, { appendonly: true }); // the job must still be there after the restart
const app = useApp(test, { redis, name: "down" });

/**
 * With Redis down for the whole test, a request that waited for it would
 * never be answered: each request's own timeout is the deadline. (How fast
 * the 503 comes is a figure for the bench, not a bound to assert here.)
 */
const deadline = () => AbortSignal.timeout(5000);

test("with Redis stopped under a running app, requests get 503 pages instead of waiting for it, and /healthz 503 with Retry-After", async (t) => {
  const id = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(id, "succeeded");
  t.is((await app.get("/healthz")).status, 200);

  await redis.stop();
  t.teardown(() => redis.start());
  const get = (path: string, headers: Record<string, string> = {}) => fetch(app.url + path, { headers, signal: deadline() });

  const page = await get(`/jobs/${id}`);
  t.is(page.status, 503);
  const html = await page.text();
  t.regex(html, /Service unavailable/);
  t.regex(html, /cannot be reached/);
  t.notRegex(html, /at \w+ \(|node_modules|Error:/, "no stack trace");
  t.true(html.includes(`<a href="/jobs/${id}">Try again</a>`), "the page offers to load the same address again");

  const poll = await get(`/jobs/${id}/status?shown=running`);
  t.is(poll.status, 503);
  t.regex(await poll.text(), /hx-trigger="every 2s"/, "the poll keeps trying until Redis is back");

  const submit = await fetch(`${app.url}/count`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ start: "1", end: "2", increment: "1" }),
    signal: deadline(),
  });
  t.is(submit.status, 503);
  t.notRegex(await submit.text(), /Try again<\/a>/, "no link can repeat a POST");
  t.is(app.supervisor.size, 0);

  const json = await get(`/jobs/${id}`, { Accept: "application/json" });
  t.is(json.status, 503);
  t.like(await json.json(), { status: 503 });

  const health = await get("/healthz");
  t.is(health.status, 503);
  t.is(health.headers.get("retry-after"), "5", "a 503 says when to ask again");
  t.is((await get("/")).status, 200, "the form itself needs no Redis");

  await redis.start();
  await waitFor(async () => (await app.get("/healthz")).status === 200, { message: "/healthz to recover" });
  // The job page reads through the status cache, whose own connections reconnect on their own: it comes back too.
  await waitFor(async () => (await app.get(`/jobs/${id}`)).status === 200, { message: "the job page to be served again" });
});

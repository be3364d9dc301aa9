import http from "node:http";
import test, { type ExecutionContext } from "ava";
import { startApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

const redis = useRedis(test);

const form = { start: "1", end: "2", increment: "1" };
/** Stands for the app's own origin, which is known only once it listens. */
const SELF = "__SELF__";

/** POSTs the form to an app of the test's own with these headers (SELF replaced). */
async function postWith(t: ExecutionContext, name: string, headers: Record<string, string>) {
  const app = await startApp(t, { redis, name });
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === SELF ? app.url : v]));
  return { app, headers: h, res: await app.post("/count", form, h) };
}

const refused = test.macro({
  async exec(t, headers: Record<string, string>) {
    const { app, headers: h, res } = await postWith(t, "refused", headers);
    t.is(res.status, 403);
    t.regex(await res.text(), /only be sent from this site/);
    t.deepEqual(await keysUnder(redis.client, app.prefix), []);
    t.is(app.supervisor.size, 0);
    const cancel = await app.post("/jobs/0123456789abcdef0123456789abcdef/cancel", "", h);
    t.is(cancel.status, 403);
  },
  title: (what = "") => `a POST with ${what} is refused with 403 and changes nothing`,
});

test("Sec-Fetch-Site: cross-site", refused, { "Sec-Fetch-Site": "cross-site" });
test("Sec-Fetch-Site: same-site", refused, { "Sec-Fetch-Site": "same-site" });
test("an Origin of another site", refused, { Origin: "https://evil.example" });
test("an Origin of another port", refused, { Origin: "http://127.0.0.1:1" });
test("Origin: null", refused, { Origin: "null" });
test("Sec-Fetch-Site: cross-site even with a matching Origin", refused, { "Sec-Fetch-Site": "cross-site", Origin: SELF });

const accepted = test.macro({
  async exec(t, headers: Record<string, string>) {
    const { app, res } = await postWith(t, "accepted", headers);
    t.is(res.status, 303);
    await app.waitForState(res.headers.get("location")!.split("/").pop()!, "succeeded");
  },
  title: (what = "") => `a POST with ${what} is accepted`,
});

test("Sec-Fetch-Site: same-origin", accepted, { "Sec-Fetch-Site": "same-origin" });
test("Sec-Fetch-Site: none", accepted, { "Sec-Fetch-Site": "none" });
test("a matching Origin", accepted, { Origin: SELF });
test("neither header (curl)", accepted, {});

test("every answer carries a strict CSP and the other security headers", async (t) => {
  const app = await startApp(t, { redis, name: "headers" });
  for (const path of ["/", "/jobs/0123456789abcdef0123456789abcdef", "/healthz", "/static/style.css"]) {
    const res = await app.get(path);
    const csp = res.headers.get("content-security-policy") ?? "";
    t.regex(csp, /default-src 'self'/, path);
    t.regex(csp, /frame-ancestors 'none'/, path);
    t.notRegex(csp, /unsafe-inline|unsafe-eval/, path);
    t.is(res.headers.get("x-content-type-options"), "nosniff", path);
    t.truthy(res.headers.get("referrer-policy"), path);
  }
});

test("a method no route takes (TRACE, PROPFIND) answers 405 with Allow, as a wrong method does", async (t) => {
  const app = await startApp(t, { redis, name: "methods", takesJobs: false });
  const { port } = new URL(app.url);
  const ask = (method: string, path: string) =>
    new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method, path }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode!, allow: res.headers.allow }));
      });
      req.on("error", reject);
      req.end();
    });
  for (const [method, path, allow] of [
    ["TRACE", "/count", /POST/],
    ["PROPFIND", "/count", /POST/],
    ["TRACE", "/", /GET/],
    ["PUT", "/count", /POST/],
  ] as const) {
    const res = await ask(method, path);
    t.is(res.status, 405, `${method} ${path}`);
    t.regex(res.allow ?? "", allow, `${method} ${path}`);
  }
  t.is((await ask("TRACE", "/nowhere")).status, 404, "an address that does not exist is still a 404");
});

test("a job id is 128 random bits", async (t) => {
  const app = await startApp(t, { redis, name: "ids", takesJobs: false });
  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const id = await app.submit(form);
    t.regex(id, /^[0-9a-f]{32}$/);
    ids.add(id);
  }
  t.is(ids.size, 5);
});

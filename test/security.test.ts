import test from "ava";
import { startRedis, keysUnder, type TestRedis } from "./helpers/redis.ts";
import { startApp, type TestApp } from "./helpers/app.ts";

let redis: TestRedis;
let app: TestApp;

test.before(async () => {
  redis = await startRedis();
  app = await startApp({ redisUrl: redis.url, name: "security" });
});
test.after.always(async () => {
  await app?.close();
  await redis?.close();
});

const form = { start: "1", end: "2", increment: "1" };

const refused: [string, Record<string, string>][] = [
  ["Sec-Fetch-Site: cross-site", { "Sec-Fetch-Site": "cross-site" }],
  ["Sec-Fetch-Site: same-site", { "Sec-Fetch-Site": "same-site" }],
  ["an Origin of another site", { Origin: "https://evil.example" }],
  ["an Origin of another port", { Origin: "http://127.0.0.1:1" }],
  ["Origin: null", { Origin: "null" }],
  ["Sec-Fetch-Site: cross-site even with a matching Origin", { "Sec-Fetch-Site": "cross-site", Origin: "__SELF__" }],
];

for (const [what, headers] of refused) {
  test.serial(`a POST with ${what} is refused with 403 and changes nothing`, async (t) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === "__SELF__" ? app.url : v]));
    const res = await app.post("/count", form, h);
    t.is(res.status, 403);
    t.regex(await res.text(), /only be sent from this site/);
    t.deepEqual(await keysUnder(redis.client, app.prefix), []);
    t.is(app.supervisor.size, 0);
    const cancel = await app.post("/jobs/0123456789abcdef0123456789abcdef/cancel", "", h);
    t.is(cancel.status, 403);
  });
}

const allowed: [string, Record<string, string>][] = [
  ["Sec-Fetch-Site: same-origin", { "Sec-Fetch-Site": "same-origin" }],
  ["Sec-Fetch-Site: none", { "Sec-Fetch-Site": "none" }],
  ["a matching Origin", { Origin: "__SELF__" }],
  ["neither header (curl)", {}],
];
for (const [what, headers] of allowed) {
  test.serial(`a POST with ${what} is accepted`, async (t) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === "__SELF__" ? app.url : v]));
    const res = await app.post("/count", form, h);
    t.is(res.status, 303);
    await app.waitForState(res.headers.get("location")!.split("/").pop()!, "succeeded");
  });
}

test("every answer carries a strict CSP and the other security headers", async (t) => {
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

test("a job id is 128 random bits", async (t) => {
  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const id = await app.submit(form);
    t.regex(id, /^[0-9a-f]{32}$/);
    ids.add(id);
  }
  t.is(ids.size, 5);
  for (const id of ids) await app.waitForState(id, "succeeded");
});

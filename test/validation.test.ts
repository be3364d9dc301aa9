// The form over HTTP: what a bad request gets back, and that it changes
// nothing. Which inputs are bad, and the message for each, is counting's
// business and tested on its own in counting.test.ts.
import fs from "node:fs";
import test, { type ExecutionContext } from "ava";
import { startApp, type TestApp } from "./support/app.ts";
import { keysUnder, useRedis } from "./support/redis.ts";

const redis = useRedis(test);

/** An app of the test's own, so that "nothing was written" looks at a prefix no other test uses. */
const app = (t: ExecutionContext) => startApp(t, { redis, name: "validation", env: { COUNT_MAX_STEPS: "1000" } });

async function nothingHappened(t: ExecutionContext, app: TestApp) {
  t.deepEqual(await keysUnder(redis.client, app.prefix), [], "no key written");
  t.is(app.supervisor.size, 0, "no process started");
  t.deepEqual(fs.readdirSync(app.logDir), [], "no job log created");
}

const refusedForm = test.macro({
  async exec(t, form: Record<string, string>, field: "start" | "end" | "increment") {
    const server = await app(t);
    const res = await server.post("/count", form);
    t.is(res.status, 422);
    const html = await res.text();
    t.regex(html, /There is a problem/);
    t.regex(html, new RegExp(`<a href="#${field}">`), "the summary links to the field");
    t.regex(html, new RegExp(`id="${field}"[^>]*aria-describedby="${field}-hint ${field}-error"[^>]*aria-invalid="true"`, "s"));
    t.notRegex(html, /<script>alert/, "user input is escaped");
    for (const [name, value] of Object.entries(form)) {
      if (!value.includes("<")) t.true(html.includes(`value="${value}"`), `keeps ${name}`);
    }
    await nothingHappened(t, server);
  },
  title: (what = "") => `POST /count with ${what} answers 422 with the form, changes nothing`,
});

test("letters", refusedForm, { start: "abc", end: "10", increment: "1" }, "start");
test("more steps than COUNT_MAX_STEPS", refusedForm, { start: "1", end: "1001", increment: "1" }, "increment");
test("markup in a field", refusedForm, { start: "<script>alert(1)</script>", end: "10", increment: "1" }, "start");

test("a repeated field is refused, not picked", async (t) => {
  const server = await app(t);
  const res = await server.post("/count", "start=1&start=2&end=10&increment=1");
  t.is(res.status, 422);
  t.regex(await res.text(), /<a href="#start">/);
  await nothingHappened(t, server);
});

test("an oversized body answers 413 and changes nothing", async (t) => {
  const server = await app(t);
  const res = await server.post("/count", `start=1&end=10&increment=1&pad=${"x".repeat(5000)}`);
  t.is(res.status, 413);
  t.regex(await res.text(), /Too much data/);
  await nothingHappened(t, server);
});

test("an unsupported body type answers 415 and changes nothing", async (t) => {
  const server = await app(t);
  const res = await server.post("/count", "<count/>", { "Content-Type": "application/xml" });
  t.is(res.status, 415);
  await nothingHappened(t, server);
});

test("a JSON client gets 422 with the errors as JSON", async (t) => {
  const server = await app(t);
  const res = await fetch(`${server.url}/count`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ start: 1, end: 10, increment: 0 }),
  });
  t.is(res.status, 422);
  const body = (await res.json()) as { errors: Record<string, string> };
  t.deepEqual(Object.keys(body.errors), ["increment"]);
  await nothingHappened(t, server);
});

const unreadable = test.macro({
  async exec(t, body: string) {
    const server = await app(t);
    const res = await server.post("/count", body, { "Content-Type": "application/json" });
    t.is(res.status, 400);
    const html = await res.text();
    t.regex(html, /could not be read/);
    t.notRegex(html, /Unexpected token|at position|SyntaxError/);
    await nothingHappened(t, server);
  },
  title: (what = "") => `a body of ${what} answers 400 with a plain message and changes nothing`,
});

test("broken JSON", unreadable, "{bad");
test("a JSON array", unreadable, "[1,2]");
test("JSON null", unreadable, "null");

test("GET / shows the form with the defaults 1, 10, 1", async (t) => {
  const server = await app(t);
  const res = await server.get("/");
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /<form class="count-form" method="post" action="\/count"/);
  for (const [name, value] of [["start", "1"], ["end", "10"], ["increment", "1"]]) {
    t.regex(html, new RegExp(`id="${name}" name="${name}"[^>]*value="${value}"`, "s"));
    t.regex(html, new RegExp(`<label for="${name}">`));
  }
});

test("GET /count/:start/:end fills in the form and starts nothing", async (t) => {
  const server = await app(t);
  const res = await server.get("/count/5/50?increment=5");
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /id="start"[^>]*value="5"/s);
  t.regex(html, /id="end"[^>]*value="50"/s);
  t.regex(html, /id="increment"[^>]*value="5"/s);
  t.regex(html, /Start counting/);
  await nothingHappened(t, server);
});

test("GET /count/:start/:end with values that are not integers shows the errors with 400", async (t) => {
  const server = await app(t);
  const res = await server.get("/count/one/10?increment=1.5");
  t.is(res.status, 400);
  const html = await res.text();
  t.regex(html, /<a href="#start">/);
  t.regex(html, /<a href="#increment">/);
  await nothingHappened(t, server);
});

test("POST /count with valid input answers 303 to the job's page", async (t) => {
  const server = await app(t);
  const res = await server.post("/count", { start: "1", end: "3", increment: "1" });
  t.is(res.status, 303);
  t.regex(res.headers.get("location") ?? "", /^\/jobs\/[0-9a-f]{32}$/);
  await server.waitForState(res.headers.get("location")!.split("/").pop()!, "succeeded");
});

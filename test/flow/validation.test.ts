// The form over HTTP: what a bad request gets back, and that it changes
// nothing. Which inputs are bad, and the message for each, is counting's
// business and tested on its own in counting.test.ts.
import fs from "node:fs";
import test, { type ExecutionContext } from "ava";
import { startApp, type TestApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

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
  const body = (await res.json()) as { error: string; message: string; fields: Record<string, string>; errors: Record<string, string> };
  t.is(body.error, "invalid-input");
  t.is(body.message, "Check your answers: 1 field has a problem.");
  t.deepEqual(body.fields, { increment: "Increment must not be 0" });
  t.deepEqual(body.errors, body.fields, "the name POST /count answered first is kept");
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
  t.regex(html, /<form class="job-form" method="post" action="\/count"/);
  for (const [name, value] of [
    ["start", "1"],
    ["end", "10"],
    ["increment", "1"],
  ]) {
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

// The generic form of any type, with the primes type (one integer field, 2 to 10,000,000).

test("GET /jobs/new/primes shows the primes form from its declaration, with its default", async (t) => {
  const server = await app(t);
  const res = await server.get("/jobs/new/primes");
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /<h1>Find prime numbers<\/h1>/);
  t.regex(html, /<form class="job-form" method="post" action="\/jobs\/new\/primes"/);
  t.regex(html, /<label for="n">Up to<\/label>/);
  t.regex(html, /id="n" name="n" type="text" inputmode="numeric"[^>]*value="1000000" aria-describedby="n-hint"/s);
  t.regex(html, /Find the primes/);
  t.regex(html, /<a href="\/">Count in the background<\/a>|href="\/jobs\/new\/count"/, "links the other types");
  await nothingHappened(t, server);
});

test("GET /jobs/new/primes?n=500 fills the form in, and a bad value there answers 400 with the error", async (t) => {
  const server = await app(t);
  t.regex(await (await server.get("/jobs/new/primes?n=500")).text(), /id="n"[^>]*value="500"/s);
  const bad = await server.get("/jobs/new/primes?n=1");
  t.is(bad.status, 400);
  t.regex(await bad.text(), /<a href="#n">Up to must be between 2 and 10000000<\/a>/);
  await nothingHappened(t, server);
});

const refusedPrimes = test.macro({
  async exec(t, n: string, message: string) {
    const server = await app(t);
    const res = await server.post("/jobs/new/primes", { n });
    t.is(res.status, 422);
    const html = await res.text();
    t.regex(html, /<title>Error: Find prime numbers/);
    t.true(html.includes(`<a href="#n">${message}</a>`), "the summary links to the field with its message");
    t.regex(html, /id="n"[^>]*aria-describedby="n-hint n-error"[^>]*aria-invalid="true"/s);
    t.true(html.includes(`value="${n}"`), "keeps the value as typed");
    await nothingHappened(t, server);
  },
  title: (what = "") => `POST /jobs/new/primes with ${what} answers 422 with the form and its message, changes nothing`,
});

test("nothing", refusedPrimes, "", "Enter a whole number for up to");
test("a fraction", refusedPrimes, "2.5", "Up to must be a whole number, like 1 or -5");
test("a number too large", refusedPrimes, "10000001", "Up to must be between 2 and 10000000");

test("POST /jobs/new/primes with a valid form answers 303 to the new job's page", async (t) => {
  const server = await app(t);
  const res = await server.post("/jobs/new/primes", { n: "100" });
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await server.waitForState(id, ["succeeded", "failed"], 20_000);
  t.is(job.state, "succeeded", job.error ?? job.detail ?? "");
  t.like(job, { type: "primes", params: { n: 100 }, total: 100 });
});

test("POST /jobs/new/primes as JSON answers 202 with the job's addresses, or 422 with the fields' messages", async (t) => {
  const server = await app(t);
  const send = (body: unknown) =>
    fetch(`${server.url}/jobs/new/primes`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  const bad = await send({ n: 1 });
  t.is(bad.status, 422);
  t.deepEqual(await bad.json(), {
    error: "invalid-input",
    message: "Check your answers: 1 field has a problem.",
    status: 422,
    fields: { n: "Up to must be between 2 and 10000000" },
    errors: { n: "Up to must be between 2 and 10000000" },
  });
  const res = await send({ n: 50 });
  t.is(res.status, 202);
  const body = (await res.json()) as { id: string; url: string; statusUrl: string };
  t.deepEqual(body, { id: body.id, url: `/jobs/${body.id}`, statusUrl: `/jobs/${body.id}/status` });
  t.is(res.headers.get("location"), body.url);
  await server.waitForState(body.id, "succeeded", 20_000);
});

test("an unknown job type answers 404 to its form and to a post, and nothing is written or started", async (t) => {
  const server = await app(t);
  const page = await server.get("/jobs/new/nosuchtype");
  t.is(page.status, 404);
  t.regex(await page.text(), /Job type not found/);
  const post = await server.post("/jobs/new/nosuchtype", { n: "5" });
  t.is(post.status, 404);
  const json = await fetch(`${server.url}/jobs/new/nosuchtype`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: "{}",
  });
  t.is(json.status, 404);
  t.like(await json.json(), { error: "unknown-type", status: 404 });
  await nothingHappened(t, server);
});

test("a multipart post to a type without a file field is refused with 415", async (t) => {
  const server = await app(t);
  const form = new FormData();
  form.set("n", "100");
  const res = await fetch(`${server.url}/jobs/new/primes`, { method: "POST", body: form, redirect: "manual" });
  t.is(res.status, 415);
  t.regex(await res.text(), /This form has no file: send it as application\/x-www-form-urlencoded or JSON\./);
  await nothingHappened(t, server);
});

import fs from "node:fs";
import test from "ava";
import { startRedis, keysUnder, type TestRedis } from "./helpers/redis.ts";
import { startApp, type TestApp } from "./helpers/app.ts";

let redis: TestRedis;
let app: TestApp;

test.before(async () => {
  redis = await startRedis();
  app = await startApp({ redisUrl: redis.url, name: "validation", env: { COUNT_MAX_STEPS: "1000" } });
});
test.after.always(async () => {
  await app?.close();
  await redis?.close();
});

async function nothingHappened(t: import("ava").ExecutionContext) {
  t.deepEqual(await keysUnder(redis.client, app.prefix), [], "no key written");
  t.is(app.supervisor.size, 0, "no process started");
  t.deepEqual(fs.readdirSync(app.logDir), [], "no job log created");
}

const MAX = Number.MAX_SAFE_INTEGER;
const invalid: [string, Record<string, string>, keyof typeof fieldsOf | null][] = [
  ["letters", { start: "abc", end: "10", increment: "1" }, "start"],
  ["a float", { start: "1", end: "10.5", increment: "1" }, "end"],
  ["an exponent", { start: "1e3", end: "10", increment: "1" }, "start"],
  ["an empty field", { start: "1", end: "", increment: "1" }, "end"],
  ["a missing field", { start: "1", end: "10" }, "increment"],
  ["an increment of 0", { start: "1", end: "10", increment: "0" }, "increment"],
  ["an increment pointing away from the end", { start: "1", end: "10", increment: "-1" }, "increment"],
  ["a positive increment counting down", { start: "10", end: "1", increment: "2" }, "increment"],
  ["too many steps", { start: "1", end: "1001", increment: "1" }, "increment"],
  ["too many steps over the whole safe range", { start: String(-MAX), end: String(MAX), increment: "1" }, "increment"],
  ["a number above the safe range", { start: "1", end: "9007199254740992", increment: "1" }, "end"],
  ["a huge number", { start: "1", end: "1" + "0".repeat(400), increment: "1" }, "end"],
  ["a number below the safe range", { start: "-9007199254740992", end: "1", increment: "1" }, "start"],
  ["a hex number", { start: "0x10", end: "20", increment: "1" }, "start"],
  ["markup in a field", { start: "<script>alert(1)</script>", end: "10", increment: "1" }, "start"],
];
const fieldsOf = { start: 1, end: 1, increment: 1 };

for (const [what, form, field] of invalid) {
  test.serial(`POST /count with ${what} answers 422 with the form, changes nothing`, async (t) => {
    const res = await app.post("/count", form);
    t.is(res.status, 422);
    const html = await res.text();
    t.regex(html, /There is a problem/);
    if (field) {
      t.regex(html, new RegExp(`<a href="#${field}">`), "the summary links to the field");
      t.regex(html, new RegExp(`id="${field}"[^>]*aria-describedby="${field}-hint ${field}-error"[^>]*aria-invalid="true"`, "s"));
    }
    t.notRegex(html, /<script>alert/, "user input is escaped");
    for (const [name, value] of Object.entries(form)) {
      if (value.length < 100 && !value.includes("<")) t.true(html.includes(`value="${value}"`), `keeps ${name}`);
    }
    await nothingHappened(t);
  });
}

test.serial("a repeated field is refused, not picked", async (t) => {
  const res = await app.post("/count", "start=1&start=2&end=10&increment=1");
  t.is(res.status, 422);
  await nothingHappened(t);
});

test.serial("an oversized body answers 413 and changes nothing", async (t) => {
  const res = await app.post("/count", `start=1&end=10&increment=1&pad=${"x".repeat(5000)}`);
  t.is(res.status, 413);
  t.regex(await res.text(), /Too much data/);
  await nothingHappened(t);
});

test.serial("an unsupported body type answers 415 and changes nothing", async (t) => {
  const res = await app.post("/count", "<count/>", { "Content-Type": "application/xml" });
  t.is(res.status, 415);
  await nothingHappened(t);
});

test.serial("a JSON client gets 422 with the errors as JSON", async (t) => {
  const res = await fetch(`${app.url}/count`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ start: 1, end: 10, increment: 0 }),
  });
  t.is(res.status, 422);
  const body = (await res.json()) as { errors: Record<string, string> };
  t.truthy(body.errors.increment);
  await nothingHappened(t);
});

test.serial("GET / shows the form with the defaults 1, 10, 1", async (t) => {
  const res = await app.get("/");
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /<form class="count-form" method="post" action="\/count"/);
  for (const [name, value] of [["start", "1"], ["end", "10"], ["increment", "1"]]) {
    t.regex(html, new RegExp(`id="${name}" name="${name}"[^>]*value="${value}"`, "s"));
    t.regex(html, new RegExp(`<label for="${name}">`));
  }
});

test.serial("GET /count/:start/:end fills in the form and starts nothing", async (t) => {
  const res = await app.get("/count/5/50?increment=5");
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /id="start"[^>]*value="5"/s);
  t.regex(html, /id="end"[^>]*value="50"/s);
  t.regex(html, /id="increment"[^>]*value="5"/s);
  t.regex(html, /Start counting/);
  await nothingHappened(t);
});

test.serial("GET /count/:start/:end with values that are not integers shows the errors with 400", async (t) => {
  const res = await app.get("/count/one/10?increment=1.5");
  t.is(res.status, 400);
  const html = await res.text();
  t.regex(html, /<a href="#start">/);
  t.regex(html, /<a href="#increment">/);
  await nothingHappened(t);
});

test.serial("POST /count with valid input answers 303 to the job's page", async (t) => {
  const res = await app.post("/count", { start: "1", end: "3", increment: "1" });
  t.is(res.status, 303);
  t.regex(res.headers.get("location") ?? "", /^\/jobs\/[0-9a-f]{32}$/);
  const id = res.headers.get("location")!.split("/").pop()!;
  await app.waitForState(id, "succeeded");
  // Leave the next tests a clean prefix.
  await redis.client.del(...(await keysUnder(redis.client, app.prefix)));
  fs.rmSync(`${app.logDir}/${id}.log`);
});

const unreadable: [string, string][] = [
  ["broken JSON", "{bad"],
  ["a JSON array", "[1,2]"],
  ["JSON null", "null"],
];
for (const [what, body] of unreadable) {
  test.serial(`a body of ${what} answers 400 with a plain message and changes nothing`, async (t) => {
    const res = await app.post("/count", body, { "Content-Type": "application/json" });
    t.is(res.status, 400);
    const html = await res.text();
    t.regex(html, /could not be read/);
    t.notRegex(html, /Unexpected token|at position|SyntaxError/);
    await nothingHappened(t);
  });
}

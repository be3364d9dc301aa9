// The operator's /admin over HTTP, against a real app and a real Redis: off
// without a password, the login and its limits, the session cookie, the
// jobs list's filters and cursor, and the actions. One test at a time:
// most start an app of their own, and a dozen at once on a busy machine made
// the web store's commands miss their 1.5 s deadline.
import test, { type ExecutionContext } from "ava";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../../server/paths.ts";
import { loadConfig, ConfigError } from "../../server/config.ts";
import { hashPassword } from "../../server/admin/auth.ts";
import { LOGIN_FAILURES_MAX } from "../../server/admin/login-throttle.ts";
import { startApp, useApp, type TestApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import type { JobStore } from "../../jobs/core/store.ts";

const redis = useRedis(test);
const PASSWORD = "correct horse battery";
const SECRET = "s".repeat(40);
const ADMIN_ENV = { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: SECRET };

/** Takes no jobs: what is submitted stays queued until the test moves it. */
const app = useApp(test, { redis, name: "admin", env: ADMIN_ENV, takesJobs: false });

/** The Cookie header that a login's Set-Cookie headers give. */
function cookieOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

async function login(a: TestApp, password = PASSWORD): Promise<string> {
  const res = await a.post("/admin/login", { password, next: "/admin" });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return cookieOf(res);
}

const json = (cookie: string) => ({ Cookie: cookie, Accept: "application/json" });

/** A job of a type in a state, moved there through the store as the server and a job process would. */
async function jobIn(
  store: JobStore,
  state: "queued" | "running" | "succeeded" | "failed" | "cancelled",
  type = "count",
  params: object = { start: 1, end: 3, increment: 1 },
): Promise<string> {
  const id = await store.create({ type, params, total: 3, queueMax: 1e9 });
  if (state === "queued") return id;
  if (state === "cancelled") {
    await store.cancel(id, 1000);
    return id;
  }
  const claimed = await store.claim("test-owner", 600_000, [type], ["count", "primes", "csv-check"]);
  if (claimed?.id !== id) throw new Error(`claimed ${claimed?.id}, not ${id}`);
  await store.start(id, process.pid, "test-host", 600_000);
  if (state === "running") return id;
  await store.finish(id, state, "job", state === "failed" ? { reason: "job-error", error: "It broke\nsecond line" } : {});
  return id;
}

// ---------------------------------------------------------------- off unless configured

test.serial("without a password, /admin and every page under it answer 404", async (t) => {
  const plain = await startApp(t, { redis, name: "no-admin" });
  for (const path of ["/admin", "/admin/", "/admin/login", "/admin/jobs"]) {
    t.is((await plain.get(path)).status, 404, path);
  }
  t.is((await plain.post("/admin/login", { password: "x" })).status, 404);
});

test.serial("a password without SESSION_SECRET refuses to start, naming the missing setting", (t) => {
  for (const env of [{ ADMIN_PASSWORD: PASSWORD }, { ADMIN_PASSWORD_HASH: hashPassword(PASSWORD, { N: 1024 }) }]) {
    const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.regex(err.message, /SESSION_SECRET: required when ADMIN_PASSWORD/);
  }
});

test.serial("bad admin settings are refused with what they accept", (t) => {
  const bad = [
    [{ ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "short" }, /SESSION_SECRET: expected at least 32 characters/],
    [{ ADMIN_PASSWORD_HASH: "sha1$abc", SESSION_SECRET: SECRET }, /ADMIN_PASSWORD_HASH: expected scrypt\$N\$r\$p\$salt\$hash/],
    [
      { ADMIN_PASSWORD: PASSWORD, ADMIN_PASSWORD_HASH: hashPassword(PASSWORD, { N: 1024 }), SESSION_SECRET: SECRET },
      /set one of them, not both/,
    ],
  ] as const;
  for (const [env, message] of bad) t.regex(t.throws(() => loadConfig(env), { instanceOf: ConfigError }).message, message);
});

// ---------------------------------------------------------------- login

test.serial("a page of /admin without a session sends a browser to the login, and a JSON client gets 401", async (t) => {
  const page = await app.get("/admin/jobs?state=failed");
  t.is(page.status, 303);
  t.is(page.headers.get("location"), "/admin/login?next=%2Fadmin%2Fjobs%3Fstate%3Dfailed");
  const api = await app.get("/admin", { Accept: "application/json" });
  t.is(api.status, 401);
  t.like(await api.json(), { error: "unauthenticated" });
  const refresh = await app.get("/admin", { "HX-Request": "true" });
  t.is(refresh.status, 204, "an overview refresh without a session sends the page to the login");
  t.is(refresh.headers.get("hx-redirect"), "/admin/login?next=%2Fadmin");
  const form = await app.get("/admin/login");
  t.is(form.status, 200);
  t.regex(await form.text(), /<input type="password" id="password" name="password"/);
});

test.serial("a wrong password answers 401 with the form and a message, and sets no cookie", async (t) => {
  const a = await startApp(t, { redis, name: "admin-wrong", env: ADMIN_ENV, takesJobs: false });
  const res = await a.post("/admin/login", { password: "not it" });
  t.is(res.status, 401);
  t.deepEqual(res.headers.getSetCookie(), []);
  const html = await res.text();
  t.regex(html, /That password is not the operator&#39;s/);
  t.regex(html, /aria-invalid="true"/);
  const api = await a.post("/admin/login", JSON.stringify({ password: "not it" }), {
    "Content-Type": "application/json",
    Accept: "application/json",
  });
  t.is(api.status, 401);
  t.like(await api.json(), { error: "wrong-password" });
});

test.serial("the right password sets a signed, HttpOnly, SameSite=Strict session cookie with an expiry, which opens /admin", async (t) => {
  const res = await app.post("/admin/login", { password: PASSWORD, next: "/admin/jobs" });
  t.is(res.status, 303);
  t.is(res.headers.get("location"), "/admin/jobs");
  const [session, signature] = res.headers.getSetCookie();
  t.regex(session!, /^sidejob_admin=\d+\.[\w-]+; path=\/; expires=[^;]+; samesite=strict; httponly$/);
  t.regex(signature!, /^sidejob_admin\.sig=/);
  const cookie = cookieOf(res);
  t.is((await app.get("/admin", { Cookie: cookie })).status, 200);
  t.is((await app.get("/admin", { Cookie: session!.split(";")[0]! })).status, 303, "the value without its signature is refused");
});

test.serial("a login never redirects off /admin", async (t) => {
  for (const next of ["https://evil.example/", "//evil.example/admin", "/jobs/x", "/admin\\@evil"]) {
    const res = await app.post("/admin/login", { password: PASSWORD, next });
    t.is(res.headers.get("location"), "/admin", next);
  }
});

test.serial(
  `after ${LOGIN_FAILURES_MAX} failed logins in a minute, the next attempt answers 429 with Retry-After, even with the right password`,
  async (t) => {
    const a = await startApp(t, { redis, name: "admin-throttle", env: ADMIN_ENV, takesJobs: false });
    for (let i = 0; i < LOGIN_FAILURES_MAX; i++) t.is((await a.post("/admin/login", { password: `wrong ${i}` })).status, 401);
    const blocked = await a.post("/admin/login", { password: PASSWORD });
    t.is(blocked.status, 429);
    const wait = Number(blocked.headers.get("retry-after"));
    t.true(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    t.regex(await blocked.text(), /Too many failed logins/);
    t.deepEqual(blocked.headers.getSetCookie(), []);
  },
);

test.serial("a session cookie signed with another SESSION_SECRET is refused", async (t) => {
  const other = await startApp(t, {
    redis,
    name: "admin-other",
    env: { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "o".repeat(40) },
    takesJobs: false,
  });
  const stolen = await login(other);
  t.is((await other.get("/admin", { Cookie: stolen })).status, 200, "it opens the instance that signed it");
  t.is((await app.get("/admin", { Cookie: stolen })).status, 303);
  t.is((await app.get("/admin", json(stolen))).status, 401);
});

test.serial("logging out removes the session cookie", async (t) => {
  const cookie = await login(app);
  const res = await app.post("/admin/logout", "", { Cookie: cookie });
  t.is(res.status, 303);
  t.is(res.headers.get("location"), "/admin/login");
  t.true(res.headers.getSetCookie().some((c) => /^sidejob_admin=;.*expires=Thu, 01 Jan 1970/.test(c)));
});

test.serial("a cross-site POST to /admin is refused with 403, logged in or not", async (t) => {
  const cookie = await login(app);
  const id = await jobIn(app.store, "queued");
  for (const headers of [{ "Sec-Fetch-Site": "cross-site" }, { Origin: "http://evil.example" }] as Record<string, string>[]) {
    t.is((await app.post("/admin/login", { password: PASSWORD }, headers)).status, 403);
    t.is((await app.post(`/admin/jobs/${id}/cancel`, "", { ...headers, Cookie: cookie })).status, 403);
    t.is((await app.post("/admin/bulk/cancel-queued", "", { ...headers, Cookie: cookie })).status, 403);
  }
  t.is((await app.store.read(id))?.state, "queued");
});

test.serial("an ADMIN_PASSWORD_HASH made as the README says lets the password in", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "admin-hash",
    env: { ADMIN_PASSWORD_HASH: hashPassword("hashed secret", { N: 1024 }), SESSION_SECRET: SECRET },
    takesJobs: false,
  });
  t.is((await a.post("/admin/login", { password: "hashed secret!" })).status, 401);
  const cookie = await login(a, "hashed secret");
  t.is((await a.get("/admin", { Cookie: cookie })).status, 200);
});

// ---------------------------------------------------------------- overview

test.serial("the overview counts jobs per state and type, the queue and its oldest job, and lists the live instances", async (t) => {
  const a = await startApp(t, { redis, name: "admin-overview", env: ADMIN_ENV });
  // One heartbeat written, then no more job taken: the jobs below stay as they are made.
  await a.supervisor.heartbeat();
  await a.supervisor.close();
  const cookie = await login(a);
  await jobIn(a.store, "failed");
  await jobIn(a.store, "succeeded");
  await jobIn(a.store, "queued");
  await jobIn(a.store, "queued", "primes", { n: 100 });
  const res = await a.get("/admin", json(cookie));
  t.is(res.status, 200);
  const o = (await res.json()) as {
    counts: { byState: Record<string, number>; byType: Record<string, number>; byTypeAndState: Record<string, Record<string, number>> };
    queue: { length: number; oldestAgeMs: number | null };
    instances: { pid: number; host: string; version: string; slotsTotal: number }[];
    lostLastHour: number;
  };
  t.like(o.counts.byState, { queued: 2, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
  t.like(o.counts.byType, { count: 3, primes: 1 });
  t.is(o.counts.byTypeAndState.primes!.queued, 1);
  t.is(o.queue.length, 2);
  t.true(o.queue.oldestAgeMs !== null && o.queue.oldestAgeMs >= 0);
  t.is(o.lostLastHour, 0);
  const me = o.instances.find((i) => i.pid === process.pid);
  t.truthy(me, "this instance's heartbeat is listed");
  t.is(me!.version, (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  t.true(me!.slotsTotal > 0);

  const page = await a.get("/admin", { Cookie: cookie });
  const html = await page.text();
  t.regex(html, /hx-get="\/admin" hx-trigger="every 5s"/);
  t.regex(html, /<a href="\/admin">Refresh<\/a>/);
  t.regex(html, /<svg class="chart-svg"/);
  const fragment = await a.get("/admin", { Cookie: cookie, "HX-Request": "true" });
  const text = await fragment.text();
  t.regex(text, /^<div id="admin-overview" hx-get="\/admin" hx-trigger="every 5s"/);
  t.notRegex(text, /aria-live|role="status"|role="alert"/, "a refresh announces nothing");
  t.notRegex(text, /<html/);
});

test.serial("the overview lists the types each instance runs: a type at 0 is left out, a web-only instance runs none", async (t) => {
  const a = await startApp(t, { redis, name: "admin-types", env: { ...ADMIN_ENV, JOB_SLOTS: "3", JOB_CONCURRENCY_PRIMES: "0" } });
  const web = await startApp(t, { redis, prefix: a.prefix, env: { ...ADMIN_ENV, JOB_SLOTS: "0" } });
  await Promise.all([a.supervisor.heartbeat(), web.supervisor.heartbeat()]);
  const html = await (await a.get("/admin", { Cookie: await login(a) })).text();
  t.regex(html, /<th scope="col">Types run<\/th>/);
  t.regex(html, /<td>count 0 of 3, csv-check 0 of 2<\/td>/, "count capped at JOB_SLOTS, primes left out");
  t.regex(html, /<td>None<\/td>/, "the web-only instance");
});

test.serial("the overview counts a job recorded lost in the last hour", async (t) => {
  const a = await startApp(t, { redis, name: "admin-lost", env: { ...ADMIN_ENV }, takesJobs: false });
  const id = await a.store.create({ type: "count", params: {}, total: 1, queueMax: 10 });
  await a.store.claim("gone", 1, ["count"], ["count"]);
  await a.store.start(id, 1, "h", 1);
  await waitFor(async () => (await a.store.sweep()).lost.includes(id), { message: "the job to be recorded lost" });
  const o = (await (await a.get("/admin", json(await login(a)))).json()) as { lostLastHour: number };
  t.is(o.lostLastHour, 1);
});

// ---------------------------------------------------------------- jobs list

interface ListJson {
  jobs: { id: string; type: string; state: string; title: string; error: string | null; createdAt: string }[];
  next: string | null;
  nextUrl: string | null;
}

async function list(a: TestApp, cookie: string, query: string): Promise<ListJson> {
  const res = await a.get(`/admin/jobs${query}`, json(cookie));
  if (res.status !== 200) throw new Error(`GET /admin/jobs${query} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as ListJson;
}

test.serial("the jobs list filters by state, type, time range, id prefix and parameter value, newest first", async (t) => {
  const a = await startApp(t, { redis, name: "admin-filters", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  // Each job a millisecond after the last (jobs of the same millisecond are ordered by id).
  const apart = async (made: Promise<string>) => {
    const id = await made;
    const at = (await a.store.read(id))!.createdAt!;
    await waitFor(async () => (await a.store.now()) > at, { message: "Redis' clock to move on" });
    return id;
  };
  const early = [await apart(jobIn(a.store, "failed")), await apart(jobIn(a.store, "succeeded", "primes", { n: 4242 }))];
  const firstBatchEnd = (await a.store.read(early[1]!))!.createdAt!;
  const late = [
    await apart(jobIn(a.store, "queued")),
    await apart(jobIn(a.store, "failed", "primes", { n: 77 })),
    await apart(jobIn(a.store, "cancelled")),
  ];
  const all = await list(a, cookie, "");
  t.deepEqual(
    all.jobs.map((j) => j.id),
    [...early, ...late].reverse(),
    "newest first",
  );
  t.deepEqual(
    (await list(a, cookie, "?state=failed")).jobs.map((j) => j.id),
    [late[1], early[0]],
  );
  t.deepEqual(
    (await list(a, cookie, "?type=primes")).jobs.map((j) => j.id),
    [late[1], early[1]],
  );
  t.deepEqual(
    (await list(a, cookie, "?type=primes&state=failed")).jobs.map((j) => j.id),
    [late[1]],
  );
  // Both ends are inclusive: up to the last early job's millisecond, and from the next.
  t.deepEqual(
    (await list(a, cookie, `?from=${new Date(firstBatchEnd + 1).toISOString()}`)).jobs.map((j) => j.id),
    [...late].reverse(),
  );
  t.deepEqual(
    (await list(a, cookie, `?to=${new Date(firstBatchEnd).toISOString()}`)).jobs.map((j) => j.id),
    [...early].reverse(),
  );
  t.deepEqual(
    (await list(a, cookie, `?id=${late[2]}`)).jobs.map((j) => j.id),
    [late[2]],
  );
  const prefix = late[0]!.slice(0, 6);
  t.true((await list(a, cookie, `?id=${prefix}`)).jobs.some((j) => j.id === late[0]));
  t.deepEqual(
    (await list(a, cookie, "?param=4242")).jobs.map((j) => j.id),
    [early[1]],
  );
  const failed = all.jobs.find((j) => j.id === early[0])!;
  t.is(failed.error, "It broke", "the first line of the error");
  t.is(failed.title, "Count from 1 to 3");

  const html = await (await a.get("/admin/jobs?type=primes&state=failed", { Cookie: cookie })).text();
  t.regex(html, /<option value="primes" selected>/);
  t.regex(html, /<option value="failed" selected>/);
  t.regex(html, new RegExp(`href="/admin/jobs/${late[1]}"`));
  t.notRegex(html, new RegExp(early[0]!));
  const empty = await (await a.get("/admin/jobs?state=running", { Cookie: cookie })).text();
  t.regex(empty, /No job matches these filters/);
});

test.serial("bad filters answer 400 with what they accept, as a page or JSON", async (t) => {
  const cookie = await login(app);
  for (const [query, message] of [
    ["?state=lost", /There is no state "lost"/],
    ["?type=nope", /There is no job type "nope"/],
    ["?id=xyz", /hexadecimal/],
    ["?from=yesterday", /"from" time could not be read/],
    ["?after=12", /cursor could not be read/],
    ["?limit=0", /page size/],
  ] as const) {
    const res = await app.get(`/admin/jobs${query}`, json(cookie));
    t.is(res.status, 400, query);
    t.regex(((await res.json()) as { message: string }).message, message);
    const page = await app.get(`/admin/jobs${query}`, { Cookie: cookie });
    t.is(page.status, 400);
  }
});

for (const partitions of [1, 4]) {
  test.serial(
    `the cursor pages through the list without a gap or a repeat, also among jobs created in the same millisecond (${partitions} partition${partitions > 1 ? "s" : ""})`,
    async (t) => {
      const a = await startApp(t, {
        redis,
        name: "admin-cursor",
        env: { ...ADMIN_ENV, REDIS_PARTITIONS: String(partitions) },
        takesJobs: false,
      });
      const cookie = await login(a);
      // Created at once: many share a millisecond, so ties are ordered by id.
      const ids = await Promise.all(
        Array.from({ length: 23 }, (_, i) =>
          jobIn(
            a.store,
            i % 3 === 0 ? "cancelled" : "queued",
            i % 2 ? "count" : "primes",
            i % 2 ? { start: 1, end: 3, increment: 1 } : { n: 100 },
          ),
        ),
      );
      const whole = (await list(a, cookie, "?limit=200")).jobs.map((j) => j.id);
      t.is(whole.length, 23);
      t.deepEqual([...whole].sort(), [...ids].sort());
      const seen: string[] = [];
      let query = "?limit=5";
      let pages = 0;
      for (;;) {
        const page = await list(a, cookie, query);
        pages++;
        seen.push(...page.jobs.map((j) => j.id));
        if (!page.nextUrl) break;
        t.true(page.jobs.length === 5);
        query = page.nextUrl.slice("/admin/jobs".length);
        t.regex(query, /limit=5/, "the next page keeps the filters");
      }
      t.is(pages, 5);
      t.deepEqual(seen, whole);
      const filtered: string[] = [];
      query = "?state=queued&limit=4";
      for (;;) {
        const page = await list(a, cookie, query);
        filtered.push(...page.jobs.map((j) => j.id));
        if (!page.nextUrl) break;
        query = page.nextUrl.slice("/admin/jobs".length);
      }
      t.deepEqual(
        filtered,
        whole.filter((id, _) => ids.indexOf(id) % 3 !== 0),
      );
      if (partitions > 1) t.true(new Set(ids.map((id) => a.store.partition(id).base)).size > 1, "the jobs lie in several partitions");
    },
  );
}

// ---------------------------------------------------------------- actions

test.serial("retry creates a job with the same parameters, linked both ways, and delete removes an ended job", async (t) => {
  const a = await startApp(t, { redis, name: "admin-retry", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  const failed = await jobIn(a.store, "failed", "count", { start: 2, end: 6, increment: 2 });
  const res = await a.post(`/admin/jobs/${failed}/retry`, "", { Cookie: cookie });
  t.is(res.status, 303);
  const newId = res.headers.get("location")!.split("/").pop()!;
  const retried = (await a.store.read(newId))!;
  t.like(retried, { state: "queued", type: "count", retryOf: failed, params: { start: 2, end: 6, increment: 2 } });
  t.is((await a.store.read(failed))!.retriedAs, newId);
  const page = await (await a.get(`/admin/jobs/${newId}`, { Cookie: cookie })).text();
  t.regex(page, new RegExp(`Retry of <a href="/admin/jobs/${failed}">`));
  const old = await (await a.get(`/admin/jobs/${failed}`, { Cookie: cookie })).text();
  t.regex(old, new RegExp(`Retried as <a href="/admin/jobs/${newId}">`));
  t.regex(old, /It broke/);
  await a.store.appendLog(newId, ["first line", "second <line>"]);
  const logged = await (await a.get(`/admin/jobs/${newId}`, { Cookie: cookie })).text();
  t.regex(logged, /<pre class="log">first line\nsecond &lt;line&gt;<\/pre>/, "the whole log, a line each, escaped");

  const asJson = (await (await a.get(`/admin/jobs/${failed}`, json(cookie))).json()) as Record<string, unknown>;
  t.like(asJson, { id: failed, pid: process.pid, host: "test-host", retriedAs: newId, error: "It broke\nsecond line" });
  t.true(typeof asJson.ranMs === "number" && typeof asJson.queuedMs === "number");
  const running = await a.post(`/admin/jobs/${newId}/delete`, "", json(cookie));
  t.is(running.status, 409, "a job that has not ended is not deleted");
  const del = await a.post(`/admin/jobs/${failed}/delete`, "", json(cookie));
  t.is(del.status, 200);
  t.is(await a.store.read(failed), null);
  t.false(
    (await list(a, cookie, "?state=failed")).jobs.some((j) => j.id === failed),
    "gone from the list",
  );
  t.is((await a.post(`/admin/jobs/${failed}/retry`, "", json(cookie))).status, 404);
});

test.serial("a job whose upload has expired cannot be retried, and nothing is created", async (t) => {
  const a = await startApp(t, { redis, name: "admin-upload", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  const { newJobId } = await import("../../jobs/core/store.ts");
  const id = newJobId();
  await a.store.appendUpload(id, "file", Buffer.from("a,b\n1,2\n"));
  await a.store.create({ id, uploads: ["file"], type: "csv-check", params: {}, total: 0, queueMax: 10 });
  await a.store.cancel(id, 1000);
  await a.store.deleteUploads(id, ["file"]);
  const before = (await list(a, cookie, "")).jobs.length;
  const res = await a.post(`/admin/jobs/${id}/retry`, "", json(cookie));
  t.is(res.status, 409);
  t.like(await res.json(), { error: "upload-gone" });
  t.is((await list(a, cookie, "")).jobs.length, before);
});

test.serial(
  "cancelling every queued job asks on a page first, naming the count, even for 6 jobs, then cancels them and reports it",
  async (t) => {
    const a = await startApp(t, { redis, name: "admin-bulk-few", env: ADMIN_ENV, takesJobs: false });
    const cookie = await login(a);
    await Promise.all(Array.from({ length: 6 }, () => jobIn(a.store, "queued")));
    const ask = await a.post("/admin/bulk/cancel-queued", "", { Cookie: cookie });
    t.is(ask.status, 200);
    const html = await ask.text();
    t.regex(html, /<h1>Cancel 6 queued jobs\?<\/h1>/);
    t.regex(html, /This acts on <strong>6 jobs<\/strong>/);
    t.regex(html, /<input type="hidden" name="confirm" value="yes">/);
    t.is((await a.store.counts(["count"])).count!.queued, 6, "nothing was cancelled yet");
    const api = await a.post("/admin/bulk/cancel-queued", "", json(cookie));
    t.is(api.status, 409);
    t.like(await api.json(), { error: "confirm", count: 6, message: "Cancel 6 queued jobs? Send confirm=yes to go ahead." });
    t.is((await a.store.counts(["count"])).count!.queued, 6, "nothing was cancelled by the JSON request either");

    const done = await a.post("/admin/bulk/cancel-queued", { confirm: "yes" }, { Cookie: cookie });
    t.is(done.status, 200);
    t.regex(await done.text(), /Jobs cancelled<\/dt><dd>6</);
    t.like((await a.store.counts(["count"])).count, { queued: 0, cancelled: 6 });
  },
);

test.serial("a bulk action over one job asks about one job, and over none says there is nothing to do and offers no button", async (t) => {
  const a = await startApp(t, { redis, name: "admin-bulk-one", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  await jobIn(a.store, "queued");
  const one = await (await a.post("/admin/bulk/cancel-queued", "", { Cookie: cookie })).text();
  t.regex(one, /<h1>Cancel 1 queued job\?<\/h1>/);
  t.regex(one, /This acts on <strong>1 job<\/strong>/);
  const retry = await (await a.post("/admin/bulk/retry-failed", { type: "primes" }, { Cookie: cookie })).text();
  t.regex(retry, /<h1>No failed primes jobs to retry<\/h1>/);
  t.notRegex(retry, /name="confirm"/);
  t.is((await a.store.counts(["count"])).count!.queued, 1, "the queued job is still queued");
});

test.serial("cancelling every queued job over 100 asks on a page first, then cancels them and reports it", async (t) => {
  const a = await startApp(t, { redis, name: "admin-bulk", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  await Promise.all(Array.from({ length: 105 }, () => jobIn(a.store, "queued")));
  const ask = await a.post("/admin/bulk/cancel-queued", "", { Cookie: cookie });
  t.is(ask.status, 200);
  const html = await ask.text();
  t.regex(html, /<h1>Cancel 105 queued jobs\?<\/h1>/);
  t.regex(html, /This acts on <strong>105 jobs<\/strong>/);
  t.regex(html, /<input type="hidden" name="confirm" value="yes">/);
  t.is((await a.store.counts(["count"])).count!.queued, 105, "nothing was cancelled yet");
  const api = await a.post("/admin/bulk/cancel-queued", "", json(cookie));
  t.is(api.status, 409);
  t.like(await api.json(), { error: "confirm", count: 105 });

  const done = await a.post("/admin/bulk/cancel-queued", { confirm: "yes" }, { Cookie: cookie });
  t.is(done.status, 200);
  t.regex(await done.text(), /Jobs cancelled<\/dt><dd>105</);
  t.like((await a.store.counts(["count"])).count, { queued: 0, cancelled: 105 });
  t.is(await a.store.totalQueueLength(), 0);
});

test.serial("a bulk action the table does not name, even an inherited property's name, is a 404 that changes nothing", async (t) => {
  const a = await startApp(t, { redis, name: "admin-bulk-unknown", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  await jobIn(a.store, "queued");
  for (const action of ["nope", "constructor", "toString", "__proto__"]) {
    const res = await a.post(`/admin/bulk/${action}`, { confirm: "yes" }, { Cookie: cookie });
    t.is(res.status, 404, action);
  }
  t.is((await a.store.counts(["count"])).count!.queued, 1, "the queued job is still queued");
});

test.serial("retrying every failed job of a type asks first, then retries each once", async (t) => {
  const a = await startApp(t, { redis, name: "admin-bulk-retry", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  const failed = await Promise.all(Array.from({ length: 4 }, () => jobIn(a.store, "failed")));
  await jobIn(a.store, "failed", "primes", { n: 10 });
  const ask = await a.post("/admin/bulk/retry-failed", { type: "count" }, json(cookie));
  t.is(ask.status, 409);
  t.like(await ask.json(), { error: "confirm", count: 4, message: "Retry 4 failed count jobs? Send confirm=yes to go ahead." });
  t.falsy((await a.store.read(failed[0]!))!.retriedAs, "nothing was retried yet");
  const res = await a.post("/admin/bulk/retry-failed", JSON.stringify({ type: "count", confirm: "yes" }), {
    ...json(cookie),
    "Content-Type": "application/json",
  });
  t.is(res.status, 200);
  const report = (await res.json()) as { matched: number; done: number; skipped: number; created: string[] };
  t.like(report, { matched: 4, done: 4, skipped: 0 });
  for (const id of failed) t.truthy((await a.store.read(id))!.retriedAs);
  const again = (await (await a.post("/admin/bulk/retry-failed", { type: "count", confirm: "yes" }, json(cookie))).json()) as {
    done: number;
    skipped: number;
  };
  t.like(again, { done: 0, skipped: 4 }, "a job already retried is not retried again");
  t.is((await a.store.counts(["primes"])).primes!.queued, 0, "other types are left alone");
  t.is((await a.post("/admin/bulk/retry-failed", { type: "" }, json(cookie))).status, 400);
});

test.serial("with a full queue, a retry answers 503 and links nothing", async (t) => {
  const a = await startApp(t, { redis, name: "admin-full", env: { ...ADMIN_ENV, JOB_QUEUE_MAX: "1" }, takesJobs: false });
  const cookie = await login(a);
  const failed = await jobIn(a.store, "failed");
  await a.store.create({ type: "count", params: {}, total: 1, queueMax: 1 });
  const res = await a.post(`/admin/jobs/${failed}/retry`, "", json(cookie));
  t.is(res.status, 503);
  t.is((await a.store.read(failed))!.retriedAs, null);
});

test.serial("cancel from /admin ends a queued job", async (t: ExecutionContext) => {
  const cookie = await login(app);
  const id = await jobIn(app.store, "queued");
  const res = await app.post(`/admin/jobs/${id}/cancel`, "", json(cookie));
  t.is(res.status, 202);
  t.is((await app.store.read(id))!.state, "cancelled");
  t.is((await app.post(`/admin/jobs/${id}/cancel`, "", json(cookie))).status, 409);
});

test.serial("a failed job keeps its upload and is retried with a copy of it", async (t) => {
  const a = await startApp(t, { redis, name: "admin-upload-ok", env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  const { newJobId } = await import("../../jobs/core/store.ts");
  const id = newJobId();
  await a.store.appendUpload(id, "file", Buffer.from("a,b\n1,2\n"));
  await a.store.create({ id, uploads: ["file"], type: "csv-check", params: {}, total: 0, queueMax: 10 });
  await a.store.finish(id, "failed", "force", { reason: "job-error", error: "It failed." });
  t.true((await redis.client.ttl(`${a.prefix}:{jobs}:job:${id}:upload:file`)) > 0, "a failed job's upload expires with it");
  const res = await a.post(`/admin/jobs/${id}/retry`, "", json(cookie));
  t.is(res.status, 201);
  const { retriedAs } = (await res.json()) as { retriedAs: string };
  t.like(await a.store.read(retriedAs), { state: "queued", type: "csv-check", retryOf: id, uploads: ["file"] });
  t.is((await a.store.readUploadRange(retriedAs, "file", 0, 100)).toString(), "a,b\n1,2\n");
  t.is(await redis.client.ttl(`${a.prefix}:{jobs}:job:${retriedAs}:upload:file`), -1, "kept until its job ends");
});

test.serial("an ended job drops out of the list and its index once it has expired", async (t) => {
  const a = await startApp(t, { redis, name: "admin-expiry", env: { ...ADMIN_ENV, JOB_TTL_SUCCEEDED_S: "1" }, takesJobs: false });
  const cookie = await login(a);
  const id = await jobIn(a.store, "succeeded");
  t.deepEqual(
    (await list(a, cookie, "")).jobs.map((j) => j.id),
    [id],
  );
  await waitFor(async () => (await a.store.read(id)) === null, { message: "the job to expire" });
  t.deepEqual((await list(a, cookie, "")).jobs, []);
  t.is(await redis.client.zcard(`${a.prefix}:{jobs}:ix:count:succeeded`), 0, "the list dropped the entry of a job it found gone");
});

test.serial("each ended job is counted in its minute, and the counts expire", async (t) => {
  const a = await startApp(t, { redis, name: "admin-minutes", env: ADMIN_ENV, takesJobs: false });
  await jobIn(a.store, "succeeded");
  await jobIn(a.store, "failed");
  await jobIn(a.store, "cancelled");
  const now = await a.store.now();
  const minutes = await a.store.endedPerMinute(now, 2);
  t.deepEqual(
    minutes.reduce((s, m) => [s[0]! + m.succeeded, s[1]! + m.failed, s[2]! + m.cancelled], [0, 0, 0]),
    [1, 1, 1],
  );
  const keys = (await redis.client.keys(`${a.prefix}:{jobs}:ix:[md]:*`)).sort();
  t.true(keys.length >= 2, keys.join(", "));
  for (const key of keys) {
    const ttl = await redis.client.ttl(key);
    t.true(ttl > 0 && ttl <= 90_000, `${key}: ${ttl}`);
  }
  const durations = await a.store.durations(["count"], now, 1);
  t.is(
    [...durations.count!.values()].reduce((s, c) => s + c, 0),
    2,
    "the two jobs that ran",
  );
});

test.serial("the periodic trim drops the index entry of an expired job that nobody listed", async (t) => {
  const a = await startApp(t, { redis, name: "admin-trim", env: { ...ADMIN_ENV, JOB_TTL_SUCCEEDED_S: "1" }, takesJobs: false });
  const id = await jobIn(a.store, "succeeded");
  const kept = await jobIn(a.store, "failed");
  const retention = [{ type: "count", ttlSucceededS: 1, ttlFailedS: 3600 }];
  t.is(await a.store.trimIndex(retention), 0, "nothing has expired yet");
  await waitFor(async () => (await a.store.read(id)) === null, { message: "the job to expire" });
  t.is(await a.store.trimIndex(retention), 1);
  t.is(await redis.client.zcard(`${a.prefix}:{jobs}:ix:count:succeeded`), 0);
  t.deepEqual(await redis.client.zrange(`${a.prefix}:{jobs}:ix:count:failed`, "0", "-1"), [kept]);
});

test.serial("every change of state moves a job to the index set of its new state, in the same step", async (t) => {
  const a = await startApp(t, { redis, name: "admin-index", env: ADMIN_ENV, takesJobs: false });
  const setsOf = async (id: string) => {
    const found: string[] = [];
    for (const state of ["queued", "running", "succeeded", "failed", "cancelled"]) {
      if ((await redis.client.zscore(`${a.prefix}:{jobs}:ix:count:${state}`, id)) !== null) found.push(state);
    }
    return found;
  };
  const id = await jobIn(a.store, "queued");
  t.deepEqual(await setsOf(id), ["queued"]);
  await a.store.claim("o", 600_000, ["count"], ["count"]);
  t.deepEqual(await setsOf(id), ["queued"], "claimed is still queued");
  await a.store.start(id, 1, "h", 600_000);
  t.deepEqual(await setsOf(id), ["running"]);
  await a.store.finish(id, "succeeded", "job");
  t.deepEqual(await setsOf(id), ["succeeded"]);
  const created = (await a.store.read(id))!.createdAt;
  t.is(Number(await redis.client.zscore(`${a.prefix}:{jobs}:ix:count:succeeded`, id)), created!, "scored by its creation time");

  const cancelled = await jobIn(a.store, "cancelled");
  t.deepEqual(await setsOf(cancelled), ["cancelled"]);
  const lost = await jobIn(a.store, "queued");
  await a.store.claim("o", 1, ["count"], ["count"]);
  await a.store.start(lost, 1, "h", 1);
  await waitFor(async () => (await a.store.sweep()).lost.includes(lost), { message: "the job to be recorded lost" });
  t.deepEqual(await setsOf(lost), ["failed"]);
});

test.serial("an instance's heartbeat lists it until its TTL runs out", async (t) => {
  const a = await startApp(t, { redis, name: "admin-beat", env: ADMIN_ENV, takesJobs: false });
  await a.store.heartbeat("test-instance", { host: "h", pid: 1, version: "9" }, 300);
  const { instances } = await a.store.instances();
  t.deepEqual(instances, [{ id: "test-instance", facts: { host: "h", pid: 1, version: "9" } }]);
  await waitFor(async () => (await a.store.instances()).instances.length === 0, { message: "the heartbeat to run out" });
  await a.store.heartbeat("another", { host: "h2" }, 10_000);
  t.deepEqual(
    (await a.store.instances()).instances.map((i) => i.id),
    ["another"],
  );
  t.is(await redis.client.hexists(`${a.prefix}:{jobs}:instances`, "test-instance"), 0, "the next beat cleared the dead one's facts");
  await a.store.create({ type: "count", params: {}, total: 1, queueMax: 10 });
  await a.store.sampleQueues();
  const samples = await a.store.queueSamples(await a.store.now());
  t.is(samples.length, 60);
  t.is(samples.at(-1)!.length, 1, "a sample records the queue's length for its minute");
});

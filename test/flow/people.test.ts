// People, signed in through the site's proxy (server/identity.ts): the
// header is believed only from TRUSTED_PROXIES, each person's jobs record
// them and are listed on "My jobs", and with JOB_VISIBILITY=owner (the
// default with sign-in) another person's job answers 404 everywhere, and a
// cancel of it changes nothing. The test's requests come from 127.0.0.1: the
// proxy, or, for the app that trusts 10.0.0.1 only, a stranger.
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { memoryLogger } from "../support/logs.ts";

const redis = useRedis(test);

const SIGN_IN = {
  TRUSTED_USER_HEADER: "X-Forwarded-User",
  TRUSTED_NAME_HEADER: "X-Forwarded-Name",
  TRUSTED_EMAIL_HEADER: "X-Forwarded-Email",
  TRUSTED_PROXIES: "127.0.0.1, ::1",
};
const ann = { "X-Forwarded-User": "ann@example.org", "X-Forwarded-Name": "Ann Example" };
const bob = { "X-Forwarded-User": "bob@example.org", "X-Forwarded-Name": "Bob Example" };
const json = (who: Record<string, string>) => ({ ...who, Accept: "application/json" });

/** A count job submitted through its form as this person; its id. */
async function submit(a: TestApp, who: Record<string, string>, end = 2): Promise<string> {
  const res = await a.post("/jobs/new/count", { start: "1", end: String(end), increment: "1" }, who);
  if (res.status !== 303) throw new Error(`the form answered ${res.status}: ${await res.text()}`);
  return res.headers.get("location")!.split("/").pop()!;
}

interface MyJobs {
  user: string;
  jobs: { id: string; state: string; type: string }[];
  next: string | null;
}

async function myJobs(a: TestApp, who: Record<string, string>, query = ""): Promise<MyJobs> {
  const res = await a.get(`/jobs/mine${query}`, json(who));
  if (res.status !== 200) throw new Error(`/jobs/mine answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as MyJobs;
}

test("each signed-in person sees only their own jobs on My jobs, newest first, with filters and pages", async (t) => {
  const a = await startApp(t, { redis, name: "people-mine", env: { ...SIGN_IN, COUNT_STEP_DELAY_MS: "0" } });
  const annFirst = await submit(a, ann);
  const annSecond = await submit(a, ann);
  const bobs = await submit(a, bob);
  const anonymous = await submit(a, {});
  for (const id of [annFirst, annSecond, bobs, anonymous]) await a.waitForState(id, "succeeded");

  t.like((await a.store.read(annFirst))!, { user: "ann@example.org" });
  t.is((await a.store.read(anonymous))!.user, null);

  const annList = await myJobs(a, ann);
  t.is(annList.user, "ann@example.org");
  t.deepEqual(
    annList.jobs.map((j) => j.id),
    [annSecond, annFirst],
  );
  t.deepEqual(
    (await myJobs(a, bob)).jobs.map((j) => j.id),
    [bobs],
  );
  t.deepEqual((await myJobs(a, ann, "?state=failed")).jobs, []);
  t.is((await myJobs(a, ann, "?state=&type=")).jobs.length, 2, "the form's Any: no filter");
  for (const [query, says] of [
    ["?state=bogus", /The state filter takes one of: queued, running, succeeded, failed, cancelled/],
    ["?type=nope", /The type filter takes one of: /],
    ["?after=zzz", /The page asked for \(after\) is not one this list gave/],
  ] as const) {
    const bad = await a.get(`/jobs/mine${query}`, json(ann));
    t.is(bad.status, 400, query);
    t.regex(((await bad.json()) as { message: string }).message, says, query);
  }
  t.is((await myJobs(a, ann, "?state=succeeded&type=count")).jobs.length, 2);

  // The page: who is signed in, the link to their jobs, and their jobs only.
  const page = await (await a.get("/jobs/mine", ann)).text();
  t.regex(page, /Signed in as Ann Example/);
  t.true(page.includes(`href="/jobs/${annFirst}"`) && page.includes(`href="/jobs/${annSecond}"`));
  t.false(page.includes(bobs));
  t.regex(await (await a.get("/", ann)).text(), /<a href="\/jobs\/mine">My jobs<\/a>/);

  // Not signed in: told so.
  const nobody = await a.get("/jobs/mine", { Accept: "application/json" });
  t.is(nobody.status, 401);
  t.like(await nobody.json(), { error: "unauthenticated" });
});

test("My jobs goes a page at a time: 25, then the rest from where the first page ended", async (t) => {
  const a = await startApp(t, { redis, name: "people-pages", env: { ...SIGN_IN, JOB_CONCURRENCY_COUNT: "0" } });
  const ids: string[] = [];
  for (let i = 0; i < 27; i++) ids.push(await submit(a, ann));
  const first = await myJobs(a, ann);
  t.is(first.jobs.length, 25);
  t.truthy(first.next);
  const second = await myJobs(a, ann, first.next!.slice("/jobs/mine".length));
  t.is(second.next, null);
  t.deepEqual(
    [...first.jobs, ...second.jobs].map((j) => j.id),
    [...ids].reverse(),
  );
});

test("another person's job answers 404 on every address, and their cancel changes nothing; its owner opens it", async (t) => {
  const a = await startApp(t, { redis, name: "people-owner", env: { ...SIGN_IN, COUNT_STEP_DELAY_MS: "200" } });
  const id = await submit(a, ann, 1000);
  await a.waitForState(id, "running");
  for (const path of [`/jobs/${id}`, `/jobs/${id}/status`, `/jobs/${id}/log`]) {
    t.is((await a.get(path, bob)).status, 404, `${path} for bob`);
    t.is((await a.get(path, {})).status, 404, `${path} for someone not signed in`);
  }
  t.is((await a.get(`/jobs/${id}/status`, { ...bob, "HX-Request": "true" })).status, 404, "htmx's poll");
  const refused = await a.post(`/jobs/${id}/cancel`, {}, bob);
  t.is(refused.status, 404);
  t.like((await a.store.read(id))!, { state: "running", cancelRequestedAt: null });

  t.is((await a.get(`/jobs/${id}`, ann)).status, 200);
  t.is((await a.get(`/jobs/${id}/status`, { ...ann, "HX-Request": "true" })).status, 200);
  t.is((await a.post(`/jobs/${id}/cancel`, {}, ann)).status, 303);
  await a.waitForState(id, "cancelled");
  t.is((await a.get(`/jobs/${id}/result.json`, bob)).status, 404);
  t.is((await a.get(`/jobs/${id}/result.json`, ann)).status, 200);
});

test("with JOB_VISIBILITY=link a signed-in person's job opens for anyone with its link", async (t) => {
  const a = await startApp(t, { redis, name: "people-link", env: { ...SIGN_IN, JOB_VISIBILITY: "link", COUNT_STEP_DELAY_MS: "0" } });
  const id = await submit(a, ann);
  await a.waitForState(id, "succeeded");
  t.is((await a.get(`/jobs/${id}`, bob)).status, 200);
  t.is((await a.get(`/jobs/${id}`, {})).status, 200);
  t.deepEqual((await myJobs(a, bob)).jobs, []);
});

test("a user header from an address that is not a trusted proxy is ignored: the job is nobody's and My jobs says not signed in", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "people-forged",
    env: { ...SIGN_IN, TRUSTED_PROXIES: "10.0.0.1", COUNT_STEP_DELAY_MS: "0" },
  });
  const id = await submit(a, ann);
  await a.waitForState(id, "succeeded");
  t.is((await a.store.read(id))!.user, null);
  t.is((await a.get("/jobs/mine", json(ann))).status, 401);
  t.notRegex(await (await a.get("/", ann)).text(), /Signed in as/);
  // Nobody's job: its link opens it for anyone.
  t.is((await a.get(`/jobs/${id}`, bob)).status, 200);
});

test("without sign-in there is no My jobs, and a user header is ignored", async (t) => {
  const a = await startApp(t, { redis, name: "people-off", env: { COUNT_STEP_DELAY_MS: "0" } });
  const id = await submit(a, ann);
  await a.waitForState(id, "succeeded");
  t.is((await a.store.read(id))!.user, null);
  t.is((await a.get("/jobs/mine", json(ann))).status, 404);
});

test("operators named in ADMIN_USERS open /admin as themselves, no password; anyone else is refused; their actions are in the audit trail with their names", async (t) => {
  const log = memoryLogger();
  const a = await startApp(t, {
    redis,
    name: "people-operators",
    env: { ...SIGN_IN, ADMIN_USERS: "olga@example.org", JOB_CONCURRENCY_COUNT: "0" },
    logger: log.logger,
  });
  const olga = { "X-Forwarded-User": "olga@example.org" };
  const waiting = [await submit(a, ann), await submit(a, ann), await submit(a, bob)];

  t.is((await a.get("/admin", olga)).status, 200);
  t.is((await a.get("/admin", ann)).status, 403);
  t.is((await a.get("/admin", {})).status, 403);
  t.is((await a.get("/admin/jobs", json(ann))).status, 403);
  // A named operator opens every person's job.
  t.is((await a.get(`/jobs/${waiting[0]}`, olga)).status, 200);

  t.is((await a.post(`/admin/jobs/${waiting[0]}/cancel`, {}, olga)).status, 303);
  t.is((await a.post(`/admin/jobs/${waiting[0]}/cancel`, {}, ann)).status, 403, "not an operator: nothing done");
  t.is((await a.post(`/admin/jobs/${waiting[1]}/cancel`, {}, ann)).status, 403);
  t.is((await a.store.read(waiting[1]!))!.state, "queued");
  t.is((await a.post("/admin/bulk/cancel-queued", { confirm: "yes" }, olga)).status, 200);

  const trail = (await (await a.get("/admin/audit", json(olga))).json()) as {
    entries: { who: string; action: string; jobs: string[]; count: number; outcome: string }[];
  };
  t.is(trail.entries.length, 2);
  t.like(trail.entries[1], { who: "olga@example.org", action: "cancel", jobs: [waiting[0]], count: 1, outcome: "cancelled" });
  t.like(trail.entries[0], { who: "olga@example.org", action: "bulk:cancel-queued", count: 2, outcome: "2 done, 0 skipped, 0 refused" });
  t.deepEqual([...trail.entries[0]!.jobs].sort(), [waiting[1], waiting[2]].sort());
  const page = await (await a.get("/admin/audit", olga)).text();
  t.regex(page, /olga@example\.org/);
  t.notRegex(page, /Log out/, "no password session to end");
  t.true(log.records.some((line) => line.event === "operator-action" && line.who === "olga@example.org" && line.action === "cancel"));
});

test("with the shared password, the audit trail names the password's session", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "people-password",
    env: { ADMIN_PASSWORD: "correct horse battery", SESSION_SECRET: "s".repeat(40), JOB_CONCURRENCY_COUNT: "0" },
  });
  const id = await submit(a, {});
  const login = await a.post("/admin/login", { password: "correct horse battery", next: "/admin" });
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
  t.is((await a.post(`/admin/jobs/${id}/cancel`, {}, { Cookie: cookie })).status, 303);
  const trail = (await (await a.get("/admin/audit", { Cookie: cookie, Accept: "application/json" })).json()) as {
    entries: { who: string; action: string }[];
  };
  t.like(trail.entries[0], { who: "the operator password", action: "cancel" });
});

test("with JOB_VISIBILITY=owner, another person's kept upload is neither offered again nor copied: their form is told it is not kept", async (t) => {
  const a = await startApp(t, { redis, name: "people-kept", env: { ...SIGN_IN, JOB_CONCURRENCY_CSV_CHECK: "0" } });
  const csvForm = (reuse?: string) => {
    const form = new FormData();
    form.set("delimiter", "comma");
    form.set("header", "true");
    if (reuse) form.set("file-reuse", reuse);
    else form.set("file", new Blob(["a,b\n1,2\n"], { type: "text/csv" }), "ann.csv");
    return form;
  };
  const send = (who: Record<string, string>, reuse?: string) =>
    fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: csvForm(reuse), headers: who, redirect: "manual" });
  const first = await send(ann);
  t.is(first.status, 303);
  const id = first.headers.get("location")!.split("/").pop()!;

  // Ann is offered her file again; Bob, with the same address, is not.
  t.regex(await (await a.get(`/jobs/new/csv-check?from=${id}`, ann)).text(), /Use the same file again: ann\.csv/);
  t.notRegex(await (await a.get(`/jobs/new/csv-check?from=${id}`, bob)).text(), /Use the same file again/);
  const before = (await a.store.listJobs({ types: ["csv-check"] }, 10)).rows.length;
  const refused = await send(bob, id);
  t.is(refused.status, 422);
  t.regex(await refused.text(), /The file of the earlier job is no longer kept/);
  t.is((await a.store.listJobs({ types: ["csv-check"] }, 10)).rows.length, before, "nothing created");
  t.is((await send(ann, id)).status, 303, "its person may");
});

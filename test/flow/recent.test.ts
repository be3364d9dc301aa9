// "Your recent jobs": a signed cookie of job ids, listed on the start page.
import test from "ava";
import { RECENT_COOKIE, RECENT_MAX } from "../../server/recent.ts";
import { startApp, useApp, type TestApp } from "../support/app.ts";
import { CookieJar, signedCookie } from "../support/cookies.ts";
import { post } from "../support/http.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const SECRET = "recent-jobs-test-secret-0123456789";
const redis = useRedis(test);
/** A Redis of its own, stopped by one test. */
const spare = useRedis(test);
/** Takes no jobs: what is submitted stays queued, so nothing ends or expires by itself. */
const app = useApp(test, { redis, name: "recent", takesJobs: false, env: { SESSION_SECRET: SECRET } });

const FORM = { start: "1", end: "10", increment: "1" };

/** Submits the count form as a browser with this jar; returns the new job's id. */
async function submitWith(target: TestApp, jar: CookieJar, form = FORM): Promise<string> {
  const res = await post(`${target.url}/count`, form, jar.header());
  if (res.status !== 303) throw new Error(`POST /count answered ${res.status}`);
  jar.take(res);
  return res.headers.get("location")!.split("/").pop()!;
}

/** The start page as this jar's browser sees it; the jar takes any cookie it rewrites. */
async function home(target: TestApp, jar: CookieJar | Record<string, string>): Promise<string> {
  const res = await target.get("/", jar instanceof CookieJar ? jar.header() : jar);
  if (jar instanceof CookieJar) jar.take(res);
  return res.text();
}

const idsIn = (jar: CookieJar) => (jar.cookies.get(RECENT_COOKIE) ?? "").split(".").filter(Boolean);
const listed = (html: string) => [...html.matchAll(/<li class="recent-job">\s*<a href="\/jobs\/([0-9a-f]{32})"/g)].map((m) => m[1]);

test("a submitted job is kept in a signed, HttpOnly, SameSite=Lax cookie of ids and listed with its state, title and link", async (t) => {
  const jar = new CookieJar();
  const res = await post(`${app.url}/count`, FORM);
  const set = jar.take(res);
  const id = res.headers.get("location")!.split("/").pop()!;
  const cookie = set.find((c) => c.name === RECENT_COOKIE)!;
  t.is(cookie.value, id, "the cookie holds the id and nothing else");
  t.true(cookie.attributes.httponly);
  t.is(String(cookie.attributes.samesite).toLowerCase(), "lax");
  t.truthy(
    set.find((c) => c.name === `${RECENT_COOKIE}.sig`),
    "a signature cookie",
  );
  const html = await home(app, jar);
  t.regex(html, /<h2 id="recent-jobs-title">Your recent jobs<\/h2>/);
  t.deepEqual(listed(html), [id]);
  t.regex(
    html,
    new RegExp(`<a href="/jobs/${id}">Count from 1 to 10</a>\\s*<span class="recent-state recent-queued">Waiting to start</span>`),
  );
});

test("every form lists this browser's recent jobs, not only the start page", async (t) => {
  const jar = new CookieJar();
  const id = await submitWith(app, jar);
  for (const path of ["/jobs/new/primes", "/jobs/new/count"]) {
    const res = await app.get(path, jar.header());
    t.is(res.status, 200, path);
    t.deepEqual(listed(await res.text()), [id], path);
  }
});

test("a job submitted as JSON joins the list too, newest first", async (t) => {
  const jar = new CookieJar();
  const first = await submitWith(app, jar);
  const res = await fetch(`${app.url}/count`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...jar.header() },
    body: JSON.stringify({ start: 2, end: 4, increment: 1 }),
  });
  t.is(res.status, 202);
  jar.take(res);
  const { id } = (await res.json()) as { id: string };
  t.deepEqual(idsIn(jar), [id, first]);
  t.deepEqual(listed(await home(app, jar)), [id, first]);
  const api = await app.get("/recent", { Accept: "application/json", ...jar.header() });
  const body = (await api.json()) as { jobs: { id: string; state: string; title: string; url: string }[] };
  t.deepEqual(
    body.jobs.map((j) => [j.id, j.state, j.title, j.url]),
    [
      [id, "queued", "Count from 2 to 4", `/jobs/${id}`],
      [first, "queued", "Count from 1 to 10", `/jobs/${first}`],
    ],
  );
});

test("the page without the cookie lists nothing and has no recent-jobs section", async (t) => {
  const html = await home(app, {});
  t.notRegex(html, /Your recent jobs/);
});

test("a tampered cookie is ignored: another id under the old signature shows nothing", async (t) => {
  const jar = new CookieJar();
  const mine = await submitWith(app, jar);
  const other = await submitWith(app, new CookieJar());
  const sig = jar.cookies.get(`${RECENT_COOKIE}.sig`)!;
  for (const value of [other, `${other}.${mine}`, `${mine}.${other}`]) {
    const html = await home(app, { Cookie: `${RECENT_COOKIE}=${value}; ${RECENT_COOKIE}.sig=${sig}` });
    t.deepEqual(listed(html), [], value);
    t.notRegex(html, new RegExp(other));
  }
  const unsigned = await home(app, { Cookie: `${RECENT_COOKIE}=${other}` });
  t.deepEqual(listed(unsigned), [], "without a signature");
});

test("a cookie signed with another secret is refused", async (t) => {
  const id = await submitWith(app, new CookieJar());
  const html = await home(app, { Cookie: signedCookie(RECENT_COOKIE, id, "another-secret-of-some-length") });
  t.deepEqual(listed(html), []);
  const accepted = await home(app, { Cookie: signedCookie(RECENT_COOKIE, id, SECRET) });
  t.deepEqual(listed(accepted), [id], "the same id under this app's secret shows: the id is the capability");
});

test("ids of jobs that do not exist drop out quietly, and the cookie is written again without them", async (t) => {
  const id = await submitWith(app, new CookieJar());
  const unknown = "0123456789abcdef0123456789abcdef";
  const jar = new CookieJar();
  for (const [k, v] of signedCookie(RECENT_COOKIE, `${unknown}.${id}.not-an-id`, SECRET)
    .split("; ")
    .map((p) => p.split("=") as [string, string]))
    jar.cookies.set(k, v);
  const res = await app.get("/", jar.header());
  t.is(res.status, 200);
  const html = await res.text();
  t.deepEqual(listed(html), [id]);
  jar.take(res);
  t.deepEqual(idsIn(jar), [id], "rewritten with the job that exists");
  const again = await app.get("/", jar.header());
  t.deepEqual(again.headers.getSetCookie(), [], "nothing to rewrite the next time");
});

test(`the list keeps the newest ${RECENT_MAX} jobs`, async (t) => {
  const jar = new CookieJar();
  const ids: string[] = [];
  for (let i = 0; i < RECENT_MAX + 2; i++) ids.push(await submitWith(app, jar, { start: "1", end: String(i + 2), increment: "1" }));
  const newest = ids.slice(-RECENT_MAX).reverse();
  t.deepEqual(idsIn(jar), newest);
  t.deepEqual(listed(await home(app, jar)), newest);
});

test("a job is removed from the list by a plain form post, and only from the list", async (t) => {
  const jar = new CookieJar();
  const keep = await submitWith(app, jar);
  const drop = await submitWith(app, jar);
  const html = await home(app, jar);
  t.regex(
    html,
    new RegExp(`<form method="post" action="/recent/remove" class="recent-remove">\\s*<input type="hidden" name="id" value="${drop}">`),
  );
  const res = await post(`${app.url}/recent/remove`, { id: drop }, jar.header());
  t.is(res.status, 303);
  t.is(res.headers.get("location"), "/#recent-jobs");
  jar.take(res);
  t.deepEqual(idsIn(jar), [keep]);
  t.deepEqual(listed(await home(app, jar)), [keep]);
  t.truthy(await app.store.read(drop), "the job itself is untouched");
  const last = await post(`${app.url}/recent/remove`, { id: keep }, jar.header());
  jar.take(last);
  t.is(jar.cookies.get(RECENT_COOKIE), undefined, "the last removal clears the cookie");
  t.notRegex(await home(app, jar), /Your recent jobs/);
});

test("removal from another site is refused and changes nothing", async (t) => {
  const jar = new CookieJar();
  const id = await submitWith(app, jar);
  const res = await post(`${app.url}/recent/remove`, { id }, { ...jar.header(), "Sec-Fetch-Site": "cross-site" });
  t.is(res.status, 403);
  t.deepEqual(res.headers.getSetCookie(), []);
  t.deepEqual(listed(await home(app, jar)), [id]);
});

test("removal without a job id is a 400 that names what to send", async (t) => {
  const res = await post(`${app.url}/recent/remove`, { id: "nope" }, { Accept: "application/json" });
  t.is(res.status, 400);
  t.deepEqual(((await res.json()) as { error: string }).error, "invalid-input");
});

test("an expired job drops out of the list", async (t) => {
  // Cancelled while queued, a job is kept for JOB_TTL_FAILED_S: 1 s here.
  const short = await startApp(t, { redis, name: "recent-expiry", takesJobs: false, env: { JOB_TTL_FAILED_S: "1" } });
  const jar = new CookieJar();
  const gone = await submitWith(short, jar);
  const kept = await submitWith(short, jar);
  t.is((await post(`${short.url}/jobs/${gone}/cancel`, {})).status, 303);
  await waitFor(async () => (await short.store.read(gone)) === null, { message: "the cancelled job to expire" });
  t.deepEqual(listed(await home(short, jar)), [kept]);
  t.deepEqual(idsIn(jar), [kept]);
});

test("without SESSION_SECRET the list works with a key of the app's own, which another app refuses", async (t) => {
  const a = await startApp(t, { redis, name: "recent-a", takesJobs: false });
  const b = await startApp(t, { redis, name: "recent-b", prefix: a.prefix, takesJobs: false });
  const jar = new CookieJar();
  const id = await submitWith(a, jar);
  t.deepEqual(listed(await home(a, jar)), [id]);
  t.deepEqual(listed(await home(b, { ...jar.header() })), [], "another instance's key does not match");
});

test("while Redis does not answer, the start page still shows the form and says the list cannot be shown, keeping the cookie", async (t) => {
  const down = await startApp(t, { redis: spare, name: "recent-down", takesJobs: false, env: { SESSION_SECRET: SECRET } });
  const jar = new CookieJar();
  const id = await submitWith(down, jar);
  await spare.stop();
  t.teardown(() => spare.start());
  const res = await down.get("/", jar.header());
  t.is(res.status, 200);
  const html = await res.text();
  t.regex(html, /<form[^>]+action="\/count"/);
  t.regex(html, /Your recent jobs cannot be shown right now/);
  t.deepEqual(res.headers.getSetCookie(), [], "the cookie is left as it is");
  t.is((await down.get("/recent", { Accept: "application/json", ...jar.header() })).status, 503);
  t.true(jar.cookies.get(RECENT_COOKIE)!.includes(id));
});

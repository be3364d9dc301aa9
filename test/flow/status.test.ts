import test from "ava";
import { startApp, useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);
/** Counts its first value, then waits a minute for the next: its jobs stay running while a test looks. */
const slow = useApp(test, { redis, name: "status-slow", env: { COUNT_STEP_DELAY_MS: "60000" } });
const fast = useApp(test, { redis, name: "status-fast" });

const POLLING = /hx-get="\/jobs\/[0-9a-f]{32}\/status\?shown=\w+" hx-trigger="every 2s" hx-swap="outerHTML"/;
const OOB = /<p id="job-announce" hx-swap-oob="innerHTML">([^<]*)<\/p>/;

/** The same count twice: one that stays running, one that has finished. */
async function runningAndFinished(form: Record<string, string>): Promise<{ running: string; finished: string }> {
  const [running, finished] = await Promise.all([slow.submit(form), fast.submit(form)]);
  await Promise.all([slow.waitForState(running, "running"), fast.waitForState(finished, "succeeded")]);
  return { running, finished };
}

test("the fragment polls while a job runs, and stops with 286 and the results once it has finished", async (t) => {
  const { running, finished } = await runningAndFinished({ start: "1", end: "4", increment: "1" });
  const res = await slow.get(`/jobs/${running}/status?shown=running`);
  t.is(res.status, 200);
  t.is(res.headers.get("cache-control"), "no-store");
  const runningHtml = await res.text();
  t.regex(runningHtml, POLLING);
  t.regex(runningHtml, /<progress id="job-progress" max="4" value="1"[^>]*>1 of 4 values<\/progress>/);
  t.regex(runningHtml, /Running for (less than 10 s|\d0 s|\d+ minutes?)(, (about [^<.]+ left|almost done))?\./);
  t.regex(
    runningHtml,
    /Last heard from it at <time datetime="[^"]+">\d\d:\d\d:\d\d UTC<\/time>\./,
    "the time of its last report shows it is alive",
  );
  t.regex(runningHtml, /Check again/);

  const done = await fast.get(`/jobs/${finished}/status?shown=running`);
  t.is(done.status, 286);
  const doneHtml = await done.text();
  t.notRegex(doneHtml, /hx-get|hx-trigger/);
  t.regex(doneHtml, /4 values, from 1 to 4 by 1/);
  t.regex(doneHtml, /<li>1<\/li><li>2<\/li><li>3<\/li><li>4<\/li>/);
  t.regex(
    doneHtml,
    /<time datetime="[^"]+">(just now|\d+ minutes? ago)<\/time> <span class="exact">\(\d{1,2} \w{3} \d{4}, \d\d:\d\d:\d\d UTC\)<\/span>/,
    "the date once, with the submit time",
  );
  const kept = doneHtml.indexOf("<dt>Kept until</dt>");
  t.true(kept > 0, "an ended job says until when it is kept");
  t.is(doneHtml.slice(0, kept).match(/\d{4}, \d\d:/g)?.length, 1, "the date is shown once, and again only on another date (kept a day)");
});

test("the hint under Check again says what is true for the reader: htmx's fragment updates by itself, a page without JavaScript does not", async (t) => {
  const id = await slow.submit({ start: "1", end: "50", increment: "1" });
  await slow.waitForState(id, "running");
  const page = await (await slow.get(`/jobs/${id}`)).text();
  t.regex(
    page,
    /<noscript><span class="hint">Use Check again to update this part\.<\/span><\/noscript>/,
    "a reader without JavaScript is told how to update",
  );
  t.notRegex(page, /updates by itself/);
  const fromHtmx = await slow.get(`/jobs/${id}/status?shown=running`, { "HX-Request": "true" });
  t.regex(fromHtmx.headers.get("vary") ?? "", /HX-Request/);
  const html = await fromHtmx.text();
  t.regex(html, /<span class="hint">This part updates by itself\.<\/span>/, "what htmx swaps in says it updates by itself");
  t.notRegex(html, /noscript/);
  await slow.post(`/jobs/${id}/cancel`, {});
  await slow.waitForState(id, "cancelled");
});

test("the full page and the fragment come from the same fragment template", async (t) => {
  const id = await fast.submit({ start: "1", end: "3", increment: "1" });
  await fast.waitForState(id, "succeeded");
  const page = await (await fast.get(`/jobs/${id}`)).text();
  const fragment = await (await fast.get(`/jobs/${id}/status?shown=succeeded`)).text();
  const section = (html: string) => html.slice(html.indexOf('<section id="job-status"'), html.indexOf("</section>") + 10);
  t.true(section(fragment).length > 100);
  t.is(section(page), section(fragment));
});

test("the live region is updated out of band only when the state has changed", async (t) => {
  const { running, finished } = await runningAndFinished({ start: "1", end: "5", increment: "1" });

  const same = await (await slow.get(`/jobs/${running}/status?shown=running`)).text();
  t.notRegex(same, OOB, "no update when the page already shows 'running'");
  t.notRegex(same, /role="status"/, "the fragment never carries a live region of its own");

  const changed = await (await slow.get(`/jobs/${running}/status?shown=queued`)).text();
  t.is(changed.match(OOB)?.[1], "Counting has started.");
  t.regex(changed, /status\?shown=running/, "the next poll carries the new state");

  const ended = await (await fast.get(`/jobs/${finished}/status?shown=running`)).text();
  t.is(ended.match(OOB)?.[1], "Finished: 5 values counted.");
  const again = await (await fast.get(`/jobs/${finished}/status?shown=succeeded`)).text();
  t.notRegex(again, OOB);
});

test("the status page has one polite live region outside the polled element from the first render, for screen readers only", async (t) => {
  const id = await slow.submit({ start: "1", end: "3", increment: "1" });
  const html = await (await slow.get(`/jobs/${id}`)).text();
  t.is(html.match(/role="status"/g)?.length, 1);
  t.regex(html, /<p id="job-announce" class="visually-hidden" role="status" aria-live="polite"[^>]*>[^<]+<\/p>\s*<section id="job-status"/);
  t.regex(html, /<h1>Count from 1 to 3<\/h1>/);
  t.regex(html, /<p class="lede">Counting from 1 to 3 by 1\.<\/p>/);
});

test("without JavaScript, plain GETs of the page reach the results, with a Check again link meanwhile", async (t) => {
  // No instance takes the job at first: the first GET certainly finds it waiting.
  const idle = await startApp(t, { redis, name: "status-nojs", takesJobs: false });
  const id = await idle.submit({ start: "10", end: "12", increment: "1" });
  const first = await (await idle.get(`/jobs/${id}`)).text();
  t.regex(first, new RegExp(`<a id="check-again" href="/jobs/${id}">Check again</a>`));
  t.notRegex(first, /http-equiv="refresh"/i, "no forced refresh");
  await startApp(t, { redis, name: "status-nojs-worker", prefix: idle.prefix });
  const html = await waitFor(
    async () => {
      const page = await (await idle.get(`/jobs/${id}`)).text();
      return page.includes("3 values, from 10 to 12 by 1") ? page : null;
    },
    { message: "the results on a reload" },
  );
  t.regex(html, /<li>10<\/li><li>11<\/li><li>12<\/li>/);
  t.notRegex(html, /Check again/);
});

test("GET /jobs/:id with Accept: application/json answers the job, without process facts", async (t) => {
  const id = await fast.submit({ start: "1", end: "10", increment: "4" });
  await fast.waitForState(id, "succeeded");
  const res = await fast.get(`/jobs/${id}`, { Accept: "application/json" });
  t.is(res.status, 200);
  t.regex(res.headers.get("content-type")!, /application\/json/);
  t.regex(res.headers.get("vary")!, /Accept/);
  const job = (await res.json()) as Record<string, unknown>;
  t.like(job, {
    id,
    url: `/jobs/${id}`,
    type: "count",
    title: "Count from 1 to 10",
    state: "succeeded",
    reason: null,
    message: "Finished: 3 values counted.",
    status: null,
    params: { start: 1, end: 10, increment: 4 },
    done: 3,
    total: 3,
    resultCount: 3,
    results: [1, 5, 9],
    queuePosition: null,
    files: [],
    logUrl: null,
    statusUrl: `/jobs/${id}/status`,
    exitCode: null,
    signal: null,
    error: null,
  });
  for (const field of ["createdAt", "startedAt", "finishedAt"]) {
    t.regex(job[field] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, field);
  }
  for (const field of ["pid", "host", "detail"]) t.false(field in job, `${field} is for operators (SHOW_JOB_INTERNALS)`);
});

test("GET /jobs/:id/status with Accept: application/json answers the job as JSON with 200, never htmx's 286", async (t) => {
  const id = await fast.submit({ start: "1", end: "2", increment: "1" });
  await fast.waitForState(id, "succeeded");
  const res = await fast.get(`/jobs/${id}/status`, { Accept: "application/json" });
  t.is(res.status, 200);
  t.regex(res.headers.get("content-type")!, /application\/json/);
  t.like(await res.json(), { id, state: "succeeded", results: [1, 2] });
  const htmx = await fast.get(`/jobs/${id}/status?shown=succeeded`, { Accept: "application/json", "HX-Request": "true" });
  t.is(htmx.status, 286, "htmx still gets the fragment and its stop signal");
  t.regex(await htmx.text(), /id="job-status"/);
  const missing = await fast.get(`/jobs/${"e".repeat(32)}/status`, { Accept: "application/json" });
  t.is(missing.status, 404);
  t.like(await missing.json(), { error: "not-found", status: 404 });
});

test("with SHOW_JOB_INTERNALS the JSON has the process facts too", async (t) => {
  const ops = await startApp(t, { redis, name: "status-ops", env: { SHOW_JOB_INTERNALS: "true" } });
  const id = await ops.submit({ start: "1", end: "2", increment: "1" });
  await ops.waitForState(id, "succeeded");
  const job = (await (await ops.get(`/jobs/${id}`, { Accept: "application/json" })).json()) as Record<string, unknown>;
  t.is(typeof job.pid, "number");
  t.is(typeof job.host, "string");
  t.true("detail" in job);
});

test("a waiting job's place in line is 1-based on the page and in the JSON alike", async (t) => {
  const idle = await startApp(t, { redis, name: "status-idle", takesJobs: false });
  const first = await idle.submit({ start: "1", end: "2", increment: "1" });
  const second = await idle.submit({ start: "1", end: "2", increment: "1" });
  t.like(await (await idle.get(`/jobs/${first}`, { Accept: "application/json" })).json(), { state: "queued", queuePosition: 1 });
  t.like(await (await idle.get(`/jobs/${second}`, { Accept: "application/json" })).json(), { queuePosition: 2 });
  t.regex(await (await idle.get(`/jobs/${second}`)).text(), /<dt>Place in line<\/dt><dd>2nd in line<\/dd>/);
});

const notFound = test.macro({
  async exec(t, id: string) {
    const page = await fast.get(`/jobs/${id}`);
    t.is(page.status, 404);
    t.regex(await page.text(), /Job not found[\s\S]*kept for/);
    const fragment = await fast.get(`/jobs/${id}/status?shown=running`);
    t.is(fragment.status, 404);
    const html = await fragment.text();
    t.notRegex(html, /hx-trigger/, "the 404 fragment stops polling");
    t.regex(html, /id="job-status"/);
    const json = await fast.get(`/jobs/${id}`, { Accept: "application/json" });
    t.is(json.status, 404);
    t.like(await json.json(), { error: "not-found", status: 404 });
  },
  title: (what = "", id) => `${what} (${String(id)}) gets a 404 page, fragment and JSON`,
});

test("an unknown id", notFound, "0123456789abcdef0123456789abcdef");
test("a malformed id", notFound, "not-a-job");
test("an id in capitals", notFound, "0123456789ABCDEF0123456789ABCDEF");
test("a path in place of an id", notFound, "..%2F..%2Fetc");

test("an unknown path gets a 404 page and a wrong method a 405", async (t) => {
  const res = await fast.get("/nowhere");
  t.is(res.status, 404);
  t.regex(await res.text(), /Page not found/);
  const put = await fetch(`${fast.url}/count`, { method: "PUT" });
  t.is(put.status, 405);
  t.regex(put.headers.get("allow") ?? "", /POST/);
});

test("htmx is served from /static, configured for a strict CSP", async (t) => {
  const js = await fast.get("/static/htmx.min.js");
  t.is(js.status, 200);
  t.regex(js.headers.get("content-type")!, /javascript/);
  t.regex(await js.text(), /htmx/);
  const page = await (await fast.get("/")).text();
  t.regex(page, /<script src="\/static\/htmx.min.js" defer><\/script>/);
  t.regex(page, /"includeIndicatorStyles":false,"allowEval":false/);
  t.notRegex(page, /<script>|<style|style="/, "no inline script or style");
  t.is((await fast.get("/static/../package.json")).status, 404);
});

// Times a person can read, over HTTP: how long an ended job ran and until
// when it is kept (page and JSON), the time left of a running job whose type
// reports a total, the job's id on its page, and times in the reader's zone:
// the zone a browser chose (a cookie, set by a plain form that refuses a
// zone it does not know) changes the words, never `<time datetime>`, and two
// readers in two zones never get each other's cached poll answer.
import test from "ava";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { parseSetCookie } from "../support/cookies.ts";
import { TIME_ZONE_COOKIE } from "../../server/time-zone.ts";

const redis = useRedis(test);
/** Succeeded jobs kept 2 hours, failed and cancelled ones 3 hours: not the defaults, so the page must read them. */
const app = useApp(test, { redis, name: "job-times", env: { JOB_TTL_SUCCEEDED_S: "7200", JOB_TTL_FAILED_S: "10800" } });
/** Takes no jobs: a job marked running through the store holds still while it is looked at. */
const idle = useApp(test, { redis, name: "job-times-idle", takesJobs: false });

const zone = (name: string) => ({ Cookie: `${TIME_ZONE_COOKIE}=${name}` });
const datetimes = (html: string) => [...html.matchAll(/<time datetime="([^"]+)">/g)].map((m) => m[1]!);

interface TimesJson {
  state: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  keptUntil: string | null;
}

/** One count of 1 to 5 that has succeeded, for the tests that read an ended job. */
let ended: string;
let endedJson: TimesJson;

test.before(async () => {
  ended = await app.submit({ start: "1", end: "5", increment: "1" });
  await app.waitForState(ended, "succeeded");
  endedJson = (await (await app.get(`/jobs/${ended}`, { Accept: "application/json" })).json()) as TimesJson;
});

test("an ended job's JSON says how long it ran and until when it is kept, which is when Redis deletes it", async (t) => {
  const { startedAt, finishedAt, durationMs, keptUntil } = endedJson;
  t.is(durationMs, Date.parse(finishedAt!) - Date.parse(startedAt!));
  t.is(keptUntil, new Date(Date.parse(finishedAt!) + 7200 * 1000).toISOString(), "its end plus JOB_TTL_SUCCEEDED_S");
  const pttl = await redis.client.pttl(app.store.jobKeys(ended)[0]);
  t.true(Math.abs(Date.now() + pttl - Date.parse(keptUntil!)) < 2000, `Redis deletes it ${pttl} ms from now, as keptUntil says`);

  const running = await idle.store.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 10 });
  await idle.store.start(running, process.pid, "test", 60_000);
  t.like(await (await idle.get(`/jobs/${running}`, { Accept: "application/json" })).json(), { durationMs: null, keptUntil: null });
  await idle.store.finish(running, "cancelled", "force", { reason: "cancelled" });
  const cancelled = (await (await idle.get(`/jobs/${running}`, { Accept: "application/json" })).json()) as TimesJson;
  t.is(cancelled.keptUntil, new Date(Date.parse(cancelled.finishedAt!) + idle.config.jobTtlFailedS * 1000).toISOString());
});

test("an ended job's page says how long it ran and until when it is kept, and shows its id", async (t) => {
  const html = await (await app.get(`/jobs/${ended}`)).text();
  t.regex(html, /<div><dt>Ran for<\/dt><dd class="ran-for">(less than a second|\d+ s)<\/dd><\/div>/);
  const until = new Date(endedJson.keptUntil!);
  const hhmm = until.toISOString().slice(11, 16);
  t.regex(
    html,
    new RegExp(
      `<dt>Kept until</dt><dd class="kept-until"><time datetime="${endedJson.keptUntil}">(\\d{1,2} \\w{3} \\d{4}, )?${hhmm} UTC</time> <span class="exact">\\(in 2 hours\\)</span>`,
    ),
  );
  t.regex(html, new RegExp(`<p class="job-ref hint">Job id: <code class="job-id">${ended}</code>\\.`), "the id, to quote to an operator");
  t.notRegex(html.slice(html.indexOf('<section id="job-status"')), new RegExp(`<code class="job-id">`), "outside the polled part");
});

test("a running job whose type reports a total shows the time left from its rate, with its time so far", async (t) => {
  // Primes has no estimate of its own: the page guesses from the rate.
  const id = await idle.store.create({ type: "primes", params: { n: 1_000_000 }, total: 1_000_000, queueMax: 10 });
  await idle.store.start(id, process.pid, "test", 600_000);
  const timing = async () => /<p class="timing">([^<]*)<\/p>/.exec(await (await idle.get(`/jobs/${id}`)).text())?.[1];
  t.regex((await timing()) ?? "", /^Running for less than 10 s\.$/, "nothing done yet: no rate, no guess");
  await idle.store.report(id, 600_000, { done: 10 });
  // 10 of 1,000,000 done so far: the rest takes 99,999 times as long as it has run (once a millisecond has passed on Redis' clock).
  t.regex(
    await waitFor(async () => (await timing())?.match(/, about \d+ (s|min|h|days) left\.$/)?.input, { message: "a time left" }),
    /^Running for (less than 10 s|\d0 s|\d+ minutes?), about (\d+ min|\d+ h|\d+ days) left\.$/,
  );
  await idle.store.report(id, 600_000, { done: 1_000_000 });
  t.regex((await timing()) ?? "", /, a few seconds left\.$/, "all done: moments left");
  await idle.store.finish(id, "cancelled", "force", { reason: "cancelled" });
});

test("the zone this browser chose changes the times shown, and <time datetime> stays in UTC", async (t) => {
  const utc = await (await app.get(`/jobs/${ended}`)).text();
  const tokyo = await (await app.get(`/jobs/${ended}`, zone("Asia/Tokyo"))).text();
  t.deepEqual(datetimes(tokyo), datetimes(utc), "the same instants");
  t.true(datetimes(tokyo).includes(endedJson.createdAt), "in UTC ISO, as the JSON has them");
  const submitted = new Date(endedJson.createdAt);
  const inTokyo = new Date(submitted.getTime() + 9 * 3_600_000).toISOString().slice(11, 19);
  t.regex(tokyo, new RegExp(`<span class="exact">\\(\\d{1,2} \\w{3} \\d{4}, ${inTokyo} GMT\\+9\\)</span>`));
  t.notRegex(tokyo, / UTC[)<]/, "no time in UTC words");
  t.regex(utc, new RegExp(`${submitted.toISOString().slice(11, 19)} UTC\\)</span>`));
  t.regex(tokyo, /<p class="zone-line">Times are shown in Asia\/Tokyo\. <a href="\/settings\/time-zone\?back=%2Fjobs%2F[0-9a-f]{32}">/);
  // An alias the runtime knows is its zone; a cookie naming no zone is UTC.
  t.regex(await (await app.get(`/jobs/${ended}`, zone("Japan"))).text(), /Times are shown in Asia\/Tokyo\./);
  t.regex(await (await app.get(`/jobs/${ended}`, zone("Mars/Olympus"))).text(), /Times are shown in UTC\./);
});

test("two readers in two zones polling the same job each get their own zone's answer, from the cache as from Redis", async (t) => {
  const id = await idle.store.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 10 });
  await idle.store.start(id, process.pid, "test", 600_000);
  const poll = async (headers: Record<string, string>) => (await idle.get(`/jobs/${id}/status?shown=running`, headers)).text();
  const heard = (html: string) =>
    /(?:Last heard from it at|Nothing heard from it since) <time datetime="([^"]+)">([^<]+)<\/time>/.exec(html)!;
  const hits = idle.cache!.snapshot().hits;
  for (let round = 0; round < 2; round++) {
    for (const [cookie, name] of [
      [zone("Asia/Tokyo"), "GMT\\+9"],
      [{}, "UTC"],
      [zone("Europe/Paris"), "CET|CEST"],
      [{ ...zone("Asia/Tokyo"), "HX-Request": "true" }, "GMT\\+9"],
    ] as const) {
      const [, iso, exact] = heard(await poll(cookie));
      t.regex(exact!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d (${name})$`), `${JSON.stringify(cookie)} reads its own zone`);
      t.regex(iso!, /Z$/);
    }
  }
  t.true(idle.cache!.snapshot().hits > hits, "the later polls were answered from the cache");
  await idle.store.finish(id, "cancelled", "force", { reason: "cancelled" });
});

test("the time zone form keeps a zone in a cookie and goes back to the page it came from", async (t) => {
  const page = await app.get(`/settings/time-zone?back=${encodeURIComponent(`/jobs/${ended}`)}`, zone("Europe/Paris"));
  t.is(page.status, 200);
  const html = await page.text();
  t.regex(html, /<option value="Europe\/Paris" selected>Paris<\/option>/, "the zone in use, chosen");
  t.regex(html, new RegExp(`<input type="hidden" name="back" value="/jobs/${ended}">`));
  t.regex(html, /<label for="zone">Time zone<\/label>/);

  const res = await app.post("/settings/time-zone", { zone: "Asia/Tokyo", back: `/jobs/${ended}` });
  t.is(res.status, 303);
  t.is(res.headers.get("location"), `/jobs/${ended}`);
  const [cookie] = res.headers.getSetCookie().map(parseSetCookie);
  t.like(cookie, { name: TIME_ZONE_COOKIE, value: "Asia/Tokyo", attributes: { path: "/", samesite: "lax", httponly: true } });
  t.regex(await (await app.get(`/jobs/${ended}`, zone(cookie!.value))).text(), /GMT\+9/);
});

test("a zone the form does not know is refused with 400, and nothing is kept", async (t) => {
  for (const bad of ["Mars/Olympus", "", "Europe/Paris\r\nSet-Cookie: x=y", "../../etc/passwd", "x".repeat(100), "Etc/GMT+5"]) {
    const res = await app.post("/settings/time-zone", { zone: bad, back: "/" }, zone("Europe/Paris"));
    t.is(res.status, 400, JSON.stringify(bad));
    t.deepEqual(res.headers.getSetCookie(), [], `${JSON.stringify(bad)}: no cookie`);
    const html = await res.text();
    t.regex(html, /<h2 id="error-summary-title">There is a problem<\/h2>/);
    t.regex(html, bad === "" ? /Choose a time zone from the list\./ : /is not a time zone this site knows\. Choose one from the list\./);
    t.regex(html, /<option value="Europe\/Paris" selected>/, "the zone in use stays chosen");
  }
  const missing = await app.post("/settings/time-zone", "back=%2F");
  t.is(missing.status, 400);
  await missing.arrayBuffer();
  const json = await app.post("/settings/time-zone", { zone: "Mars/Olympus" }, { Accept: "application/json" });
  t.is(json.status, 400);
  t.like(await json.json(), { error: "bad-time-zone", status: 400 });
  t.deepEqual(json.headers.getSetCookie(), []);
});

test("the form goes back only to a path on this site", async (t) => {
  const cases: [back: string, location: string][] = [
    ["/jobs/abc?all=1", "/jobs/abc?all=1"],
    ["https://evil.example/", "/"],
    ["//evil.example/x", "/"],
    ["/\\evil.example/x", "/"],
    ["javascript:alert(1)", "/"],
    ["/jobs/%0d%0aSet-Cookie:x", "/jobs/%0d%0aSet-Cookie:x"],
    ["/a\r\nb", "/"],
    ["", "/"],
  ];
  for (const [back, location] of cases) {
    const res = await app.post("/settings/time-zone", { zone: "UTC", back });
    t.is(res.status, 303, back);
    t.is(res.headers.get("location"), location, JSON.stringify(back));
    await res.arrayBuffer();
  }
  const page = await (await app.get("/settings/time-zone?back=https%3A%2F%2Fevil.example%2F")).text();
  t.regex(page, /<input type="hidden" name="back" value="\/">/);
  t.regex(page, /<a href="\/">Go back without changing it<\/a>/);
});

test("a job that waits shows no time left and nothing kept yet", async (t) => {
  const id = await idle.store.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 10 });
  const html = await (await idle.get(`/jobs/${id}`)).text();
  t.notRegex(html, /left\.|Kept until|Ran for/);
  t.regex(html, /Job id: <code class="job-id">/);
  await idle.store.finish(id, "cancelled", "force", { reason: "cancelled" });
});

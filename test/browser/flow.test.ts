// The whole flow in Chromium, with JavaScript on and off: the form, the status
// page updating in place, the live region, keyboard use and focus, and the
// end of polling once a job has finished.
import test, { type ExecutionContext } from "ava";
import type { Page } from "playwright-core";
import { fixtureScript, startApp } from "../support/app.ts";
import { focusedElement, ProblemWatch, tabThrough, useBrowser, whenBrowser } from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";

interface Recorded {
  initialAnnouncement: string | null;
  announcements: string[];
  /** Swaps of the status section since the page loaded. */
  swaps: number;
  /** The status heading (and progress) on load and after each swap. */
  statusSeen: string[];
  /** Where focus was on load and right after each swap (htmx restores it within the swap). */
  focusSeen: { id: string; visible: boolean }[];
  /** Timers of a poll's length that have neither fired nor been cleared. */
  pendingPolls: number;
}

/**
 * Installed by the test in every document (not by the app): records each
 * change of the live region, each swap of the status section, and the timers
 * htmx keeps for "every 2s" (the page runs no other script, and htmx's other
 * timers are a few ms). Plain JavaScript text: a compiled function would carry
 * the TypeScript loader's helpers, which do not exist in the page.
 */
const RECORDER = `
var rec = window.__rec = { initialAnnouncement: null, announcements: [], swaps: 0, statusSeen: [], focusSeen: [], pendingPolls: 0 };
var pollTimers = new Set();
var realSetTimeout = window.setTimeout, realClearTimeout = window.clearTimeout;
window.setTimeout = function (fn, delay) {
  if (typeof fn !== "function" || !(delay >= 1000)) return realSetTimeout.apply(window, arguments);
  var rest = Array.prototype.slice.call(arguments, 2);
  var id = realSetTimeout.call(window, function () {
    pollTimers.delete(id);
    rec.pendingPolls = pollTimers.size;
    fn.apply(window, rest);
  }, delay);
  pollTimers.add(id);
  rec.pendingPolls = pollTimers.size;
  return id;
};
window.clearTimeout = function (id) {
  if (pollTimers.delete(id)) rec.pendingPolls = pollTimers.size;
  return realClearTimeout.call(window, id);
};
document.addEventListener("DOMContentLoaded", function () {
  var region = document.getElementById("job-announce");
  if (region) {
    rec.initialAnnouncement = region.textContent.trim();
    new MutationObserver(function () { rec.announcements.push(region.textContent.trim()); })
      .observe(region, { childList: true, characterData: true, subtree: true });
  }
  function note() {
    var heading = document.querySelector("#job-status h2");
    var progress = document.querySelector("#job-status .progress-text");
    var text = heading ? heading.textContent.trim() : "";
    rec.statusSeen.push(progress ? text + " (" + progress.textContent.trim() + ")" : text);
    var el = document.activeElement;
    var style = el && el !== document.body ? getComputedStyle(el) : null;
    rec.focusSeen.push({
      id: style ? el.id : "",
      visible: Boolean(style && ((style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none")),
    });
  }
  var main = document.getElementById("main");
  if (main && document.getElementById("job-status")) {
    note();
    new MutationObserver(function (records) {
      var swapped = records.some(function (r) {
        return Array.prototype.some.call(r.addedNodes, function (n) { return n.id === "job-status"; });
      });
      if (swapped) { rec.swaps += 1; note(); }
    }).observe(main, { childList: true });
  }
});
`;

const recorded = (page: Page) => page.evaluate(() => (window as unknown as { __rec: Recorded }).__rec);

const heading = (page: Page, text: string) =>
  page.waitForFunction((text) => document.querySelector("#job-status h2")?.textContent === text, text, { timeout: 20_000 });

/**
 * Resolves once htmx can poll no more: no request, swap or settle under way,
 * and no poll timer pending. While polling goes on, one of these always
 * holds (htmx sets the next timer when a poll fires, and the new section's
 * timer while the swap settles), so this times out if polling continued.
 */
async function pollingHasStopped(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added") &&
      (window as unknown as { __rec: Recorded }).__rec.pendingPolls === 0,
    undefined,
    { timeout: 5000 },
  );
}

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);

  async function open(t: ExecutionContext, options: { javaScriptEnabled?: boolean } = {}) {
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, ...options });
    t.teardown(() => context.close());
    const watch = await ProblemWatch.on(context);
    await context.addInitScript({ content: RECORDER });
    const page = await context.newPage();
    let navigations = 0;
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    const polls: { status: number }[] = [];
    page.on("response", (res) => {
      if (new URL(res.url()).pathname.endsWith("/status")) polls.push({ status: res.status() });
    });
    return { page, watch, polls, navigations: () => navigations };
  }

  /** Fills the count form and sends it with Enter from the last field; resolves on the job page. */
  async function submitCount(page: Page, url: string, values: { start: string; end: string; increment: string }): Promise<string> {
    await page.goto(url + "/");
    for (const [field, value] of Object.entries(values)) await page.fill(`#${field}`, value);
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.press("#increment", "Enter")]);
    return page.url().split("/").pop()!;
  }

  /** Presses Tab until the element with this id has focus. */
  async function tabTo(page: Page, id: string): Promise<void> {
    for (let i = 0; i < 15; i++) {
      await page.keyboard.press("Tab");
      if ((await focusedElement(page)).id === id) return;
    }
    throw new Error(`Tab never reached #${id}`);
  }

  /** Waits for a swap after the ones already seen; returns how many there were before. */
  async function nextSwap(page: Page): Promise<number> {
    const before = (await recorded(page)).swaps;
    await page.waitForFunction((n) => (window as unknown as { __rec: Recorded }).__rec.swaps > n, before, { timeout: 10_000 });
    return before;
  }

  function noProblems(t: ExecutionContext, watch: ProblemWatch): void {
    t.deepEqual(watch.cspViolations, [], "Content-Security-Policy violations");
    t.deepEqual(watch.consoleErrors, [], "console errors");
  }

  test("with JavaScript, a queued count updates in place, announces each state once, keeps focus, and stops polling when done", async (t) => {
    // No instance takes jobs at first, so the count waits in line until a second instance starts below.
    // Then it runs for 9 s: several polls (every 2 s) see it running.
    const env = { COUNT_STEP_DELAY_MS: "1000" };
    const server = await startApp(t, { redis, name: "flow-queue", env, takesJobs: false });

    const { page, watch, polls, navigations } = await open(t);
    const id = await submitCount(page, server.url, { start: "1", end: "10", increment: "1" });
    t.is(navigations(), 2, "the start page, then the status page after the form");
    const first = await recorded(page);
    t.is(first.initialAnnouncement, "Waiting to start.");

    // Keyboard: the controls of a job that has not ended, in order, all visibly focused.
    const stops = await tabThrough(page);
    t.deepEqual(
      stops.map((s) => s.name),
      [
        'a "Skip to main content"',
        'a "sidejob"',
        'a#check-again "Check again"',
        'button#cancel-job "Cancel this job"',
        'a "Change the time zone"',
      ],
    );
    t.deepEqual(
      stops.filter((s) => !s.visible),
      [],
      "focus is visible on every stop",
    );

    // Focus on "Check again" survives the fragment being replaced by a poll
    // while the job waits (nothing can end it: no instance takes it)...
    await tabTo(page, "check-again");
    const beforeSwaps = await nextSwap(page);
    t.deepEqual((await recorded(page)).announcements, [], "a poll while it waits announces nothing");
    // ...and by the swap that shows it running, which comes seconds before it can end.
    await startApp(t, { redis, name: "flow-worker", prefix: server.prefix, env });
    await heading(page, "Status: Running");
    const seen = await recorded(page);
    const running = seen.statusSeen.findIndex((s, i) => i > beforeSwaps && s.startsWith("Status: Running"));
    const untilRunning = seen.focusSeen.slice(beforeSwaps + 1, running + 1);
    t.true(untilRunning.length >= 2, `swaps while waiting and to running: ${untilRunning.length}`);
    t.deepEqual(
      untilRunning,
      untilRunning.map(() => ({ id: "check-again", visible: true })),
      "focus stays on Check again across swaps, visibly",
    );

    await page.locator(".values li").first().waitFor({ timeout: 20_000 });
    t.is(await page.locator(".values li").count(), 10);
    t.is(navigations(), 2, "no page load between the form and the results");

    // Where focus went when Check again disappeared: nowhere else on the page.
    const afterEnd = await focusedElement(page);
    t.true(afterEnd.name === "body" || afterEnd.inStatus, `focus moved to ${afterEnd.name}`);

    const rec = await recorded(page);
    t.deepEqual(rec.announcements, ["Counting has started.", "Finished: 10 values counted."], "one announcement per change of state");
    const states = rec.statusSeen.map((s) => s.replace(/ \(.*\)$/, ""));
    t.deepEqual([...new Set(states)], ["Status: Waiting to start", "Status: Running", "Status: Finished"]);
    const progress = new Set(rec.statusSeen.filter((s) => s.startsWith("Status: Running")));
    t.true(progress.size >= 2, `progress updated in place: ${[...progress].join(", ")}`);
    t.true(polls.length >= rec.announcements.length + 2, `${polls.length} polls for ${rec.announcements.length} announcements`);
    t.is(polls.at(-1)?.status, 286, "the last poll tells htmx to stop");
    t.is((await server.store.read(id, "auto"))?.state, "succeeded");

    // The end of polling: nothing left that polls, no poll pending, no request since the 286.
    const pollsAtEnd = polls.length;
    await pollingHasStopped(page);
    t.is(await page.locator("[hx-trigger], [hx-get]").count(), 0, "the finished section carries no poll");
    t.is(polls.length, pollsAtEnd, "no status request after the one that answered 286");
    t.deepEqual((await recorded(page)).announcements.length, 2, "nothing more announced");
    noProblems(t, watch);
  });

  test("with the keyboard alone, the form is filled and sent, a running count cancelled, and the cancel announced", async (t) => {
    // 400 values a second apart: it is still running whenever the keyboard gets to the cancel button.
    const server = await startApp(t, { redis, name: "flow-cancel", env: { COUNT_STEP_DELAY_MS: "1000" } });
    const { page, watch, navigations } = await open(t);
    await page.goto(server.url + "/");

    const stops = await tabThrough(page);
    t.deepEqual(
      stops.map((s) => s.name),
      [
        'a "Skip to main content"',
        'a "sidejob"',
        'input#start "start"',
        'input#end "end"',
        'input#increment "increment"',
        'button "Start counting"',
        'a "Find prime numbers"',
        'a "Check a CSV file"',
        'a "Change the time zone"',
      ],
    );
    t.deepEqual(
      stops.filter((s) => !s.visible),
      [],
      "focus is visible on every stop",
    );

    await tabTo(page, "end");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("400");
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.keyboard.press("Enter")]);
    const id = page.url().split("/").pop()!;
    await server.waitForState(id, "running");

    // Focus on the cancel button survives a poll's swap.
    await tabTo(page, "cancel-job");
    const before = await nextSwap(page);
    t.deepEqual(
      (await recorded(page)).focusSeen[before + 1],
      { id: "cancel-job", visible: true },
      "focus stays on the cancel button across a swap, visibly",
    );

    // The cancel is a form POST: wait for the page it leads to, not for a poll that may show the cancel first.
    await Promise.all([page.waitForEvent("load"), page.keyboard.press("Enter")]);
    t.is(page.url(), server.url + `/jobs/${id}`);
    await heading(page, "Status: Cancelled");
    const rec = await recorded(page);
    const finalText = (await page.locator("#job-announce").innerText()).trim();
    t.regex(finalText, /^Cancelled after \d+ of 400 values\.$/);
    t.true(rec.announcements.length <= 1, `announced: ${JSON.stringify(rec.announcements)}`);
    t.is(navigations(), 3, "start page, status page, status page after the cancel");
    noProblems(t, watch);
  });

  test("with JavaScript, a failing count ends with an announcement that says what happened", async (t) => {
    const server = await startApp(t, {
      redis,
      name: "flow-crash",
      env: { COUNT_STEP_DELAY_MS: "300" },
      script: fixtureScript("crash-long-line"),
    });
    const { page, watch } = await open(t);
    await submitCount(page, server.url, { start: "1", end: "10", increment: "1" });
    await heading(page, "Status: Failed");
    const rec = await recorded(page);
    const all = [rec.initialAnnouncement, ...rec.announcements];
    t.is(all.at(-1), "Failed: the count stopped unexpectedly after 2 of 10 values.");
    t.deepEqual(all, [...new Set(all)], `each announcement differs from the one before: ${JSON.stringify(all)}`);
    t.is(await page.locator(".failure-message").innerText(), "The count stopped unexpectedly after 2 of 10 values.");
    noProblems(t, watch);
  });

  test("with JavaScript, a primes job sent from its own form announces each state once and ends with its file to download", async (t) => {
    const server = await startApp(t, { redis, name: "flow-primes" });
    const { page, watch, navigations } = await open(t);
    await page.goto(server.url + "/");
    await Promise.all([page.waitForURL(`${server.url}/jobs/new/primes`), page.click("text=Find prime numbers")]);
    await page.fill("#n", "3000000");
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.press("#n", "Enter")]);
    await heading(page, "Status: Finished");
    await page.locator(".files a").waitFor({ timeout: 10_000 });
    const rec = await recorded(page);
    const all = [rec.initialAnnouncement, ...rec.announcements];
    t.is(all.at(-1), "Finished: 3,000,000 numbers.");
    t.deepEqual(all, [...new Set(all)], `one announcement per state: ${JSON.stringify(all)}`);
    t.true(
      all.every((a) => ["Waiting to start.", "The job has started.", "Finished: 3,000,000 numbers."].includes(a!)),
      JSON.stringify(all),
    );
    t.is(await page.locator(".files a").innerText(), "primes.txt");
    t.is(navigations(), 3, "start page, primes form, job page");
    noProblems(t, watch);
  });

  test("without JavaScript, the form and the Check again link lead to the results", async (t) => {
    // No instance takes jobs at first: the first Check again certainly finds the count waiting.
    const server = await startApp(t, { redis, name: "flow-nojs", takesJobs: false });
    const { page, watch, polls, navigations } = await open(t, { javaScriptEnabled: false });
    const id = await submitCount(page, server.url, { start: "3", end: "30", increment: "3" });
    t.is(await page.locator("#job-status h2").innerText(), "Status: Waiting to start");

    await Promise.all([page.waitForEvent("load"), page.click("#check-again")]);
    t.is(page.url(), server.url + `/jobs/${id}`);
    t.is(await page.locator("#job-status h2").innerText(), "Status: Waiting to start");

    await startApp(t, { redis, name: "flow-nojs-worker", prefix: server.prefix });
    await server.waitForState(id, "succeeded");
    await Promise.all([page.waitForEvent("load"), page.click("#check-again")]);
    t.is(navigations(), 4, "the start page, the status page, and one load per Check again");
    t.is(await page.locator("#job-status h2").innerText(), "Status: Finished");
    t.is(await page.locator(".result-summary").innerText(), "10 values, from 3 to 30 by 3.");
    t.deepEqual(await page.locator(".values li").allInnerTexts(), ["3", "6", "9", "12", "15", "18", "21", "24", "27", "30"]);
    t.is(await page.locator("#check-again").count(), 0, "nothing left to check");
    t.is(polls.length, 0, "no status fragment requested without JavaScript");
    noProblems(t, watch);
  });

  test("with JavaScript, a job that disappears while its page polls is shown as gone, and polling stops", async (t) => {
    const server = await startApp(t, { redis, name: "flow-gone", env: { COUNT_STEP_DELAY_MS: "500" } });
    const { page, watch, polls } = await open(t);
    const id = await submitCount(page, server.url, { start: "1", end: "100", increment: "1" });
    await page.waitForResponse((res) => res.url().includes("/status?shown="), { timeout: 10_000 });
    // What an expired job looks like to a poll: its keys are gone.
    await server.store.redis.del(...server.store.jobKeys(id));
    await heading(page, "Job not found");
    t.is(polls.at(-1)?.status, 404);
    t.is(await page.textContent("#job-announce"), "Job not found.");
    const count = polls.length;
    await pollingHasStopped(page);
    t.is(await page.locator("[hx-trigger], [hx-get]").count(), 0, "the section that replaced the poller does not poll");
    t.is(polls.length, count, "no poll after the 404");
    t.deepEqual(watch.cspViolations, []);
  });
});

// The whole flow in Chromium, with JavaScript on and off: the form, the status
// page updating in place, the live region, keyboard use and focus, and the
// end of polling once a job has finished.
import test, { type ExecutionContext } from "ava";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { fixtureScript, startApp, type TestApp } from "../helpers/app.ts";
import { Supervisor } from "../../server/supervisor/index.ts";
import { jobScript } from "../../server/paths.ts";
import { focusedElement, launchBrowser, ProblemWatch, tabThrough, whenBrowser } from "./support.ts";

/** How long a finished page is watched for a status request that should never come. */
const NO_POLL_WINDOW_MS = 6000;

interface Recorded {
  initialAnnouncement: string | null;
  announcements: string[];
  swaps: number;
  statusSeen: string[];
}

/**
 * Installed by the test in every document (not by the app): records each
 * change of the live region and each swap of the status section. Plain
 * JavaScript text: a compiled function would carry the TypeScript loader's
 * helpers, which do not exist in the page.
 */
const RECORDER = `
window.__rec = { initialAnnouncement: null, announcements: [], swaps: 0, statusSeen: [] };
document.addEventListener("DOMContentLoaded", function () {
  var rec = window.__rec;
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

whenBrowser(test, () => {
  let browser: Browser;
  let redis: TestRedis;
  const apps: TestApp[] = [];
  const contexts: BrowserContext[] = [];
  const workers: Supervisor[] = [];

  test.before(async () => {
    [browser, redis] = await Promise.all([launchBrowser(), startRedis()]);
  });
  test.after.always(async () => {
    await browser?.close();
    for (const worker of workers) {
      await worker.close();
      for (const pid of worker.pids()) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await Promise.all(apps.map((app) => app.close()));
    await redis?.close();
  });

  async function app(name: string, env: Record<string, string>, script?: string): Promise<TestApp> {
    const started = await startApp({ redisUrl: redis.url, name, env, script });
    apps.push(started);
    return started;
  }

  async function open(options: { javaScriptEnabled?: boolean } = {}) {
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, ...options });
    contexts.push(context);
    const watch = await ProblemWatch.on(context);
    await context.addInitScript({ content: RECORDER });
    const page = await context.newPage();
    let navigations = 0;
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    const polls: { at: number; status: number }[] = [];
    page.on("response", (res) => {
      if (new URL(res.url()).pathname.endsWith("/status")) polls.push({ at: Date.now(), status: res.status() });
    });
    return { context, page, watch, polls, navigations: () => navigations };
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

  function noProblems(t: ExecutionContext, watch: ProblemWatch): void {
    t.deepEqual(watch.cspViolations, [], "Content-Security-Policy violations");
    t.deepEqual(watch.consoleErrors, [], "console errors");
  }

  test("with JavaScript, a queued count updates in place, announces each state once, keeps focus, and stops polling when done", async (t) => {
    // No instance takes jobs at first, so the count waits in line until a worker starts below.
    const server = await app("flow-queue", { COUNT_STEP_DELAY_MS: "600" });
    await server.supervisor.close();

    const { page, watch, polls, navigations } = await open();
    const id = await submitCount(page, server.url, { start: "1", end: "10", increment: "1" });
    t.is(navigations(), 2, "the start page, then the status page after the form");
    const first = await recorded(page);
    t.is(first.initialAnnouncement, "Waiting to start.");

    // Keyboard: the controls of a job that has not ended, in order, all visibly focused.
    const stops = await tabThrough(page);
    t.deepEqual(
      stops.map((s) => s.name),
      ['a "Skip to main content"', 'a "sidejob"', 'a#check-again "Check again"', 'button#cancel-job "Cancel this job"'],
    );
    t.deepEqual(stops.filter((s) => !s.visible), [], "focus is visible on every stop");

    // A poll while it waits must not announce anything; then a worker takes the job.
    await page.waitForResponse((res) => res.url().endsWith("/status?shown=queued"), { timeout: 10_000 });
    const worker = new Supervisor({ store: server.store, config: server.config, scriptFor: jobScript, log: () => {} });
    workers.push(worker);
    worker.start();

    // Focus on "Check again" survives the fragment being replaced by each poll.
    await tabTo(page, "check-again");
    const swapsBefore = (await recorded(page)).swaps;
    await page.waitForFunction((n) => (window as unknown as { __rec: Recorded }).__rec.swaps >= n + 2, swapsBefore, { timeout: 10_000 });
    const kept = await focusedElement(page);
    t.is(kept.id, "check-again", "focus stays on Check again across swaps");
    t.true(kept.visible, "and stays visible");

    await page.locator(".values li").first().waitFor({ timeout: 20_000 });
    const finishedAt = Date.now();
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

    // The behaviour under test is an absence: watch for it for a while.
    const pollsAtEnd = polls.length;
    await new Promise((resolve) => setTimeout(resolve, NO_POLL_WINDOW_MS - (Date.now() - finishedAt)));
    t.is(polls.length, pollsAtEnd, `no status request in the ${NO_POLL_WINDOW_MS / 1000} s after the job finished`);
    t.deepEqual((await recorded(page)).announcements.length, 2, "nothing more announced");
    noProblems(t, watch);
  });

  test("with the keyboard alone, the form is filled and sent, a running count cancelled, and the cancel announced", async (t) => {
    const server = await app("flow-cancel", { COUNT_STEP_DELAY_MS: "500" });
    const { page, watch, navigations } = await open();
    await page.goto(server.url + "/");

    const stops = await tabThrough(page);
    t.deepEqual(
      stops.map((s) => s.name),
      ['a "Skip to main content"', 'a "sidejob"', 'input#start "start"', 'input#end "end"', 'input#increment "increment"', 'button "Start counting"'],
    );
    t.deepEqual(stops.filter((s) => !s.visible), [], "focus is visible on every stop");

    await tabTo(page, "end");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("40");
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.keyboard.press("Enter")]);
    const id = page.url().split("/").pop()!;
    await server.waitForState(id, "running");

    // Focus on the cancel button survives a poll's swap.
    await tabTo(page, "cancel-job");
    const swapsBefore = (await recorded(page)).swaps;
    await page.waitForFunction((n) => (window as unknown as { __rec: Recorded }).__rec.swaps > n, swapsBefore, { timeout: 10_000 });
    const kept = await focusedElement(page);
    t.is(kept.id, "cancel-job", "focus stays on the cancel button across a swap");
    t.true(kept.visible);

    await Promise.all([page.waitForURL(server.url + `/jobs/${id}`, { waitUntil: "load" }), page.keyboard.press("Enter")]);
    await page.waitForFunction(() => document.querySelector("#job-status h2")?.textContent === "Status: Cancelled", undefined, { timeout: 10_000 });
    const rec = await recorded(page);
    const finalText = (await page.locator("#job-announce").innerText()).trim();
    t.regex(finalText, /^Cancelled after \d+ of 40 values\.$/);
    t.true(rec.announcements.length <= 1, `announced: ${JSON.stringify(rec.announcements)}`);
    t.is(navigations(), 3, "start page, status page, status page after the cancel");
    noProblems(t, watch);
  });

  test("with JavaScript, a failing count ends with an announcement that says what happened", async (t) => {
    const server = await app("flow-crash", { COUNT_STEP_DELAY_MS: "300" }, fixtureScript("crash-long-line"));
    const { page, watch } = await open();
    await submitCount(page, server.url, { start: "1", end: "10", increment: "1" });
    await page.waitForFunction(() => document.querySelector("#job-status h2")?.textContent === "Status: Failed", undefined, { timeout: 10_000 });
    const rec = await recorded(page);
    const all = [rec.initialAnnouncement, ...rec.announcements];
    t.is(all.at(-1), "Failed: the count stopped unexpectedly after 2 of 10 values.");
    t.deepEqual(all, [...new Set(all)], `each announcement differs from the one before: ${JSON.stringify(all)}`);
    t.is(await page.locator(".failure-message").innerText(), "The count stopped unexpectedly after 2 of 10 values.");
    noProblems(t, watch);
  });

  test("without JavaScript, the form and the Check again link lead to the results", async (t) => {
    const server = await app("flow-nojs", { COUNT_STEP_DELAY_MS: "300" });
    const { page, watch, polls } = await open({ javaScriptEnabled: false });
    const id = await submitCount(page, server.url, { start: "3", end: "30", increment: "3" });
    t.regex(await page.locator("#job-status h2").innerText(), /^Status: (Waiting to start|Running)$/);

    await Promise.all([page.waitForURL(server.url + `/jobs/${id}`), page.click("#check-again")]);
    t.truthy(await page.locator("#job-status h2").innerText());

    await server.waitForState(id, "succeeded");
    await Promise.all([page.waitForURL(server.url + `/jobs/${id}`), page.click("#check-again")]);
    t.is(await page.locator("#job-status h2").innerText(), "Status: Finished");
    t.is(await page.locator(".result-summary").innerText(), "10 values, from 3 to 30 by 3.");
    t.deepEqual(await page.locator(".values li").allInnerTexts(), ["3", "6", "9", "12", "15", "18", "21", "24", "27", "30"]);
    t.is(await page.locator("#check-again").count(), 0, "nothing left to check");
    t.is(polls.length, 0, "no status fragment requested without JavaScript");
    noProblems(t, watch);
  });

  test("with JavaScript, a job that disappears while its page polls is shown as gone, and polling stops", async (t) => {
    const server = await app("flow-gone", { COUNT_STEP_DELAY_MS: "500" });
    const { page, watch, polls } = await open();
    const id = await submitCount(page, server.url, { start: "1", end: "100", increment: "1" });
    await page.waitForResponse((res) => res.url().includes("/status?shown="), { timeout: 10_000 });
    // What an expired job looks like to a poll: its keys are gone.
    await server.store.redis.del(...server.store.jobKeys(id));
    await page.waitForFunction(() => document.querySelector("#job-status h2")?.textContent === "Job not found", undefined, { timeout: 10_000 });
    t.is(polls.at(-1)?.status, 404);
    t.is(await page.locator("#job-status[hx-trigger]").count(), 0, "the fragment that replaced the poller does not poll");
    t.is(await page.textContent("#job-announce"), "Job not found.");
    const count = polls.length;
    await page.waitForTimeout(4500); // the behaviour under test is an absence: two poll intervals and more
    t.is(polls.length, count, "no poll after the 404");
    t.deepEqual(watch.cspViolations, []);
  });
});

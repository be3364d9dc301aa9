// "Your recent jobs" in Chromium: jobs sent from the form are listed on the
// start page, which passes axe in light and dark and fits 320 px; a job is
// taken off the list with the keyboard alone, with JavaScript off.
import test from "ava";
import type { BrowserContextOptions, Page } from "playwright-core";
import { useApp } from "../support/app.ts";
import { describeViolations, ProblemWatch, runAxe, screenshot, sidewaysOverflow, useBrowser, whenBrowser } from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);
  /** One slot: a long count holds it, so the next jobs wait (the list shows several states). */
  const app = useApp(test, { redis, name: "recent-browser", env: { COUNT_STEP_DELAY_MS: "1000", JOB_CONCURRENCY_COUNT: "1" } });

  /** Sends the count form as a person would; returns the new job's id. */
  async function send(page: Page, values: { start: string; end: string; increment: string }): Promise<string> {
    await page.goto(`${app.url}/`);
    for (const [field, value] of Object.entries(values)) await page.fill(`#${field}`, value);
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.press("#increment", "Enter")]);
    return page.url().split("/").pop()!;
  }

  const modes: { name: string; options: BrowserContextOptions }[] = [
    { name: "light", options: { viewport: { width: 1280, height: 900 } } },
    { name: "dark", options: { viewport: { width: 1280, height: 900 }, colorScheme: "dark" } },
    { name: "320", options: { viewport: { width: 320, height: 640 } } },
  ];

  test("the start page with a list of recent jobs passes axe in light and dark and fits 320 px", async (t) => {
    for (const mode of modes) {
      const context = await browser.newContext(mode.options);
      try {
        const watch = await ProblemWatch.on(context);
        const page = await context.newPage();
        const running = await send(page, { start: "1", end: "1000", increment: "1" });
        const waiting = await send(page, { start: "5", end: "50", increment: "5" });
        await page.goto(`${app.url}/`);
        const items = page.locator(".recent-job");
        t.is(await items.count(), 2, mode.name);
        t.is(await items.nth(0).locator("a").getAttribute("href"), `/jobs/${waiting}`);
        t.is(await items.nth(1).locator("a").getAttribute("href"), `/jobs/${running}`);
        t.regex(await items.nth(0).innerText(), /^Count from 5 to 50\s+Waiting to start/);
        t.is(await items.nth(0).getByRole("button").getAttribute("type"), "submit");
        t.regex(await items.nth(0).getByRole("button").innerText(), /Remove/);
        await screenshot(page, `home-recent-${mode.name}`);
        const violations = await runAxe(page);
        t.deepEqual(violations, [], `${mode.name}:\n${describeViolations(violations)}`);
        if (mode.name === "320") {
          const { overflow, culprits } = await sidewaysOverflow(page);
          t.true(overflow <= 0, `scrolls sideways by ${overflow} px: ${culprits.join("; ")}`);
        }
        t.deepEqual(watch.cspViolations, []);
        t.deepEqual(watch.consoleErrors, []);
        for (const id of [running, waiting]) await app.post(`/jobs/${id}/cancel`, {});
      } finally {
        await context.close();
      }
    }
  });

  test("with JavaScript off, a job is taken off the list with the keyboard alone", async (t) => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      const first = await send(page, { start: "1", end: "3", increment: "1" });
      const second = await send(page, { start: "2", end: "6", increment: "2" });
      await page.goto(`${app.url}/`);
      t.is(await page.locator(".recent-job").count(), 2);
      const remove = page
        .locator(".recent-job")
        .nth(0)
        .getByRole("button", { name: /^Remove .Count from 2 to 6. from this list$/ });
      await remove.focus();
      await Promise.all([page.waitForURL(`${app.url}/#recent-jobs`), page.keyboard.press("Enter")]);
      const left = page.locator(".recent-job a");
      t.is(await left.count(), 1);
      t.is(await left.getAttribute("href"), `/jobs/${first}`);
      t.not(first, second);
      for (const id of [first, second]) await app.post(`/jobs/${id}/cancel`, {});
    } finally {
      await context.close();
    }
  });
});

// "My jobs" in Chromium, as two people signed in through the site's proxy
// (each browser context sends its person's header, as the proxy would): each
// sees only their own jobs, the page passes axe in light and dark and fits
// 320 px, and its filter works with JavaScript off, from the keyboard.
import test from "ava";
import type { Page } from "playwright-core";
import { useApp } from "../support/app.ts";
import { describeViolations, ProblemWatch, runAxe, screenshot, sidewaysOverflow, useBrowser, whenBrowser } from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);
  const app = useApp(test, {
    redis,
    name: "my-jobs-browser",
    env: {
      TRUSTED_USER_HEADER: "X-Forwarded-User",
      TRUSTED_NAME_HEADER: "X-Forwarded-Name",
      TRUSTED_PROXIES: "127.0.0.1,::1",
      COUNT_STEP_DELAY_MS: "0",
    },
  });
  const ann = { "X-Forwarded-User": "ann", "X-Forwarded-Name": "Ann" };
  const bob = { "X-Forwarded-User": "bob", "X-Forwarded-Name": "Bob" };

  /** Sends the count form as a person would; the new job's id, once it has ended. */
  async function send(page: Page, end: string): Promise<string> {
    await page.goto(`${app.url}/`);
    for (const [field, value] of Object.entries({ start: "1", end, increment: "1" })) await page.fill(`#${field}`, value);
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.press("#increment", "Enter")]);
    const id = page.url().split("/").pop()!;
    await app.waitForState(id, "succeeded");
    return id;
  }

  test("two people in two browsers each see only their own jobs; the page passes axe in light and dark and fits 320 px", async (t) => {
    const annContext = await browser.newContext({ extraHTTPHeaders: ann, viewport: { width: 1280, height: 900 } });
    const bobContext = await browser.newContext({ extraHTTPHeaders: bob, viewport: { width: 1280, height: 900 }, colorScheme: "dark" });
    try {
      const annPage = await annContext.newPage();
      const bobPage = await bobContext.newPage();
      const annJobs = [await send(annPage, "3"), await send(annPage, "4")];
      const bobJob = await send(bobPage, "5");
      for (const [page, who, mine, name] of [
        [annPage, "Ann", annJobs.reverse(), "light"],
        [bobPage, "Bob", [bobJob], "dark"],
      ] as const) {
        const watch = await ProblemWatch.on(page.context());
        await page.goto(`${app.url}/`);
        await Promise.all([page.waitForURL(`${app.url}/jobs/mine`), page.getByRole("link", { name: "My jobs" }).click()]);
        t.regex(await page.locator(".user-nav").innerText(), new RegExp(`Signed in as ${who}`));
        const links = page.locator(".my-jobs .recent-job a");
        t.deepEqual(
          await links.evaluateAll((as) => as.map((a) => a.getAttribute("href"))),
          mine.map((id) => `/jobs/${id}`),
          who,
        );
        await screenshot(page, `my-jobs-${name}`);
        const violations = await runAxe(page);
        t.deepEqual(violations, [], `${who}:\n${describeViolations(violations)}`);
        t.deepEqual(watch.cspViolations, []);
        t.deepEqual(watch.consoleErrors, []);
      }
      // Ann's job is not Bob's to open.
      const answer = await bobPage.goto(`${app.url}/jobs/${annJobs[0]}`);
      t.is(answer?.status(), 404);

      await annPage.setViewportSize({ width: 320, height: 640 });
      await annPage.goto(`${app.url}/jobs/mine`);
      const { overflow, culprits } = await sidewaysOverflow(annPage);
      t.true(overflow <= 0, `scrolls sideways by ${overflow} px: ${culprits.join("; ")}`);
      t.deepEqual(await runAxe(annPage), []);
    } finally {
      await annContext.close();
      await bobContext.close();
    }
  });

  test("with JavaScript off, the filter is chosen and sent from the keyboard", async (t) => {
    const context = await browser.newContext({
      extraHTTPHeaders: { "X-Forwarded-User": "cy", "X-Forwarded-Name": "Cy" },
      javaScriptEnabled: false,
    });
    try {
      const page = await context.newPage();
      await send(page, "2");
      await page.goto(`${app.url}/jobs/mine`);
      await page.locator("#state").focus();
      await page.keyboard.press("ArrowDown"); // Waiting
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      await Promise.all([page.waitForURL(/\/jobs\/mine\?state=queued/), page.keyboard.press("Enter")]);
      t.is(await page.locator(".my-jobs .recent-job").count(), 0);
      t.regex(await page.locator("main").innerText(), /None of your jobs matches these filters/);
    } finally {
      await context.close();
    }
  });
});

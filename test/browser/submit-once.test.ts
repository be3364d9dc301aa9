// The form's one-time token in Chromium: a double click on the submit
// button, and the back button then the form sent again, each leave one job
// and land on its page.
import test, { type ExecutionContext } from "ava";
import type { Page } from "playwright-core";
import { JOB_STATES } from "../../jobs/core/store.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { useBrowser, whenBrowser } from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const JOB_PAGE = /\/jobs\/[0-9a-f]{32}$/;

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);

  async function open(t: ExecutionContext, options: { javaScriptEnabled?: boolean } = {}): Promise<{ page: Page; posts: () => number }> {
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, ...options });
    t.teardown(() => context.close());
    const page = await context.newPage();
    let posts = 0;
    page.on("request", (req) => {
      if (req.method() === "POST" && new URL(req.url()).pathname === "/count") posts += 1;
    });
    return { page, posts: () => posts };
  }

  const jobs = (app: TestApp) => app.store.allIds(["count"], JOB_STATES, 100);

  for (const javaScriptEnabled of [true, false]) {
    const mode = javaScriptEnabled ? "with JavaScript" : "without JavaScript";

    test(`${mode}, a double click on the submit button (the second click while the first answer is on its way) makes one job and lands on its page`, async (t) => {
      const app = await startApp(t, { redis, name: "dblclick" });
      const { page, posts } = await open(t, { javaScriptEnabled });
      // The server gets and answers each POST at once; the answers are held from the browser until the
      // second click has sent the form again, as on a network where the first answer is still on its way.
      let firstAnswered!: () => void;
      const first = new Promise<void>((resolve) => (firstAnswered = resolve));
      let secondAnswered!: () => void;
      const second = new Promise<void>((resolve) => (secondAnswered = resolve));
      let sent = 0;
      await page.route("**/count", async (route) => {
        if (route.request().method() !== "POST") return route.continue();
        const nth = ++sent;
        const response = await route.fetch({ maxRedirects: 0 });
        if (nth === 1) firstAnswered();
        else secondAnswered();
        await second;
        // The first one's navigation was given up for the second's.
        await route.fulfill({ response }).catch(() => {});
      });
      await page.goto(app.url + "/");
      await page.fill("#end", "3");
      // The mouse itself: page.click would wait for the first click's navigation to end.
      const box = (await page.locator("button[type=submit]").boundingBox())!;
      const click = () => page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await click();
      await first;
      await click();
      // Not waitForURL: it fails on the first navigation, which the second aborts.
      await waitFor(() => JOB_PAGE.test(page.url()), { message: "the job's page" });
      await page.waitForLoadState();
      t.is(posts(), 2, "the form was sent twice");
      const id = page.url().split("/").pop()!;
      t.deepEqual(await jobs(app), [id]);
    });

    test(`${mode}, the back button and the form sent again land on the same job`, async (t) => {
      const app = await startApp(t, { redis, name: "back-again" });
      const { page, posts } = await open(t, { javaScriptEnabled });
      await page.goto(app.url + "/");
      await page.fill("#end", "3");
      await Promise.all([page.waitForURL(JOB_PAGE), page.click("button[type=submit]")]);
      const id = page.url().split("/").pop()!;
      await page.goBack();
      await page.waitForURL(app.url + "/");
      t.is(await page.inputValue("#end"), "3", "the form keeps what was typed");
      await Promise.all([page.waitForURL(JOB_PAGE), page.click("button[type=submit]")]);
      t.is(page.url().split("/").pop(), id);
      t.is(posts(), 2, "the form was sent twice");
      t.deepEqual(await jobs(app), [id]);
    });
  }
});

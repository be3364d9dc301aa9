// The operator's pages in Chromium: axe-core (WCAG 2.2 AA) finds nothing on
// the login, the overview (with the queue by submitter), a filtered list,
// an empty list, the bulk confirmation, a job's admin view and the audit
// trail, in light and dark and at 320 px;
// keyboard-only use gets from the login to a job; and everything works with
// JavaScript off, the bulk confirmation included.
import test from "ava";
import type { BrowserContext, BrowserContextOptions, Page } from "playwright-core";
import { useApp, type TestApp } from "../support/app.ts";
import {
  describeViolations,
  focusedElement,
  ProblemWatch,
  runAxe,
  screenshot,
  sidewaysOverflow,
  useBrowser,
  whenBrowser,
} from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";
import type { JobStore } from "../../jobs/core/store.ts";

const PASSWORD = "correct horse battery";
const ENV = { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "b".repeat(40) };
const TYPES = ["count", "primes", "csv-check"];

/** Queued jobs (105, more than a page of the list), and a few ended ones. */
async function fill(store: JobStore): Promise<{ failed: string }> {
  for (let i = 0; i < 3; i++) {
    const id = await store.create({ type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 1e9 });
    await store.claim("test", 600_000, ["count"], TYPES);
    await store.start(id, process.pid, "test-host", 600_000);
    await store.appendLog(id, ["counting", "oops"]);
    await store.finish(id, i === 0 ? "succeeded" : "failed", "job", i === 0 ? {} : { reason: "job-error", error: "The numbers ran out" });
  }
  const failed = (await store.listJobs({ types: TYPES, states: ["failed"] }, 1)).rows[0]!.id;
  await Promise.all(
    Array.from({ length: 105 }, (_, i) =>
      store.create({
        type: i % 2 ? "count" : "primes",
        params: i % 2 ? { start: 1, end: 5, increment: 1 } : { n: 1000 + i },
        total: 5,
        queueMax: 1e9,
        // Three people's: the overview lists the queue by submitter.
        submitter: ["person ann@example.org", "person bob@example.org", "address 192.0.2.7"][i % 3],
      }),
    ),
  );
  return { failed };
}

async function logIn(page: Page, app: TestApp): Promise<void> {
  await page.goto(`${app.url}/admin/login`);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(`${app.url}/admin`), page.click("button[type=submit]")]);
}

/** Pauses htmx polling so the page holds still while it is inspected. */
async function holdStill(page: Page): Promise<void> {
  await page.evaluate(() => document.body.addEventListener("htmx:beforeRequest", (e) => e.preventDefault()));
}

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);
  const app = useApp(test, { redis, name: "admin-pages", env: ENV, takesJobs: false });
  const nojs = useApp(test, { redis, name: "admin-nojs", env: ENV, takesJobs: false });
  const ids = { failed: "" };
  test.before(async () => {
    ids.failed = (await fill(app.store)).failed;
    await fill(nojs.store);
  });

  const modes: { suffix: string; options: BrowserContextOptions }[] = [
    { suffix: "", options: { viewport: { width: 1280, height: 900 } } },
    { suffix: "-dark", options: { viewport: { width: 1280, height: 900 }, colorScheme: "dark" } },
    { suffix: "-320", options: { viewport: { width: 320, height: 640 } } },
  ];

  const scenarios: { name: string; title: string; status: number; open(page: Page): Promise<unknown>; login?: false }[] = [
    { name: "admin-login", title: "the login page", status: 200, login: false, open: (p) => p.goto(`${app.url}/admin/login`) },
    { name: "admin-overview", title: "the overview", status: 200, open: (p) => p.goto(`${app.url}/admin`) },
    {
      name: "admin-list-filtered",
      title: "a filtered jobs list",
      status: 200,
      open: (p) => p.goto(`${app.url}/admin/jobs?state=failed&type=count`),
    },
    { name: "admin-list-empty", title: "an empty jobs list", status: 200, open: (p) => p.goto(`${app.url}/admin/jobs?state=running`) },
    { name: "admin-list", title: "the whole jobs list", status: 200, open: (p) => p.goto(`${app.url}/admin/jobs`) },
    { name: "admin-job", title: "a failed job's admin view", status: 200, open: (p) => p.goto(`${app.url}/admin/jobs/${ids.failed}`) },
    {
      name: "admin-audit",
      title: "the audit trail",
      status: 200,
      async open(page) {
        // An action to list: the oldest queued job cancelled, as the operator.
        const [queued] = (await app.store.listJobs({ types: TYPES, states: ["queued"] }, 1)).rows;
        if (queued) await page.request.post(`${app.url}/admin/jobs/${queued.id}/cancel`, { headers: { Accept: "application/json" } });
        return page.goto(`${app.url}/admin/audit`);
      },
    },
    {
      name: "admin-confirm",
      title: "the bulk action's confirmation page",
      status: 200,
      async open(page) {
        await page.goto(`${app.url}/admin/jobs?state=queued`);
        await Promise.all([page.waitForURL(`${app.url}/admin/bulk/cancel-queued`), page.click("text=Cancel every queued job")]);
      },
    },
  ];

  const tabs: { mode: (typeof modes)[number]; context: BrowserContext; page: Page; watch: ProblemWatch; status: number }[] = [];
  test.before(async () => {
    for (const mode of modes) {
      const context = await browser.newContext(mode.options);
      const tab = { mode, context, page: await context.newPage(), watch: await ProblemWatch.on(context), status: 0 };
      tab.page.on("response", (res) => {
        if (res.request().isNavigationRequest() && res.request().frame() === tab.page.mainFrame()) tab.status = res.status();
      });
      tabs.push(tab);
    }
  });

  for (const scenario of scenarios) {
    test.serial(`${scenario.title} passes axe in light and dark, and fits 320 px`, async (t) => {
      await Promise.all(
        tabs.map(async (tab) => {
          const { mode, page, watch } = tab;
          if (scenario.login === false) await tab.context.clearCookies();
          else if (!(await tab.context.cookies()).some((c) => c.name === "sidejob_admin")) await logIn(page, app);
          watch.clear();
          tab.status = 0;
          await scenario.open(page);
          t.is(tab.status, scenario.status, `status of ${page.url()}`);
          await holdStill(page);
          const label = `${scenario.name}${mode.suffix}`;
          await screenshot(page, label);
          const violations = await runAxe(page);
          t.deepEqual(violations, [], `${label}:\n${describeViolations(violations)}`);
          if (mode.suffix === "-320") {
            const { overflow, culprits } = await sidewaysOverflow(page);
            t.true(overflow <= 0, `${label} scrolls sideways by ${overflow} px: ${culprits.join("; ")}`);
          }
          t.deepEqual(watch.cspViolations, [], `${label}: CSP violations`);
          t.deepEqual(watch.consoleErrors, [], `${label}: console errors`);
        }),
      );
    });
  }

  test.serial("the overview's figures refresh by themselves, announce nothing, and keep the keyboard focus where it was", async (t) => {
    const page = tabs[0]!.page;
    await page.goto(`${app.url}/admin`);
    await page.focus("#count-count-queued");
    await page.evaluate(() => (document.getElementById("admin-overview")!.dataset.old = "yes"));
    const refreshed = page.waitForRequest((req) => req.url() === `${app.url}/admin` && req.headers()["hx-request"] === "true", {
      timeout: 15_000,
    });
    t.truthy(await refreshed);
    await page.waitForFunction(() => document.getElementById("admin-overview")?.dataset.old === undefined, undefined, { timeout: 15_000 });
    await page.waitForFunction(() => !document.querySelector(".htmx-settling, .htmx-swapping"), undefined, { timeout: 5000 });
    t.is(await page.evaluate(() => document.activeElement?.id), "count-count-queued", "the focus is back on the same link");
    t.is(await page.locator("#admin-overview [aria-live], #admin-overview[aria-live], #admin-overview [role=status]").count(), 0);
  });

  test.serial("printed, the overview keeps its charts and their figures, without the navigation", async (t) => {
    const page = tabs[0]!.page;
    await page.goto(`${app.url}/admin`);
    await holdStill(page);
    await page.emulateMedia({ media: "print" });
    try {
      t.is(await page.locator(".chart-svg").count(), 3);
      t.true(await page.locator("#chart-ended-title").isVisible());
      t.true(await page.locator(".chart-data table").first().isVisible(), "the figures print as a table");
      t.false(await page.locator(".admin-nav").isVisible());
    } finally {
      await page.emulateMedia({ media: "screen" });
    }
  });

  test.serial("keyboard only: log in, go to the jobs list, and open a job", async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${app.url}/admin/login`);
    const tabTo = async (want: (f: { name: string; id: string }) => boolean, what: string) => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        const f = await focusedElement(page);
        if (want(f)) {
          t.true(f.visible, `${f.name} shows its focus`);
          return;
        }
      }
      t.fail(`Tab never reached ${what}`);
    };
    await tabTo((f) => f.id === "password", "the password field");
    await page.keyboard.type(PASSWORD);
    await Promise.all([page.waitForURL(`${app.url}/admin`), page.keyboard.press("Enter")]);
    await holdStill(page);
    await tabTo((f) => f.name.startsWith('a "Jobs'), "the Jobs link");
    await Promise.all([page.waitForURL(`${app.url}/admin/jobs`), page.keyboard.press("Enter")]);
    await tabTo((f) => f.name.startsWith("a ") && /Count from|Prime numbers/.test(f.name), "a job's link");
    await Promise.all([page.waitForURL(/\/admin\/jobs\/[0-9a-f]{32}$/), page.keyboard.press("Enter")]);
    t.regex(await page.locator("h1").innerText(), /Count from|Prime numbers/);
  });

  test.serial("with JavaScript off: log in, filter the list, page through it, and cancel every queued job after confirming", async (t) => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    await logIn(page, nojs);
    await Promise.all([page.waitForURL(`${nojs.url}/admin`), page.click("text=Refresh")]);
    t.regex(await page.locator("#admin-overview").innerText(), /Waiting in the queue\s*105/);
    await page.goto(`${nojs.url}/admin/jobs`);
    await page.selectOption("#f-state", "queued");
    await page.selectOption("#f-type", "primes");
    await Promise.all([page.waitForURL(/state=queued&type=primes/), page.click("text=Show jobs")]);
    t.is(await page.locator(".jobs-table tbody tr").count(), 50);
    await Promise.all([page.waitForURL(/after=/), page.click("text=Older jobs")]);
    t.is(await page.locator(".jobs-table tbody tr").count(), 3, "53 queued primes jobs: 50, then 3");
    await page.goto(`${nojs.url}/admin/jobs?state=queued`);
    await Promise.all([page.waitForURL(`${nojs.url}/admin/bulk/cancel-queued`), page.click("text=Cancel every queued job")]);
    t.regex(await page.locator("main").innerText(), /Cancel 105 queued jobs\?\s*This acts on 105 jobs/);
    await page.click("text=Yes, go ahead");
    await page.waitForSelector("text=Jobs cancelled");
    t.regex(await page.locator("main").innerText(), /Jobs cancelled\s*105/);
    t.is(await nojs.store.totalQueueLength(), 0);
  });
});

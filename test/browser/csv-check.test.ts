// The CSV check in Chromium: its form, the form sent back with an error, a
// running check and a finished report pass axe (WCAG 2.2 AA) in light and
// dark and fit 320 px; the flow works without JavaScript; with JavaScript
// the live region changes once per state.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import type { BrowserContextOptions, Page } from "playwright-core";
import { useApp } from "../support/app.ts";
import { describeViolations, ProblemWatch, runAxe, screenshot, sidewaysOverflow, useBrowser, whenBrowser } from "../support/browser.ts";
import { useRedis } from "../support/redis.ts";
import { newJobId } from "../../jobs/core/store.ts";

/** A file with a few of each problem, and a column name long enough to test the table at 320 px. */
const CSV = [
  "id,customer_reference_number_long_name,amount,when,note",
  "1,Ann,3.50,2024-01-02,first",
  "2, Bob,x,2024-01-03,second",
  "",
  "3,Cy,4,2024-02-01",
  "4,Di,5.25,not a date,<script>alert(1)</script>",
  "5,Ed,=1+1,2024-03-01,last",
].join("\r\n");

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);
  const fast = useApp(test, { redis, name: "csv-browser" });
  /** Takes no jobs: a check marked running through the store holds still with its progress. */
  const idle = useApp(test, { redis, name: "csv-browser-idle", takesJobs: false });
  const ids = { report: "", running: "" };
  let file = "";

  test.before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-csv-browser-"));
    file = path.join(dir, "customers.csv");
    fs.writeFileSync(file, CSV);
    const form = new FormData();
    form.set("file", new Blob([CSV], { type: "text/csv" }), "customers.csv");
    form.set("delimiter", "detect");
    form.set("header", "true");
    const res = await fetch(`${fast.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
    if (res.status !== 303) throw new Error(`the form answered ${res.status}`);
    ids.report = res.headers.get("location")!.split("/").pop()!;
    await fast.waitForState(ids.report, "succeeded", 40_000);

    ids.running = newJobId();
    await idle.store.appendUpload(ids.running, "file", Buffer.from(CSV));
    await idle.store.create({
      id: ids.running,
      uploads: ["file"],
      type: "csv-check",
      params: { file: { name: "big.csv", size: CSV.length }, delimiter: "detect", header: true },
      total: 400_000,
      queueMax: 10,
    });
    await idle.store.start(ids.running, process.pid, "test", 600_000);
    await idle.store.report(ids.running, 600_000, { done: 120_000, status: "Checked 120,000 of about 400,000 rows" });
  });

  test.after.always(() => {
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  interface Scenario {
    name: string;
    title: string;
    status: number;
    open(page: Page): Promise<void>;
    check?(page: Page, t: ExecutionContext): Promise<void>;
  }

  const scenarios: Scenario[] = [
    {
      name: "csv-form",
      title: "the CSV check's form",
      status: 200,
      open: async (page) => void (await page.goto(`${fast.url}/jobs/new/csv-check`)),
    },
    {
      name: "csv-form-errors",
      title: "the CSV check's form sent back without a file",
      status: 422,
      async open(page) {
        await page.goto(`${fast.url}/jobs/new/csv-check`);
        await page.selectOption("#delimiter", "tab");
        await Promise.all([page.waitForURL(`${fast.url}/jobs/new/csv-check`), page.click("button[type=submit]")]);
      },
      async check(page, t) {
        t.is(await page.locator(".error-summary li").innerText(), "Choose the CSV file");
        t.is(await page.locator("#delimiter").inputValue(), "tab", "the delimiter chosen is kept");
      },
    },
    {
      name: "csv-running",
      title: "a running CSV check",
      status: 200,
      open: async (page) => void (await page.goto(`${idle.url}/jobs/${ids.running}`)),
      async check(page, t) {
        t.is(await page.locator(".status-line").innerText(), "Checked 120,000 of about 400,000 rows");
      },
    },
    {
      name: "csv-report",
      title: "a finished CSV report",
      status: 200,
      open: async (page) => void (await page.goto(`${fast.url}/jobs/${ids.report}`)),
      async check(page, t) {
        t.is(await page.locator("#csv-columns-caption").innerText(), "Columns");
        t.is(await page.locator(".csv-problems tbody tr").count(), 4);
        t.is(await page.locator(".csv-problems tbody tr").first().locator("th").innerText(), "5", "the short row comes first");
        t.is(await page.evaluate(() => document.querySelectorAll("main script").length), 0, "a cell's markup stays text");
      },
    },
  ];

  const modes: { suffix: string; options: BrowserContextOptions }[] = [
    { suffix: "", options: { viewport: { width: 1280, height: 900 }, reducedMotion: "reduce" } },
    { suffix: "-dark", options: { viewport: { width: 1280, height: 900 }, colorScheme: "dark" } },
    { suffix: "-320", options: { viewport: { width: 320, height: 640 } } },
  ];

  /**
   * One page per mode, kept for the whole file: each scenario navigates it (a
   * new browser context per scenario and mode cost about twice the CPU).
   * `status` is that of the page's latest document.
   */
  const tabs: { mode: (typeof modes)[number]; page: Page; watch: ProblemWatch; status: number }[] = [];
  test.before(async () => {
    for (const mode of modes) {
      const context = await browser.newContext(mode.options);
      const tab = { mode, page: await context.newPage(), watch: await ProblemWatch.on(context), status: 0 };
      tab.page.on("response", (res) => {
        if (res.request().isNavigationRequest() && res.request().frame() === tab.page.mainFrame()) tab.status = res.status();
      });
      tabs.push(tab);
    }
  });

  for (const scenario of scenarios) {
    test.serial(`${scenario.title} passes axe in light and dark and fits 320 px`, async (t) => {
      await Promise.all(
        tabs.map(async (tab) => {
          const { mode, page, watch } = tab;
          watch.clear();
          tab.status = 0;
          await scenario.open(page);
          t.is(tab.status, scenario.status);
          await page.evaluate(() => document.body.addEventListener("htmx:beforeRequest", (e) => e.preventDefault()));
          const label = `${scenario.name}${mode.suffix}`;
          await screenshot(page, label);
          const violations = await runAxe(page);
          t.deepEqual(violations, [], `${label}:\n${describeViolations(violations)}`);
          if (mode.suffix === "-320") {
            const { overflow, culprits } = await sidewaysOverflow(page);
            t.true(overflow <= 0, `${label} scrolls sideways by ${overflow} px: ${culprits.join("; ")}`);
          }
          if (mode.suffix === "" && scenario.check) await scenario.check(page, t);
          t.deepEqual(watch.cspViolations, [], `${label}: CSP violations`);
          t.deepEqual(watch.consoleErrors, [], `${label}: console errors`);
        }),
      );
    });
  }

  test.serial("without JavaScript, a file is sent from the form and the Check again link leads to the report", async (t) => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1024, height: 800 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${fast.url}/jobs/new/csv-check`);
    await page.setInputFiles("#file", file);
    await page.selectOption("#delimiter", "comma");
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.click("button[type=submit]")]);
    const id = page.url().split("/").pop()!;
    await fast.waitForState(id, "succeeded", 40_000);
    await Promise.all([page.waitForURL(`${fast.url}/jobs/${id}`), page.click("#check-again")]);
    t.is(await page.locator("#job-status h2").innerText(), "Status: Finished");
    t.regex(await page.locator(".csv-report .result-summary").innerText(), /^5 rows and 5 columns: 4 problems found\.$/);
    t.is(await page.locator("a", { hasText: "every problem (CSV)" }).count(), 1);
  });

  test.serial("with JavaScript, a check sent from its form updates in place and its live region changes once per state", async (t) => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 } });
    t.teardown(() => context.close());
    await context.addInitScript({
      content: `document.addEventListener("DOMContentLoaded", function () {
        var region = document.getElementById("job-announce");
        window.__said = region ? [region.textContent.trim()] : [];
        if (region) new MutationObserver(function () { window.__said.push(region.textContent.trim()); }).observe(region, { childList: true, characterData: true, subtree: true });
      });`,
    });
    const page = await context.newPage();
    await page.goto(`${fast.url}/jobs/new/csv-check`);
    await page.setInputFiles("#file", file);
    await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f]{32}$/), page.click("button[type=submit]")]);
    await page.waitForFunction(() => document.querySelector("#job-status h2")?.textContent === "Status: Finished", undefined, {
      timeout: 20_000,
    });
    await page.locator(".csv-report").waitFor();
    const said = await page.evaluate(() => (window as unknown as { __said: string[] }).__said);
    t.deepEqual(said, [...new Set(said)], `each state announced once: ${JSON.stringify(said)}`);
    t.regex(said.at(-1)!, /^Finished/);
  });
});

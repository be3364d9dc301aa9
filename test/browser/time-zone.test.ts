// The time zone page in Chromium: it passes axe in light and dark, fits 320
// px and text at 200%, with and without an error; and with JavaScript off,
// the keyboard alone goes from a job's page to the form, chooses a zone and
// comes back to the job, whose times then read in that zone while their
// datetime stays in UTC.
import test from "ava";
import type { BrowserContextOptions, Page } from "playwright-core";
import { useApp } from "../support/app.ts";
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

whenBrowser(test, () => {
  const browser = useBrowser(test);
  const redis = useRedis(test);
  const app = useApp(test, { redis, name: "time-zone-browser" });
  let job = "";

  test.before(async () => {
    job = await app.submit({ start: "1", end: "5", increment: "1" });
    await app.waitForState(job, "succeeded");
  });

  const modes: { name: string; options: BrowserContextOptions; textZoom?: boolean }[] = [
    { name: "light", options: { viewport: { width: 1280, height: 900 } } },
    { name: "dark", options: { viewport: { width: 1280, height: 900 }, colorScheme: "dark" } },
    { name: "320", options: { viewport: { width: 320, height: 640 } } },
    { name: "640-text200", options: { viewport: { width: 640, height: 800 } }, textZoom: true },
  ];

  /** Sends the form with a zone the list does not offer, as a stale page or a forged form would. */
  async function sendBadZone(page: Page): Promise<number> {
    await page.evaluate(() => {
      const option = document.createElement("option");
      option.value = "Mars/Olympus";
      option.textContent = "Olympus";
      const select = document.querySelector<HTMLSelectElement>("#zone")!;
      select.append(option);
      select.value = "Mars/Olympus";
    });
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.click("button[type=submit]")]);
    // The answer's page, not the form's that sent it: its error summary, and the focus autofocus gives it, once there.
    await page.locator(".error-summary").waitFor();
    await page.waitForFunction(() => document.activeElement?.className === "error-summary", undefined, { timeout: 5000 }).catch(() => {});
    return response.status();
  }

  test("the time zone page passes axe in light and dark, fits 320 px and 200% text, and says what is wrong with a bad zone", async (t) => {
    for (const mode of modes) {
      const context = await browser.newContext(mode.options);
      try {
        const watch = await ProblemWatch.on(context);
        const page = await context.newPage();
        for (const state of ["form", "error"] as const) {
          if (state === "form") {
            const res = await page.goto(`${app.url}/settings/time-zone?back=${encodeURIComponent(`/jobs/${job}`)}`);
            t.is(res?.status(), 200);
          } else {
            t.is(await sendBadZone(page), 400, `${mode.name}: a zone that is none is refused`);
            t.is(await page.evaluate(() => document.activeElement?.className), "error-summary", "the error summary has focus");
            t.regex(await page.locator(".error-summary").innerText(), /"Mars\/Olympus" is not a time zone this site knows/);
            t.regex(await page.title(), /^Error: /);
          }
          if (mode.textZoom) await page.evaluate(() => (document.documentElement.style.fontSize = "200%"));
          const label = `time-zone-${state}-${mode.name}`;
          await screenshot(page, label);
          if (!mode.textZoom) {
            const violations = await runAxe(page);
            t.deepEqual(violations, [], `${label}:\n${describeViolations(violations)}`);
          }
          if (mode.name === "320" || mode.textZoom) {
            const { overflow, culprits } = await sidewaysOverflow(page);
            t.true(overflow <= 0, `${label} scrolls sideways by ${overflow} px: ${culprits.join("; ")}`);
          }
        }
        t.deepEqual(watch.cspViolations, [], `${mode.name}: CSP violations`);
        t.deepEqual(watch.consoleErrors, [], `${mode.name}: console errors`);
        t.deepEqual(await context.cookies(), [], `${mode.name}: nothing kept`);
      } finally {
        await context.close();
      }
    }
  });

  test("with JavaScript off and the keyboard alone, a zone is chosen from a job's page, and the job's times read in it", async (t) => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${app.url}/jobs/${job}`);
    const before = await page.locator("time").evaluateAll((els) => els.map((el) => el.getAttribute("datetime")));
    t.regex(await page.locator(".facts .exact").first().innerText(), / UTC\)$/);
    const tabTo = async (want: (f: { name: string; id: string }) => boolean, what: string) => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press("Tab");
        const f = await focusedElement(page);
        if (want(f)) {
          t.true(f.visible, `${f.name} shows its focus`);
          return;
        }
      }
      t.fail(`Tab never reached ${what}`);
    };
    await tabTo((f) => f.name === 'a "Change the time zone"', "the footer's link");
    await Promise.all([page.waitForURL(/\/settings\/time-zone\?back=/), page.keyboard.press("Enter")]);
    await tabTo((f) => f.id === "zone", "the zone list");
    // A closed list goes to the option whose words start with what is typed.
    await page.keyboard.type("Tokyo");
    t.is(await page.locator("#zone").inputValue(), "Asia/Tokyo");
    await tabTo((f) => f.name === 'button "Use this time zone"', "the button");
    await Promise.all([page.waitForURL(`${app.url}/jobs/${job}`), page.keyboard.press("Enter")]);
    t.regex(await page.locator(".facts .exact").first().innerText(), / GMT\+9\)$/);
    t.is(await page.locator(".zone-line").innerText(), "Times are shown in Asia/Tokyo. Change the time zone");
    const after = await page.locator("time").evaluateAll((els) => els.map((el) => el.getAttribute("datetime")));
    t.deepEqual(after, before, "the datetimes stay in UTC");
    t.true(after.every((d) => d?.endsWith("Z")));
  });
});

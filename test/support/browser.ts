// What the browser tests share: Debian's Chromium through playwright-core,
// axe-core, and the checks every page goes through (no sideways scrolling,
// visible focus, no motion, no CSP violations or console errors).
import fs from "node:fs";
import path from "node:path";
import type { TestFn } from "ava";
import axe from "axe-core";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";
import { fileScoped } from "./scope.ts";
import { takeTurn } from "./turns.ts";

/**
 * Debian's headless shell (package chromium-headless-shell: the same Blink,
 * without the browser's UI, as Playwright's own headless Chromium), else the
 * whole Chromium run headless, which spawns more processes and costs more
 * CPU (a launch and ten axe runs: 4.6 s against the shell's 2.8 s).
 */
export const CHROMIUM = ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"].find((p) => fs.existsSync(p)) ?? "/usr/bin/chromium";

export const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** WCAG 2.0, 2.1 and 2.2, levels A and AA. */
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

export const SCREENSHOT_DIR = path.resolve("test-results", "screenshots");

/**
 * Registers a file's tests only when Chromium is installed. Without it, one
 * skipped test says why; under CI=true a missing browser is a failure.
 */
export function whenBrowser(test: TestFn, register: () => void): void {
  if (fs.existsSync(CHROMIUM)) {
    register();
    return;
  }
  const reason = `browser tests skipped: ${CHROMIUM} is not installed (apt-get install chromium-headless-shell)`;
  if (process.env.CI === "true") {
    test(`${reason}, and CI requires them`, (t) => t.fail(`${CHROMIUM} is missing`));
  } else {
    test.skip(reason, () => {});
  }
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 });
}

/**
 * Collects CSP violations (from an init script listening for
 * securitypolicyviolation in every document of a context) and console errors.
 * A document that is an error page on purpose (404, 422, 503) makes Chromium
 * log "Failed to load resource" for that document; that one message is not
 * counted (the tests check the status themselves).
 */
export class ProblemWatch {
  readonly cspViolations: string[] = [];
  private readonly errors: { text: string; url: string }[] = [];
  /** Documents answered with an error status: the test checks that status itself. */
  private readonly errorDocuments = new Set<string>();

  static async on(context: BrowserContext): Promise<ProblemWatch> {
    const watch = new ProblemWatch();
    await context.exposeFunction("__reportCspViolation", (text: string) => watch.cspViolations.push(text));
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        (window as unknown as { __reportCspViolation(text: string): void }).__reportCspViolation(
          `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`,
        );
      });
    });
    context.on("response", (response) => {
      if (response.request().isNavigationRequest() && response.status() >= 400) watch.errorDocuments.add(response.url());
    });
    const onConsole = (message: ConsoleMessage) => {
      if (message.type() === "error") watch.errors.push({ text: message.text(), url: message.location().url });
    };
    context.on("page", (page) => page.on("console", onConsole));
    for (const page of context.pages()) page.on("console", onConsole);
    return watch;
  }

  /** Forgets what was seen so far: for a page that goes on to another document. */
  clear(): void {
    this.cspViolations.length = 0;
    this.errors.length = 0;
  }

  /** Console errors, except Chromium's note that a document it was sent to on purpose answered 4xx/5xx. */
  get consoleErrors(): string[] {
    return this.errors
      .filter(
        (e) =>
          !(/^Failed to load resource: the server responded with a status of [45]\d\d\b/.test(e.text) && this.errorDocuments.has(e.url)),
      )
      .map((e) => `${e.text} (${e.url})`);
  }
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Runs axe-core in the page (injected through the DevTools protocol, which the page's CSP does not govern). */
export async function runAxe(page: Page, rules?: string[]): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === "object");
  if (!loaded) await page.evaluate(axe.source);
  return page.evaluate(
    async ({ tags, rules }) => {
      const a = (window as unknown as { axe: typeof import("axe-core") }).axe;
      const result = await a.run(document, {
        runOnly: rules ? { type: "rule", values: rules } : { type: "tag", values: tags },
        resultTypes: ["violations"],
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact ?? null,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(" ")),
      }));
    },
    { tags: AXE_TAGS, rules },
  );
}

export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(", ")}`).join("\n");
}

/** How far the page scrolls sideways, and which elements stick out. */
export async function sidewaysOverflow(page: Page): Promise<{ overflow: number; culprits: string[] }> {
  return page.evaluate(() => {
    const root = document.scrollingElement ?? document.documentElement;
    const width = root.clientWidth;
    const culprits: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const rect = el.getBoundingClientRect();
      if (rect.width > 0 && rect.right > width + 1) {
        culprits.push(
          `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className && typeof el.className === "string" ? `.${el.className.split(" ").join(".")}` : ""} (right ${Math.round(rect.right)} > ${width})`,
        );
      }
    }
    return { overflow: root.scrollWidth - width, culprits: culprits.slice(0, 5) };
  });
}

/** The focused element, described, and whether its focus indicator is visible. */
export async function focusedElement(page: Page): Promise<{ name: string; id: string; visible: boolean; inStatus: boolean }> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return { name: "body", id: "", visible: false, inStatus: false };
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow !== "none";
    const text = (el.getAttribute("aria-label") || el.textContent || (el as HTMLInputElement).name || "")
      .trim()
      .replace(/\s+/g, " ")
      .slice(0, 40);
    return {
      name: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} "${text}"`,
      id: el.id,
      visible: outline || shadow,
      inStatus: Boolean(el.closest("#job-status")),
    };
  });
}

/**
 * Presses Tab until focus comes back to where it started (or leaves the page),
 * and returns every element it stopped on. Fails if it never gets back: that
 * would be a trap.
 */
export async function tabThrough(page: Page, max = 40): Promise<{ name: string; visible: boolean }[]> {
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.getSelection()?.removeAllRanges();
  });
  const stops: { name: string; visible: boolean }[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await focusedElement(page);
    if (focused.name === "body" || (stops.length > 0 && focused.name === stops[0]!.name)) return stops;
    stops.push({ name: focused.name, visible: focused.visible });
  }
  throw new Error(
    `focus did not leave the page or come back to the start after ${max} presses of Tab: ${stops.map((s) => s.name).join(" → ")}`,
  );
}

/** Motion the page runs with prefers-reduced-motion: reduce (running animations, transitions longer than 10 ms). */
export async function motion(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = document
      .getAnimations()
      .map((a) => `animation on ${(a.effect as KeyframeEffect | null)?.target?.nodeName ?? "?"}`);
    for (const el of Array.from(document.querySelectorAll("*"))) {
      const style = getComputedStyle(el);
      const longest = Math.max(...style.transitionDuration.split(",").map((d) => parseFloat(d) * (d.trim().endsWith("ms") ? 1 : 1000)));
      if (longest > 10 && style.transitionProperty !== "none")
        found.push(`transition ${style.transitionProperty} on ${el.tagName.toLowerCase()}`);
      if (style.animationName !== "none") found.push(`animation ${style.animationName} on ${el.tagName.toLowerCase()}`);
    }
    return found;
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true, animations: "disabled" });
}

/**
 * One Chromium for the tests of a file, launched before the first and closed
 * after the last; one file's at a time in a run (see turns.ts).
 */
export function useBrowser(test: TestFn): Browser {
  const giveBack = new WeakMap<Browser, () => void>();
  return fileScoped(
    test,
    "the file's Chromium",
    async () => {
      const done = await takeTurn("chromium");
      try {
        const browser = await launchBrowser();
        giveBack.set(browser, done);
        return browser;
      } catch (err) {
        done();
        throw err;
      }
    },
    async (browser) => {
      try {
        await browser.close();
      } finally {
        giveBack.get(browser)?.();
      }
    },
  );
}

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { ConfigError, loadConfig } from "../../server/config.ts";
import { TEMPLATES_DIR } from "../../server/paths.ts";
import { useRedis } from "../support/redis.ts";
import { startApp } from "../support/app.ts";

const redis = useRedis(test);

test("the site's name, tagline and footer are the deployment's, as plain text, on every page", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "site",
    env: { SITE_NAME: "Lab <Tools>", SITE_TAGLINE: "Run the lab's tools", SITE_FOOTER: "Questions: ask the lab & co." },
  });
  for (const path of ["/", "/jobs/new/count", `/jobs/${"0".repeat(32)}`]) {
    const html = await (await app.get(path)).text();
    t.regex(html, /<title>[^<]* · Lab &lt;Tools&gt;<\/title>/, `${path}: the title names the site, escaped`);
    t.regex(html, /<a class="brand" href="\/">Lab &lt;Tools&gt;<\/a>/, path);
    t.regex(html, /<span class="tagline">Run the lab&#39;s tools<\/span>/, path);
    t.regex(html, /<p>Questions: ask the lab &amp; co\.<\/p>/, path);
    t.notRegex(html, /sidejob<\/a>|long work, off the request|its progress lives in Redis/, `${path}: none of sidejob's own words`);
  }
});

test('a tagline and a footer of "-" leave them out; the footer keeps the reader\'s time zone', async (t) => {
  const app = await startApp(t, { redis, name: "site-bare", env: { SITE_TAGLINE: "-", SITE_FOOTER: "-" } });
  const html = await (await app.get("/")).text();
  t.regex(html, /<a class="brand" href="\/">sidejob<\/a>/);
  t.notRegex(html, /class="tagline"/);
  t.is(html.match(/<footer[\s\S]*<\/footer>/)?.[0].match(/<p/g)?.length, 1, "no footer line");
  t.regex(html, /<p class="zone-line">Times are shown in UTC\. <a href="\/settings\/time-zone">Change the time zone<\/a><\/p>/);
});

test("TEMPLATES_DIR: a template there replaces the built-in one of the same name; the others stay", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-templates-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const layout = fs.readFileSync(path.join(TEMPLATES_DIR, "layout.eta"), "utf8");
  fs.writeFileSync(path.join(dir, "layout.eta"), layout.replace("<main", '<p class="lab-banner">Lab portal</p>\n  <main'));
  const app = await startApp(t, { redis, name: "site-templates", env: { TEMPLATES_DIR: dir } });
  const home = await (await app.get("/")).text();
  t.regex(home, /<p class="lab-banner">Lab portal<\/p>/, "the layout is the deployment's");
  t.regex(home, /<form[^>]*action="\/count"/, "the page itself is the built-in one");
});

test("TEMPLATES_DIR naming no folder stops the start with its name", (t) => {
  const problems = t.throws(() => loadConfig({ TEMPLATES_DIR: "/nonexistent/templates" }), { instanceOf: ConfigError }).problems;
  t.deepEqual(problems, ['TEMPLATES_DIR="/nonexistent/templates": no folder at /nonexistent/templates']);
});

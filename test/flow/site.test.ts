import test from "ava";
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

test('a tagline and a footer of "-" leave them out', async (t) => {
  const app = await startApp(t, { redis, name: "site-bare", env: { SITE_TAGLINE: "-", SITE_FOOTER: "-" } });
  const html = await (await app.get("/")).text();
  t.regex(html, /<a class="brand" href="\/">sidejob<\/a>/);
  t.notRegex(html, /class="tagline"/);
  t.notRegex(html, /<footer/);
});

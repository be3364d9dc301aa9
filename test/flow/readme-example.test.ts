// The TypeScript example of docs/job-types.md is the fixture type wordcount
// (test/fixtures/types/), byte for byte, and it runs under the runner as
// that page says; so does the fixture hash, a shell program's declaration in
// TypeScript. (The job.json examples: test/flow/example-types.test.ts.)
import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { launchApp, WITH_FIXTURE_TYPES } from "../support/app.ts";
import { ROOT } from "../../server/paths.ts";
import { JOB_TYPES as FIXTURE_TYPES } from "../fixtures/types/index.ts";
import { validateJobType } from "../../jobs/core/job-type.ts";
import { checkFields } from "../../jobs/core/fields.ts";

const fileRedis = { redis: useRedis(test) };

/** The example files of docs/job-types.md: the fenced block after each `<!-- example: <file> -->`. */
function readmeExamples(): Map<string, string> {
  const readme = fs.readFileSync(path.join(ROOT, "docs", "job-types.md"), "utf8");
  const found = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- example: ([\w.-]+) -->\n```\w*\n([\s\S]*?)^```$/gm)) found.set(m[1]!, m[2]!);
  return found;
}

test("the example program and type module of docs/job-types.md are the fixtures, byte for byte", (t) => {
  const examples = readmeExamples();
  t.deepEqual([...examples.keys()].sort(), ["wordcount.py", "wordcount.ts"]);
  for (const [file, text] of examples) {
    t.is(text, fs.readFileSync(path.join(ROOT, "test/fixtures/types", file), "utf8"), `${file} differs from docs/job-types.md`);
  }
});

test("the Python example of docs/job-types.md and the shell fixture hash run as job types declared in TypeScript and record their results, logs and files", async (t) => {
  const app = await launchApp({
    redis: fileRedis.redis,
    name: "readme",
    ...WITH_FIXTURE_TYPES,
  });
  t.teardown(() => app.close());
  const submit = async (name: string, input: Record<string, string>) => {
    const type = FIXTURE_TYPES.find((f) => f.name === name)!;
    validateJobType(type);
    const checked = checkFields(type.fields, input);
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const id = await app.store.create({ type: name, params: checked.params, total: 0, queueMax: 100 });
    await app.supervisor.pump();
    return id;
  };
  const words = await submit("wordcount", { text: "the cat and the dog\nthe end" });
  const hashed = await submit("hash", { text: "hello" });
  const w = await app.waitForState(words, ["succeeded", "failed"], 15_000);
  const h = await app.waitForState(hashed, ["succeeded", "failed"], 15_000);
  await app.supervisor.idle();
  t.is(w.state, "succeeded", JSON.stringify(w));
  t.is(w.done, 2);
  t.is(w.total, 2);
  t.deepEqual(w.results[0], { word: "the", count: 3 });
  t.is((await app.store.readFile(words, "counts.csv"))?.toString().split("\n")[0], "the,3");
  // Results that are records: a table on the page, and columns in the CSV download.
  const page = await (await app.get(`/jobs/${words}`)).text();
  t.regex(page, /<tr><th scope="col">#<\/th><th scope="col">word<\/th><th scope="col">count<\/th><\/tr>/, "a column per key");
  t.regex(page, /<tr><td class="num">1<\/td><td>the<\/td><td class="num">3<\/td><\/tr>/);
  const csv = (await (await app.get(`/jobs/${words}/result.csv`)).text()).split("\r\n");
  t.deepEqual(csv.slice(0, 2), ["index,word,count", "1,the,3"]);
  t.true((await app.store.readLog(words)).includes("7 words, 5 different"));
  t.is(h.state, "succeeded", JSON.stringify(h));
  const digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  t.deepEqual(h.results, [digest]);
  t.is((await app.store.readFile(hashed, "sha256.txt"))?.toString(), `${digest}\n`);
  t.true((await app.store.readLog(hashed)).includes(`digest: ${digest}`));
});

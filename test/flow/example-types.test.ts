// The example job types of docs/examples/types/ (job.json and a Python, an R
// and a shell program), loaded from JOB_TYPES_DIR as a deployment loads them
// and run under the built runner: each form posted with its upload as a
// browser does, each job's results, output file, log and page title. And
// the job.json and programs docs/job-types.md shows are these files, byte
// for byte, so the page cannot drift from what runs.
import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { useApp, type TestApp } from "../support/app.ts";
import { ROOT } from "../../server/paths.ts";
import { MANIFEST_SCHEMA_PATH } from "../../jobs/core/manifest.ts";

const redis = useRedis(test);
const EXAMPLES_DIR = path.join(ROOT, "docs", "examples", "types");
/** The examples start Python and R: generous on a loaded machine. */
const JOB_TIMEOUT = 30_000;

/** One app for the file: each test's jobs are its own. */
const a = useApp(test, { redis, name: "example-types", env: { JOB_TYPES_DIR: EXAMPLES_DIR } });

/** Posts a type's form as a browser does (multipart, the file and the other fields); the new job's id. */
async function postForm(a: TestApp, type: string, file: { name: string; type: string; content: string }, fields: Record<string, string>) {
  const form = new FormData();
  form.set("file", new Blob([file.content], { type: file.type }), file.name);
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  const res = await fetch(`${a.url}/jobs/new/${type}`, { method: "POST", body: form, redirect: "manual" });
  if (res.status !== 303) throw new Error(`the ${type} form answered ${res.status}: ${await res.text()}`);
  return res.headers.get("location")!.split("/").pop()!;
}

async function ended(a: TestApp, id: string) {
  const job = await a.waitForState(id, ["succeeded", "failed", "cancelled"], JOB_TIMEOUT);
  await a.supervisor.idle();
  return job;
}

const pageTitle = async (a: TestApp, id: string) => /<title>(.*?) · /.exec(await (await a.get(`/jobs/${id}`)).text())?.[1];

/** The fenced blocks of docs/job-types.md after `<!-- example: <type>/<file> -->`. */
function documentedFiles(): Map<string, string> {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "job-types.md"), "utf8");
  const found = new Map<string, string>();
  for (const m of doc.matchAll(/<!-- example: ([\w-]+\/[\w.-]+) -->\n```\w*\n([\s\S]*?)^```$/gm)) found.set(m[1]!, m[2]!);
  return found;
}

test("docs/job-types.md shows each example's job.json and program byte for byte", (t) => {
  const shown = documentedFiles();
  const files = fs
    .readdirSync(EXAMPLES_DIR, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(EXAMPLES_DIR, path.join(e.parentPath, e.name)))
    .sort();
  t.deepEqual([...shown.keys()].sort(), files, "every file of docs/examples/types is shown, and nothing else");
  for (const [file, text] of shown) {
    t.is(
      text,
      fs.readFileSync(path.join(EXAMPLES_DIR, file), "utf8"),
      `${file} differs from docs/job-types.md: copy the file into the page`,
    );
  }
});

test("the Python example counts the lines of an upload: progress, records, counts.csv, a title from its template", async (t) => {
  const text = "apple\npear\napple\nfig\napple\npear\n";
  const id = await postForm(a, "line-stats", { name: "fruit.txt", type: "text/plain", content: text }, { top: "2" });
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.done, 6);
  t.is(job.total, 6);
  t.deepEqual(job.results, [
    { line: "apple", count: 3, share: 0.5 },
    { line: "pear", count: 2, share: 0.3333 },
  ]);
  t.is((await a.store.readFile(id, "counts.csv"))?.toString(), "line,count\r\napple,3\r\npear,2\r\nfig,1\r\n");
  t.true((await a.store.readLog(id)).includes("6 lines, 3 different"));
  t.is(await pageTitle(a, id), "Line stats of fruit.txt, top 2");
  const page = await (await a.get(`/jobs/${id}`)).text();
  t.true(page.includes("Finished: 6 lines read."), "the unit and words.done");
  // Records: a table, a column per key.
  t.regex(page, /<th scope="col">line<\/th><th scope="col">count<\/th><th scope="col">share<\/th>/);
});

test("the R example summarises a column of an uploaded CSV: a statistic per result and summary.csv", async (t) => {
  const csv = "site,depth\nA,1.5\nB,2.5\nC,\nD,4\nE,2\n";
  const id = await postForm(a, "column-summary", { name: "cores.csv", type: "text/csv", content: csv }, { column: "depth" });
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.done, 2);
  t.is(job.total, 2);
  const stats = Object.fromEntries((job.results as { statistic: string; value: number }[]).map((r) => [r.statistic, r.value]));
  t.like(stats, { count: 4, missing: 1, mean: 2.5, min: 1.5, median: 2.25, max: 4 });
  t.true(Math.abs(stats.sd! - 1.0801234497346435) < 1e-12);
  const summary = (await a.store.readFile(id, "summary.csv"))?.toString().split("\n");
  t.deepEqual(summary?.slice(0, 3), ['"statistic","value"', '"count",4', '"missing",1']);
  t.is(await pageTitle(a, id), "Summary of depth in cores.csv");
});

test("the R example fails with its own message when the column is not in the file", async (t) => {
  const id = await postForm(
    a,
    "column-summary",
    { name: "cores.csv", type: "text/csv", content: "site,depth\nA,1\n" },
    { column: "width" },
  );
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.error, "There is no column width; the columns are site, depth.");
  t.deepEqual(job.results, []);
});

test("the shell example counts and checksums an upload with the chosen algorithm, its log public", async (t) => {
  const content = "one two\nthree\n";
  const id = await postForm(a, "checksum", { name: "words.txt", type: "text/plain", content }, { algorithm: "md5" });
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const md5 = "632ba7f582647e0ad5b5d6efb8474ccd";
  t.deepEqual(job.results, [{ lines: 2, words: 3, bytes: 14, algorithm: "md5", digest: md5 }]);
  t.is((await a.store.readFile(id, "md5.txt"))?.toString(), `${md5}\n`);
  t.true((await a.store.readLog(id)).includes(`md5 ${md5}`));
  t.is(await pageTitle(a, id), "Count and md5 of words.txt");
  const json = (await (await a.get(`/jobs/${id}`, { Accept: "application/json" })).json()) as { logUrl: string | null };
  t.is(json.logUrl, `/jobs/${id}/log`, "publicLog: anyone who sees the job has its log");
});

test("the app serves the job.json schema the examples point their editors at", async (t) => {
  const res = await a.get(MANIFEST_SCHEMA_PATH);
  t.is(res.status, 200);
  t.is(res.headers.get("content-type")?.split(";")[0], "application/schema+json");
  t.deepEqual(await res.json(), JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "job.schema.json"), "utf8")));
});

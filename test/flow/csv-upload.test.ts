// Checking an uploaded CSV file through the app: the form posted as
// multipart/form-data, the upload stored in Redis (server/uploads.ts), the
// refusals (413, 422) that keep nothing, and the job end to end: 303, the
// report, the downloads, cancel, and a file that cannot be checked.
import test, { type ExecutionContext } from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

async function app(t: ExecutionContext, env: Record<string, string> = {}): Promise<TestApp> {
  return startApp(t, { redis, name: "csv-upload", env });
}

interface Upload {
  name: string;
  content: string | Buffer;
}

/** Sends the csv-check form as a browser does, with a file or without one (an empty part, no name). */
function postCsv(
  a: TestApp,
  file: Upload | null,
  fields: Record<string, string> = { delimiter: "detect", header: "true" },
): Promise<Response> {
  const form = new FormData();
  const content = typeof file?.content === "string" ? file.content : new Uint8Array(file?.content ?? []);
  form.set("file", new Blob([content], { type: file ? "text/csv" : "application/octet-stream" }), file ? file.name : "");
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  return fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
}

async function submitted(a: TestApp, file: Upload, fields?: Record<string, string>): Promise<string> {
  const res = await postCsv(a, file, fields);
  if (res.status !== 303) throw new Error(`the form answered ${res.status}: ${await res.text()}`);
  return res.headers.get("location")!.split("/").pop()!;
}

/** Nothing of a refused form is left: no upload, no job, nothing queued. */
async function nothingKept(t: ExecutionContext, a: TestApp): Promise<void> {
  const keys = await keysUnder(redis.client, a.prefix);
  t.deepEqual(
    keys.filter((k) => k.includes(":upload:") || k.includes(":job:")),
    [],
  );
  t.is(await a.store.queueLength(), 0);
}

test("a file over JOB_UPLOAD_MAX_BYTES is refused with 413 and a page that says the limit, and nothing is kept", async (t) => {
  const a = await app(t, { JOB_UPLOAD_MAX_BYTES: String(1024 * 1024) });
  const big = "id,value\n" + "1,some text that fills the file\n".repeat(50_000);
  const res = await postCsv(a, { name: "big.csv", content: big });
  t.is(res.status, 413);
  const page = await res.text();
  t.regex(page, /The file is larger than the limit of 1 MB\./);
  t.regex(page, /Nothing was kept/);
  await nothingKept(t, a);
});

const refused: [string, Upload | null, RegExp][] = [
  ["no file", null, /Choose the CSV file/],
  ["an empty file", { name: "empty.csv", content: "" }, /The file empty\.csv is empty\./],
  [
    "a file with NUL bytes",
    { name: "sheet.xlsx", content: Buffer.from("PK\x03\x04\0\0\0binary") },
    /The file sheet\.xlsx is not a text file \(it holds NUL bytes\)/,
  ],
  [
    "a file that is not UTF-8",
    { name: "latin1.csv", content: Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x0a]) },
    /The file latin1\.csv is not UTF-8 text/,
  ],
];
for (const [what, file, message] of refused) {
  test(`${what} is refused with 422: the form again with its message and the other choices kept, and nothing kept`, async (t) => {
    const a = await app(t);
    const res = await postCsv(a, file, { delimiter: "semicolon" });
    t.is(res.status, 422);
    const page = await res.text();
    t.regex(page, message);
    t.regex(page, /<option value="semicolon" selected>/, "the delimiter chosen is still chosen");
    t.notRegex(page, /id="header"[^>]*checked/, "the header box left unticked stays unticked");
    t.regex(page, /enctype="multipart\/form-data"/);
    await nothingKept(t, a);
  });
}

test("the upload's file name is only shown, escaped, and never used as a path", async (t) => {
  const a = await app(t);
  const name = `<img src=x onerror=alert(1)>.csv`;
  const id = await submitted(a, { name, content: "a,b\n1,2\n" });
  const job = await a.waitForState(id, ["succeeded", "failed"], 40_000);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.deepEqual(job.params.file, { name, size: 8 });
  const page = await (await a.get(`/jobs/${id}`)).text();
  t.true(page.includes("&lt;img src=x onerror=alert(1)&gt;.csv"));
  t.false(page.includes("<img src=x"));

  const empty = await postCsv(a, { name: `C:\\Users\\me\\<b>.csv`, content: "" });
  const refusal = await empty.text();
  t.true(refusal.includes("The file &lt;b&gt;.csv is empty."), "a path sent as the name is cut to its last part");
});

test("a CSV file goes from the form to a report: 303, the summary, the columns, the problems worst first, and the downloads", async (t) => {
  const a = await app(t);
  const csv = 'id,name,amount\r\n1,Ann,3.5\r\n2, Bob,x\r\n3,Cy\r\n4,Di,4\r\n5,"=HYPERLINK(""http://e.example"")",-2\r\n';
  const id = await submitted(a, { name: "people.csv", content: csv });
  const job = await a.waitForState(id, ["succeeded", "failed"], 40_000);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.status, "Checked all 5 rows");

  const page = await (await a.get(`/jobs/${id}`)).text();
  t.regex(page, /<h1>Check people\.csv<\/h1>/);
  t.regex(page, /5 rows and 3 columns: 3 problems found\./);
  t.regex(page, /<dt>Delimiter<\/dt><dd>comma \(detected\)<\/dd>/);
  t.regex(page, /<dt>Line endings<\/dt><dd>CRLF \(Windows\)<\/dd>/);
  t.regex(page, /<caption id="csv-columns-caption">Columns<\/caption>/);
  t.regex(page, /<th scope="row">amount<\/th>\s*<td>Numbers<\/td>/);
  const problems = [...page.matchAll(/<tr class="severity-(\w+)">\s*<th scope="row" class="num">(\d+)<\/th>/g)].map(
    (m) => `${m[1]}@${m[2]}`,
  );
  t.deepEqual(problems, ["error@4", "warning@3", "warning@3"], "the short row first, then the misfit and the spaces");

  const csvLink = /href="([^"]+\/files\/problems\.csv)" download>every problem \(CSV\)/.exec(page)?.[1];
  const jsonLink = /href="([^"]+\/files\/report\.json)" download>the whole report \(JSON\)/.exec(page)?.[1];
  t.truthy(csvLink);
  t.truthy(jsonLink);
  const problemsCsv = await (await a.get(csvLink!)).text();
  t.is(problemsCsv.split("\r\n")[0], "line,column,column name,severity,problem,value");
  t.true(problemsCsv.includes("3,3,amount,warning,"));
  const report = (await (await a.get(jsonLink!)).json()) as { summary: { rows: number; file: string }; problems: unknown[] };
  t.is(report.summary.rows, 5);
  t.is(report.summary.file, "people.csv");
  t.is(report.problems.length, 3);
});

test("a formula in a cell comes out neutralised in the problems download", async (t) => {
  const a = await app(t);
  const rows = Array.from({ length: 10 }, (_, i) => `${i},a`);
  const id = await submitted(a, { name: "f.csv", content: `n,t\n${rows.join("\n")}\n=HYPERLINK("http://e.example"),b\n@SUM(A1),c\n` });
  await a.waitForState(id, "succeeded", 40_000);
  const problemsCsv = (await a.store.readFile(id, "problems.csv"))!.toString();
  t.true(problemsCsv.includes(`"'=HYPERLINK(""http://e.example"")"`), problemsCsv);
  t.true(problemsCsv.includes(",'@SUM(A1)"));
});

test("a check can be cancelled while it runs: it ends cancelled and its upload is deleted at once", async (t) => {
  const a = await app(t, { JOB_CANCEL_GRACE_MS: "3000" });
  const content = "id,when,amount,note\n" + "12345,2024-01-02,3.25,a note that takes some room in the file\n".repeat(400_000);
  const id = await submitted(a, { name: "long.csv", content });
  await waitFor(async () => (await a.store.read(id))?.status?.startsWith("Checked "), {
    timeout: 30_000,
    message: "the check to report progress",
  });
  const cancel = await a.post(`/jobs/${id}/cancel`, {});
  t.is(cancel.status, 303);
  const job = await a.waitForState(id, ["cancelled", "succeeded", "failed"], 10_000);
  t.is(job.state, "cancelled");
  t.is(await redis.client.exists(`${a.prefix}:{jobs}:job:${id}:upload:file`), 0, "the upload is gone");
});

test("a file that cannot be checked ends failed with the checker's own message in plain words", async (t) => {
  const a = await app(t);
  const id = await submitted(a, { name: "blank.csv", content: "\n\n\r\n" });
  const job = await a.waitForState(id, ["succeeded", "failed"], 40_000);
  t.is(job.state, "failed");
  t.is(job.reason, "job-error");
  t.is(job.error, "The file has no rows: it holds only blank lines.");
  const page = await (await a.get(`/jobs/${id}`)).text();
  t.regex(page, /The file has no rows: it holds only blank lines\./);
});

test("the form is offered as multipart/form-data with a file input that accepts CSV files, and a post without multipart is refused with 415", async (t) => {
  const a = await app(t);
  const page = await (await a.get("/jobs/new/csv-check")).text();
  t.regex(page, /<form class="job-form" method="post" action="\/jobs\/new\/csv-check" novalidate enctype="multipart\/form-data">/);
  t.regex(page, /<input id="file" name="file" type="file" accept="\.csv,\.tsv,\.txt,text\/csv"/);
  const res = await a.post("/jobs/new/csv-check", { delimiter: "comma" });
  t.is(res.status, 415);
  await nothingKept(t, a);
});

// The form of a type with a file field: the size limit shown next to the
// field; a refused upload (422, 413) answered with the form, the other
// answers kept and a line saying the file must be chosen again; the form
// filled in from an ended job ("Start this again") shown without an error,
// offering the job's file again while it is kept (server/kept-uploads.ts).
import test from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import crypto from "node:crypto";
import { startApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";

const redis = useRedis(test);
const LIMIT = { JOB_UPLOAD_MAX_BYTES: String(1024 * 1024) };
const CHOOSE_AGAIN = /<p class="hint" id="file-again">Choose the file again: a browser does not keep it when a form is sent back\.<\/p>/;

/** The csv-check form as a browser sends it: the file first, then the other answers. */
function postCsv(a: TestApp, name: string, content: string): Promise<Response> {
  const form = new FormData();
  form.set("file", new Blob([content], { type: "text/csv" }), name);
  form.set("delimiter", "semicolon");
  form.set("header", "true");
  return fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
}

const leftInRedis = async (a: TestApp) =>
  (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":upload:") || k.includes(":job:"));

test("the form shows the upload size limit next to the file field, and the field names it for screen readers", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-limit", env: LIMIT });
  const page = await (await a.get("/jobs/new/csv-check")).text();
  t.regex(page, /<p class="hint" id="file-limit">At most 1 MB\.<\/p>/);
  t.regex(page, /<input id="file" name="file" type="file" [^>]*aria-describedby="file-hint file-limit"/);
  t.notRegex(page, CHOOSE_AGAIN);
});

test("a refused file (422) answers the form with the other answers kept and a line saying to choose the file again", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-422", env: LIMIT });
  const res = await postCsv(a, "empty.csv", "");
  t.is(res.status, 422);
  const page = await res.text();
  t.regex(page, /The file empty\.csv is empty\./);
  t.regex(page, /<option value="semicolon" selected>/);
  t.regex(page, CHOOSE_AGAIN);
  t.regex(page, /At most 1 MB\./);
  t.deepEqual(await leftInRedis(a), []);
});

test("a file over the limit (413) answers the form with the limit, the answers read before it kept, and a line saying to choose the file again", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-413", env: LIMIT });
  const big = "id,value\n" + "1,some text that fills the file\n".repeat(45_000);
  const res = await postCsv(a, "big.csv", big);
  t.is(res.status, 413);
  const page = await res.text();
  t.regex(page, /<form class="job-form"/);
  t.regex(page, /The file is larger than the limit of 1 MB\. Nothing was kept\./);
  t.regex(page, /<option value="semicolon" selected>/);
  t.regex(page, CHOOSE_AGAIN);
  t.deepEqual(await leftInRedis(a), []);
});

test("the form filled in from an address without its file (Start this again) is shown with no error before it is sent", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-again", env: LIMIT });
  const res = await a.get("/jobs/new/csv-check?delimiter=semicolon&header=true");
  t.is(res.status, 200);
  const page = await res.text();
  t.notRegex(page, /error-summary|Choose the CSV file/);
  t.regex(page, /<option value="semicolon" selected>/);
  t.notRegex(page, CHOOSE_AGAIN);
  const bad = await a.get("/jobs/new/csv-check?delimiter=pipe");
  t.is(bad.status, 400, "a bad value given in the address is still an error");
  t.notRegex(await bad.text(), /Choose the CSV file/);
});

/** A py-input job (the fixture that reports the sha256 of its file) sent through the form; its id. */
async function postInput(a: TestApp, content: Buffer | null, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  if (content) form.set("data", new Blob([new Uint8Array(content)]), "first.bin");
  return fetch(`${a.url}/jobs/new/py-input`, { method: "POST", body: form, redirect: "manual" });
}

async function uploadOf(a: TestApp, id: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of a.store.readUpload(id, "data")) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const REUSE =
  /<input id="data-reuse" name="data-reuse" type="checkbox" value="([0-9a-f]+)" checked>\s*<label for="data-reuse">Use the same file again: first\.bin \(97\.7 kB\)\. A file chosen below is used instead\.<\/label>/;

test("Start this again on a failed job whose file is kept offers the same file, ticked; sent without a file, the new job gets those bytes", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-reuse", takesJobs: false, ...WITH_FIXTURE_TYPES });
  const content = crypto.randomBytes(100_000);
  const first = await postInput(a, content);
  t.is(first.status, 303);
  const id = first.headers.get("location")!.split("/").pop()!;
  await a.store.finish(id, "failed", "force", { reason: "job-error", error: "a problem" });
  t.is((await a.store.read(id))!.state, "failed");

  const page = await (await a.get(`/jobs/${id}`)).text();
  const again = /<a href="([^"]+)">Start this again<\/a>/.exec(page)?.[1]?.replaceAll("&amp;", "&");
  t.is(again, `/jobs/new/py-input?from=${id}`);
  const form = await a.get(again!);
  t.is(form.status, 200);
  const html = await form.text();
  t.is(REUSE.exec(html)?.[1], id, html);

  const second = await postInput(a, null, { "data-reuse": id });
  t.is(second.status, 303, await second.clone().text());
  const newId = second.headers.get("location")!.split("/").pop()!;
  t.not(newId, id);
  const copied = await uploadOf(a, newId);
  t.true(copied.equals(content), "the new job's upload is the same bytes");
  t.like((await a.store.read(newId))!.params, { data: { name: "first.bin", size: 100_000 } });

  // A file chosen as well wins over the kept one.
  const other = crypto.randomBytes(5_000);
  const third = await postInput(a, other, { "data-reuse": id });
  t.is(third.status, 303);
  const thirdId = third.headers.get("location")!.split("/").pop()!;
  t.true((await uploadOf(a, thirdId)).equals(other));
});

test("a kept file asked for once it is gone answers 422 saying to choose the file, and nothing is created", async (t) => {
  const a = await startApp(t, { redis, name: "file-form-reuse-gone", takesJobs: false, ...WITH_FIXTURE_TYPES });
  const first = await postInput(a, crypto.randomBytes(100_000));
  const id = first.headers.get("location")!.split("/").pop()!;
  await a.store.finish(id, "failed", "force", { reason: "job-error", error: "a problem" });
  // Its retention ran out: the upload is gone, the record not yet.
  await a.store.deleteUploads(id, ["data"]);
  t.notRegex(await (await a.get(`/jobs/new/py-input?from=${id}`)).text(), REUSE);
  const res = await postInput(a, null, { "data-reuse": id });
  t.is(res.status, 422);
  t.regex(await res.text(), /The file of the earlier job is no longer kept\. Choose the file\./);
  t.deepEqual(
    (await leftInRedis(a)).filter((k) => !k.includes(id)),
    [],
  );
});

// The form of a type with a file field: the size limit shown next to the
// field; a refused upload (422, 413) answered with the form, the other
// answers kept and a line saying the file must be chosen again; and the form
// filled in from an ended job ("Start this again") shown without an error.
import test from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import { startApp, type TestApp } from "../support/app.ts";

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

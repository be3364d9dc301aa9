// What a file field takes: any bytes (binary, compressed) unless it declares
// `text`, as csv-check does; such a field refuses a file that is not text, in
// its type's own words, and keeps nothing. Real files: a gzip made here.
import crypto from "node:crypto";
import zlib from "node:zlib";
import test, { type ExecutionContext } from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import { startApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { waitForState } from "../support/http.ts";

const redis = useRedis(test);

/** A table of 2,000 rows, gzipped: a .csv.gz as a research portal takes. */
const table = "id,sample,depth\n" + Array.from({ length: 2000 }, (_, i) => `${i},S${i % 17},${(i * 0.37).toFixed(2)}`).join("\n") + "\n";
const gzip = zlib.gzipSync(table);

function postFile(a: TestApp, type: string, field: string, name: string, content: Buffer, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.set(field, new Blob([new Uint8Array(content)], { type: "application/gzip" }), name);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return fetch(`${a.url}/jobs/new/${type}`, { method: "POST", body: form, redirect: "manual" });
}

async function nothingKept(t: ExecutionContext, a: TestApp): Promise<void> {
  const keys = await keysUnder(redis.client, a.prefix);
  t.deepEqual(
    keys.filter((k) => k.includes(":upload:") || k.includes(":job:")),
    [],
  );
}

test("a gzip file is taken by a type whose file field does not declare text, and its program reads it byte for byte", async (t) => {
  t.true(gzip.includes(0), "the gzip holds NUL bytes");
  const a = await startApp(t, { redis, name: "file-gzip", ...WITH_FIXTURE_TYPES });
  const res = await postFile(a, "py-input", "data", "samples.csv.gz", gzip);
  t.is(res.status, 303, await res.clone().text());
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await waitForState(a.store, id, "succeeded");
  t.like(job.results[0], { sha256: crypto.createHash("sha256").update(gzip).digest("hex"), size: gzip.length });
});

test("a gzip file is refused with 422 by csv-check, whose field declares text, in its own words, and nothing is kept", async (t) => {
  const a = await startApp(t, { redis, name: "file-gzip-csv" });
  const res = await postFile(a, "csv-check", "file", "samples.csv.gz", gzip, { delimiter: "semicolon", header: "true" });
  t.is(res.status, 422);
  const page = await res.text();
  t.regex(page, /The file samples\.csv\.gz is not a text file \(it holds NUL bytes\)\. Upload the CSV file itself\./);
  t.regex(page, /<option value="semicolon" selected>/);
  await nothingKept(t, a);
});

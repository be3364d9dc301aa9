// A job's downloads as a client that resumes them sees them: an output file
// and the log with their Content-Length, in parts (Range, 206, 416), with an
// ETag once the job has ended (304, If-Range); every result as JSON and CSV,
// read from Redis a page at a time and sent while it is read, and resumed in
// ranges; and, for the operator only, the file a job was given.
import crypto from "node:crypto";
import http from "node:http";
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { startApp, useApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { monitorRedis } from "../support/monitor.ts";
import { newJobId } from "../../jobs/core/store.ts";
import { neutralisedCsv } from "../../server/csv.ts";

const redis = useRedis(test);
const PASSWORD = "correct horse battery";
/** What one job may keep of results: the flood job stops there, with about 12,000 results of 1 kB. */
const RESULTS_CAP = 12 * 1024 * 1024;
const app = useApp(test, {
  redis,
  name: "downloads",
  env: { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "s".repeat(40), SHOW_JOB_INTERNALS: "true", JOB_RESULTS_MAX_BYTES: String(RESULTS_CAP) },
  ...WITH_FIXTURE_TYPES,
});

/** 2.5 MB and a few bytes of every value: several chunks of the store's reads, a last one shorter. */
const CONTENT = crypto.randomBytes(2_500_017);

async function ended(a: TestApp, id: string) {
  await a.waitForState(id, ["succeeded", "failed", "cancelled"], 30_000);
  await a.supervisor.idle();
  return (await a.store.read(id, "all"))!;
}

/** A job of a type with a file field `data`, created with content as its upload; its id. */
async function withUpload(a: TestApp, type: string, content: Buffer, params: Record<string, unknown>): Promise<string> {
  const id = newJobId();
  for (let at = 0; at < content.length; at += 300_001) await a.store.appendUpload(id, "data", content.subarray(at, at + 300_001));
  await a.store.create({ id, uploads: ["data"], type, params, total: 0, queueMax: 100 });
  return id;
}

/** A py-echo job given content as its upload (field data), ended; its record. */
async function echoed(a: TestApp, content: Buffer, name: string) {
  const id = await withUpload(a, "py-echo", content, { data: { name, size: content.length } });
  await a.supervisor.pump();
  return ended(a, id);
}

let echoJob: Promise<string> | undefined;
function echo(): Promise<string> {
  echoJob ??= (async () => {
    const job = await echoed(app, CONTENT, "in put.bin");
    if (job.state !== "succeeded") throw new Error(`the echo job ended ${job.state}: ${JSON.stringify(job)}`);
    return job.id;
  })();
  return echoJob;
}

const bytesOf = async (res: Response) => Buffer.from(await res.arrayBuffer());

test.serial(
  "an output file downloads whole with its Content-Length, and in ranges whose 206 bodies, put together, are it byte for byte",
  async (t) => {
    const id = await echo();
    const url = `/jobs/${id}/files/echo.bin`;
    const whole = await app.get(url);
    t.is(whole.status, 200);
    t.is(whole.headers.get("content-length"), String(CONTENT.length));
    t.is(whole.headers.get("accept-ranges"), "bytes");
    t.is(whole.headers.get("content-type"), "application/octet-stream");
    t.true(CONTENT.equals(await bytesOf(whole)), "the whole file, byte for byte");

    const size = CONTENT.length;
    const parts: Buffer[] = [];
    for (const [range, first, last] of [
      ["bytes=0-999999", 0, 999_999],
      ["bytes=1000000-2100000", 1_000_000, 2_100_000],
      ["bytes=2100001-", 2_100_001, size - 1],
    ] as const) {
      const res = await app.get(url, { Range: range });
      t.is(res.status, 206, range);
      t.is(res.headers.get("content-range"), `bytes ${first}-${last}/${size}`, range);
      t.is(res.headers.get("content-length"), String(last - first + 1), range);
      parts.push(await bytesOf(res));
    }
    t.true(CONTENT.equals(Buffer.concat(parts)), "the parts put together are the file");

    const tail = await app.get(url, { Range: "bytes=-17" });
    t.is(tail.status, 206);
    t.is(tail.headers.get("content-range"), `bytes ${size - 17}-${size - 1}/${size}`);
    t.true(CONTENT.subarray(size - 17).equals(await bytesOf(tail)), "the last 17 bytes");
    const past = await app.get(url, { Range: `bytes=${size - 5}-${size + 1000}` });
    t.is(past.headers.get("content-range"), `bytes ${size - 5}-${size - 1}/${size}`, "a range past the end is cut at it");
    t.true(CONTENT.subarray(size - 5).equals(await bytesOf(past)));
  },
);

test.serial(
  "a CSV output file downloads neutralised, a chunk at a time, with the neutralised Content-Length, and its ranges put together are it",
  async (t) => {
    const id = await echo();
    const url = `/jobs/${id}/files/echo.csv`;
    // Random bytes hold many cells that start like a formula: the neutralised file is longer.
    const expected = neutralisedCsv(CONTENT);
    t.true(expected.length > CONTENT.length);
    const whole = await app.get(url);
    t.is(whole.status, 200);
    t.is(whole.headers.get("content-type"), "text/csv; charset=utf-8");
    t.is(whole.headers.get("content-length"), String(expected.length));
    t.true(expected.equals(await bytesOf(whole)), "the rule's file, byte for byte");
    const cut = 1_234_567;
    const first = await app.get(url, { Range: `bytes=0-${cut - 1}` });
    const rest = await app.get(url, { Range: `bytes=${cut}-` });
    t.is(first.status, 206);
    t.is(rest.headers.get("content-range"), `bytes ${cut}-${expected.length - 1}/${expected.length}`);
    t.true(expected.equals(Buffer.concat([await bytesOf(first), await bytesOf(rest)])));
  },
);

test.serial(
  "a range that is not in the file is answered 416 with Content-Range bytes */size; several ranges or an unreadable one get the whole file",
  async (t) => {
    const id = await echo();
    const url = `/jobs/${id}/files/echo.bin`;
    for (const range of [`bytes=${CONTENT.length}-`, `bytes=${CONTENT.length + 10}-${CONTENT.length + 20}`, "bytes=-0"]) {
      const res = await app.get(url, { Range: range, Accept: "application/json" });
      t.is(res.status, 416, range);
      t.is(res.headers.get("content-range"), `bytes */${CONTENT.length}`, range);
      t.like(await res.json(), { error: "range-not-satisfiable" });
    }
    for (const range of ["bytes=0-1,5-6", "bytes=5-2", "lines=1-2", "bytes=x-"]) {
      const res = await app.get(url, { Range: range });
      t.is(res.status, 200, range);
      t.is(res.headers.get("content-length"), String(CONTENT.length), range);
      t.true(CONTENT.equals(await bytesOf(res)), range);
    }
  },
);

test.serial(
  "an ended job's file carries a strong ETag: If-None-Match answers 304, If-Range with it resumes, with another tag the whole file comes",
  async (t) => {
    const id = await echo();
    const url = `/jobs/${id}/files/echo.bin`;
    const first = await app.get(url, { Range: "bytes=0-9" });
    const etag = first.headers.get("etag")!;
    t.regex(etag, /^"[^"]+"$/, "a strong tag");
    await first.arrayBuffer();
    t.is((await app.get(url)).headers.get("etag"), etag, "the same for every answer of the file");

    const cached = await app.get(url, { "If-None-Match": etag });
    t.is(cached.status, 304);
    t.is((await cached.arrayBuffer()).byteLength, 0);

    const resumed = await app.get(url, { Range: "bytes=10-", "If-Range": etag });
    t.is(resumed.status, 206);
    t.true(CONTENT.subarray(10).equals(await bytesOf(resumed)));

    for (const other of ['"another"', `W/${etag}`, "Wed, 21 Oct 2015 07:28:00 GMT"]) {
      const res = await app.get(url, { Range: "bytes=10-", "If-Range": other });
      t.is(res.status, 200, other);
      t.true(CONTENT.equals(await bytesOf(res)), other);
    }
  },
);

test.serial(
  "the log downloads whole with its Content-Length and in ranges, with an ETag once the job has ended; 416 past its end",
  async (t) => {
    const id = await echo();
    const url = `/jobs/${id}/log`;
    const whole = await app.get(url);
    t.is(whole.status, 200);
    const text = await bytesOf(whole);
    t.is(whole.headers.get("content-length"), String(text.length));
    t.regex(text.toString(), /^log line 0 of the echo\n[\s\S]*log line 199 of the echo\n$/);
    const etag = whole.headers.get("etag")!;
    t.truthy(etag);

    const part = await app.get(url, { Range: "bytes=4-13", "If-Range": etag });
    t.is(part.status, 206);
    t.is(await part.text(), text.subarray(4, 14).toString());
    t.is((await app.get(url, { "If-None-Match": etag })).status, 304);
    const past = await app.get(url, { Range: `bytes=${text.length}-` });
    t.is(past.status, 416);
    t.is(past.headers.get("content-range"), `bytes */${text.length}`);
    await past.arrayBuffer();
  },
);

test.serial(
  "the operator downloads a job's input from its admin page, whole and by range, while it is kept; without a session it is refused",
  async (t) => {
    // A job that waits (no runner takes its type): its upload is kept.
    const id = await withUpload(app, "downloads-waiting", CONTENT, { data: { name: "in put.bin", size: CONTENT.length }, word: "w" });
    const url = `/admin/jobs/${id}/input/data`;

    const anonymous = await app.get(url);
    t.is(anonymous.status, 303);
    t.regex(anonymous.headers.get("location") ?? "", /^\/admin\/login\?next=/);
    const refused = await app.get(url, { Accept: "application/json" });
    t.is(refused.status, 401);
    await refused.arrayBuffer();

    const login = await app.post("/admin/login", { password: PASSWORD, next: "/admin" });
    t.is(login.status, 303);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(";")[0]!)
      .join("; ");

    const page = await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie })).text();
    t.true(page.includes(`<a href="${url}" download>in put.bin</a>`), "the admin job page links the input");

    const whole = await app.get(url, { Cookie: cookie });
    t.is(whole.status, 200);
    t.is(whole.headers.get("content-length"), String(CONTENT.length));
    t.is(whole.headers.get("content-type"), "application/octet-stream");
    t.is(whole.headers.get("content-disposition"), 'attachment; filename="in_put.bin"');
    const etag = whole.headers.get("etag")!;
    t.truthy(etag);
    t.true(CONTENT.equals(await bytesOf(whole)), "as it was uploaded, byte for byte");

    const part = await app.get(url, { Cookie: cookie, Range: "bytes=262100-262200", "If-Range": etag });
    t.is(part.status, 206);
    t.is(part.headers.get("content-range"), `bytes 262100-262200/${CONTENT.length}`);
    t.true(CONTENT.subarray(262_100, 262_201).equals(await bytesOf(part)), "a range across two of the store's reads");
    t.is((await app.get(url, { Cookie: cookie, "If-None-Match": etag })).status, 304);
    const past = await app.get(url, { Cookie: cookie, Range: `bytes=${CONTENT.length}-` });
    t.is(past.status, 416);
    await past.arrayBuffer();

    const notFile = await app.get(`/admin/jobs/${id}/input/word`, { Cookie: cookie });
    t.is(notFile.status, 404, "a field that is not a file");
    await notFile.arrayBuffer();

    // A succeeded job's upload is deleted at its end: the page says so, the address answers why.
    const done = await echo();
    const donePage = await (await app.get(`/admin/jobs/${done}`, { Cookie: cookie })).text();
    t.true(donePage.includes("in put.bin (2500017 bytes, no longer kept)"), "no link to an input no longer kept");
    const gone = await app.get(`/admin/jobs/${done}/input/data`, { Cookie: cookie, Accept: "application/json" });
    t.is(gone.status, 404);
    t.regex(((await gone.json()) as { message: string }).message, /no longer kept/);
  },
);

/** GETs a path with node:http, counting the results key's LRANGEs: in all, and when the first byte of the body came. */
async function pagedDownload(a: TestApp, id: string, path: string) {
  const resultsKey = `${a.prefix}:{jobs}:job:${id}:results`;
  const pages: number[] = [];
  const monitor = await monitorRedis(redis.url, (args) => {
    if (args[0]?.toLowerCase() === "lrange" && args[1] === resultsKey) pages.push(Number(args[3]) - Number(args[2]) + 1);
  });
  try {
    return await new Promise<{
      status: number;
      headers: http.IncomingHttpHeaders;
      body: Buffer;
      pagesAtFirstByte: number;
      pages: number[];
    }>((resolve, reject) => {
      http
        .get(`${a.url}${path}`, (res) => {
          const chunks: Buffer[] = [];
          let pagesAtFirstByte = -1;
          res.on("data", (chunk: Buffer) => {
            if (pagesAtFirstByte < 0) pagesAtFirstByte = pages.length;
            chunks.push(chunk);
          });
          res.on("end", () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), pagesAtFirstByte, pages: [...pages] }),
          );
          res.on("error", reject);
        })
        .on("error", reject);
    });
  } finally {
    monitor.close();
  }
}

test.serial(
  "every result of a large job downloads as JSON and as CSV, streamed (chunked) while Redis is read a page at a time",
  async (t) => {
    const a = app;
    const id = await a.store.create({ type: "py-flood", params: {}, total: 0, queueMax: 100 });
    await a.supervisor.pump();
    const job = await ended(a, id);
    t.is(job.reason, "results-limit");
    const count = job.resultCount;
    t.true(count > 10_000, `${count} results`);

    const json = await pagedDownload(a, id, `/jobs/${id}/result.json`);
    t.is(json.status, 200);
    t.is(json.headers["transfer-encoding"], "chunked", "streamed as it is made");
    t.is(json.headers["content-length"], undefined);
    t.truthy(json.headers.etag);
    const parsed = JSON.parse(json.body.toString()) as { results: { i: number }[] };
    t.is(parsed.results.length, count);
    t.deepEqual(
      parsed.results.slice(0, 3).map((r) => r.i),
      [0, 1, 2],
    );
    t.is(parsed.results.at(-1)!.i, count - 1);
    t.true(json.body.length > 10 * 1024 * 1024, `${json.body.length} bytes`);
    t.true(
      json.pages.every((n) => n <= 1000),
      "no read takes more than a page",
    );
    t.true(json.pages.length >= count / 1000, `${json.pages.length} pages`);
    t.true(json.pagesAtFirstByte < json.pages.length / 2, `the body began after ${json.pagesAtFirstByte} of ${json.pages.length} pages`);

    const csv = await pagedDownload(a, id, `/jobs/${id}/result.csv`);
    t.is(csv.status, 200);
    t.is(csv.headers["transfer-encoding"], "chunked");
    const lines = csv.body.toString().split("\r\n");
    t.is(lines[0], "index,i,pad");
    t.is(lines.length, count + 2, "a header, a row per result, and the last line's end");
    t.true(
      csv.pages.every((n) => n <= 1000),
      "no read takes more than a page",
    );
    // The CSV reads the results twice: once for its columns, then for its rows, which go out as they are read.
    t.true(csv.pagesAtFirstByte < csv.pages.length - 2, `the body began after ${csv.pagesAtFirstByte} of ${csv.pages.length} pages`);
  },
);

test.serial(
  "a result download resumes: a range of result.json or result.csv is the whole one's bytes, with Content-Range, and once sent whole it has a Content-Length",
  async (t) => {
    const id = await app.store.create({ type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 100 });
    await app.supervisor.pump();
    t.is((await ended(app, id)).state, "succeeded");
    for (const ext of ["json", "csv"]) {
      const url = `/jobs/${id}/result.${ext}`;
      // A range first: this instance has not sent it whole, so it counts it before it answers.
      const part = await app.get(url, { Range: "bytes=5-" });
      t.is(part.status, 206, ext);
      const rest = await bytesOf(part);
      const total = Number(/^bytes 5-(\d+)\/(\d+)$/.exec(part.headers.get("content-range") ?? "")?.[2]);
      t.true(total > 5, `${ext}: ${part.headers.get("content-range")}`);
      t.is(rest.length, total - 5, ext);

      const whole = await app.get(url);
      t.is(whole.status, 200);
      t.is(whole.headers.get("content-length"), String(total), ext);
      const body = await bytesOf(whole);
      t.true(body.subarray(5).equals(rest), ext);
      if (ext === "json") t.deepEqual((JSON.parse(body.toString()) as { results: number[] }).results, [1, 2, 3]);
      else t.is(body.toString(), "index,value\r\n1,1\r\n2,2\r\n3,3\r\n");

      const etag = whole.headers.get("etag")!;
      const middle = await app.get(url, { Range: "bytes=2-6", "If-Range": etag });
      t.is(middle.status, 206);
      t.true((await bytesOf(middle)).equals(body.subarray(2, 7)), ext);
      const past = await app.get(url, { Range: `bytes=${total}-` });
      t.is(past.status, 416);
      t.is(past.headers.get("content-range"), `bytes */${total}`);
      await past.arrayBuffer();
    }
  },
);

test("output files past JOB_OUTPUT_MAX_BYTES are not kept, and the job's log says why", async (t) => {
  const a = await startApp(t, { redis, name: "output-cap", env: { JOB_OUTPUT_MAX_BYTES: "150000" }, ...WITH_FIXTURE_TYPES });
  const content = crypto.randomBytes(100_000);
  const job = await echoed(a, content, "in.bin");
  const id = job.id;
  t.is(job.state, "succeeded");
  // echo.bin (100,000 bytes) fits; echo.csv would bring the job to 200,000.
  t.deepEqual(
    (await a.store.listFiles(id)).map((f) => [f.name, f.size]),
    [["echo.bin", 100_000]],
  );
  t.deepEqual(await bytesOf(await a.get(`/jobs/${id}/files/echo.bin`)), content);
  t.is((await a.get(`/jobs/${id}/files/echo.csv`)).status, 404);
  const log = (await a.store.readLog(id)).join("\n");
  t.regex(log, /output file echo\.csv skipped: 100000 bytes would pass the 150000 bytes a job may keep \(JOB_OUTPUT_MAX_BYTES\)/);
});

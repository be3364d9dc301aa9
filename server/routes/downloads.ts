// A job's downloads: its results as JSON or CSV (read from Redis a page at a
// time, streamed), an output file, and the whole log as text. An ended job's
// carry an ETag (etag.ts).
import { Readable } from "node:stream";
import type { Middleware } from "koa";
import { isTerminal, type JobRecord, type JobStore } from "../../jobs/core/store.ts";
import { etagOf, notModified } from "../etag.ts";
import { csvCell, neutralisedCsv } from "../csv.ts";
import { HttpError } from "../errors.ts";
import type { JobLookup } from "./job-lookup.ts";

/**
 * Results read from Redis at a time for a download: at most DOWNLOAD_PAGE,
 * and about DOWNLOAD_PAGE_BYTES: the next page holds as many results as fit
 * it at the size of the largest result of the last one. The body is
 * streamed, a page at a time as the client takes it, so one download holds
 * about one page in memory however many results the job has.
 */
const DOWNLOAD_PAGE = 1000;
const DOWNLOAD_FIRST_PAGE = 16;
const DOWNLOAD_PAGE_BYTES = 256 * 1024;

/** A file name as a download's filename: only letters, digits, '.', '_' and '-', never a path. */
function safeFilename(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return safe === "" ? "download" : safe.slice(0, 200);
}

const MEDIA_TYPES: Record<string, string> = {
  ".txt": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".csv": "text/csv; charset=utf-8",
  ".json": "application/json; charset=utf-8",
};

function mediaType(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot > 0 && MEDIA_TYPES[name.slice(dot).toLowerCase()]) || "application/octet-stream";
}

/** Every result of a job (as its JSON text), read from Redis a page at a time. */
async function* allResults(store: JobStore, id: string, count: number): AsyncGenerator<{ index: number; value: unknown; text: string }> {
  let size = DOWNLOAD_FIRST_PAGE;
  for (let start = 0; start < count;) {
    const asked = Math.min(count - start, size);
    const page = await store.readResults(id, start, start + asked - 1);
    let largest = 1;
    for (const [i, value] of page.entries()) {
      const text = JSON.stringify(value) ?? "null";
      largest = Math.max(largest, text.length);
      yield { index: start + i, value, text };
    }
    if (page.length < asked) return;
    start += page.length;
    size = Math.max(1, Math.min(DOWNLOAD_PAGE, Math.floor(DOWNLOAD_PAGE_BYTES / largest)));
  }
}

/** An ended job's results never change: their download's ETag is made of what says which they are. */
const resultsEtag = (job: JobRecord, ext: string) => etagOf(ext, job.id, job.state, job.finishedAt, job.updatedAt, job.resultCount);

const downloadName = (job: JobRecord, ext: string) =>
  `${safeFilename(job.type)}-${job.id}${job.state === "succeeded" ? "" : "-partial"}.${ext}`;

/** GET /jobs/:id/result.json: every result, with the job's id, type, state and parameters. */
export const resultJson =
  (store: JobStore, { endedJob }: JobLookup): Middleware =>
  async (ctx) => {
    const job = await endedJob(ctx);
    if (notModified(ctx, resultsEtag(job, "json"))) return;
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "json")}"`);
    ctx.type = "application/json";
    const head = `{\n  "id": ${JSON.stringify(job.id)},\n  "type": ${JSON.stringify(job.type)},\n  "state": ${JSON.stringify(job.state)},\n  "params": ${JSON.stringify(job.params)},\n  "results": [`;
    ctx.body = Readable.from(
      (async function* () {
        yield head;
        for await (const { index, text } of allResults(store, job.id, job.resultCount)) yield `${index === 0 ? "" : ","}\n    ${text}`;
        yield `${job.resultCount > 0 ? "\n  " : ""}]\n}\n`;
      })(),
    );
  };

/**
 * GET /jobs/:id/result.csv: every result, one row each, neutralised as every
 * CSV download is (csv.ts): (index, value), or, for results that are all
 * records, (index, one column per key).
 */
export const resultCsv =
  (store: JobStore, { endedJob }: JobLookup): Middleware =>
  async (ctx) => {
    const job = await endedJob(ctx);
    if (notModified(ctx, resultsEtag(job, "csv"))) return;
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "csv")}"`);
    ctx.type = "text/csv; charset=utf-8";
    ctx.body = Readable.from(
      (async function* () {
        // Records (every value an object) get a column per key, in the order first met: a first pass finds them.
        const columns = await recordKeys(store, job.id, job.resultCount);
        if (!columns) {
          yield "index,value\r\n";
          for await (const { index, value } of allResults(store, job.id, job.resultCount)) yield `${index + 1},${csvCell(value)}\r\n`;
          return;
        }
        yield `index,${columns.map(csvCell).join(",")}\r\n`;
        for await (const { index, value } of allResults(store, job.id, job.resultCount)) {
          const record = value as Record<string, unknown>;
          yield `${index + 1},${columns.map((key) => (record[key] === undefined ? "" : csvCell(record[key]))).join(",")}\r\n`;
        }
      })(),
    );
  };

/** The keys of results that are all records (objects), in the order first met; null when any value is not one. */
async function recordKeys(store: JobStore, id: string, count: number): Promise<string[] | null> {
  const columns = new Set<string>();
  for await (const { value } of allResults(store, id, count)) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    for (const key of Object.keys(value)) columns.add(key);
  }
  return columns.size > 0 ? [...columns] : null;
}

/**
 * An output file: the name must be one the job's listing has; it is only
 * ever a field of the job's files hash, never a path. A .csv file is
 * neutralised as every CSV download is (csv.ts).
 */
export const outputFile =
  (store: JobStore, { jobId, notFound }: JobLookup): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    const name = (ctx.params as Record<string, string | undefined>).name ?? "";
    const files = await store.listFiles(id);
    if (!files.some((f) => f.name === name)) {
      if (!(await store.read(id, "auto", { resultLimit: 1 }))) throw notFound();
      throw new HttpError(404, "This job has no file of that name.", { title: "File not found" });
    }
    const content = await store.readFile(id, name);
    if (!content) throw notFound();
    // Output files are written by the job's process, so only an ended job's are final.
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (job && isTerminal(job.state) && notModified(ctx, etagOf(name, content))) return;
    const filename = safeFilename(name);
    ctx.set("Content-Disposition", `attachment; filename="${filename}"`);
    ctx.type = mediaType(filename);
    ctx.body = filename.toLowerCase().endsWith(".csv") ? neutralisedCsv(content) : content;
  };

/**
 * The whole log kept for the job, as text; a first line says how many
 * earlier lines were dropped. `visible` says who may read it: on the public
 * route, only a log its type makes public (job-view.ts, logIsPublic); the
 * operators' route reads every log.
 */
export const logText =
  (store: JobStore, { jobId, notFound }: Pick<JobLookup, "jobId" | "notFound">, visible: (type: string) => boolean): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (!job) throw notFound();
    if (!visible(job.type)) {
      throw new HttpError(404, "This job's log is kept for the site's operators. The job's page says how it went.", {
        title: "Log not shown",
      });
    }
    const lines = await store.readLog(id);
    const marker =
      job.logDropped > 0
        ? [
            `[${job.logDropped} earlier ${job.logDropped === 1 ? "line was" : "lines were"} dropped: the log keeps its last ${lines.length} lines]`,
          ]
        : [];
    const body = [...marker, ...lines].map((line) => `${line}\n`).join("");
    if (isTerminal(job.state) && notModified(ctx, etagOf(body))) return;
    ctx.set("Content-Disposition", `attachment; filename="${safeFilename(job.type)}-${id}.log"`);
    ctx.type = "text/plain; charset=utf-8";
    ctx.body = body;
  };

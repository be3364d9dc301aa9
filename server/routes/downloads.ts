// A job's downloads: its results as JSON or CSV (read from Redis a page at a
// time, streamed), an output file, the whole log as text, and, for operators,
// a file it was given (its input). An ended job's carry an ETag (etag.ts);
// every one answers Range requests, and has a Content-Length once its size is
// known (byte-range.ts): the files' and the log's always, the results' once
// they have been sent whole.
import type { Middleware } from "koa";
import { isTerminal, type JobRecord, type JobStore } from "../../jobs/core/store.ts";
import { etagOf, notModified } from "../etag.ts";
import {
  bufferSource,
  chunkedSource,
  fileSource,
  generatedSource,
  MadeSizes,
  sendBytes,
  sendMade,
  type ByteSource,
} from "../byte-range.ts";
import { isUploadRef } from "../../jobs/core/fields.ts";
import { csvCell, CsvNeutraliser } from "../csv.ts";
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

/**
 * Bytes of an output file read from Redis at a time. Redis cuts each chunk
 * from the whole value (a hash field has no GETRANGE: lua/file-range-1.lua),
 * so a chunk is large: a file of the most a job may keep (20 MB) takes 20.
 */
const FILE_CHUNK_BYTES = 1024 * 1024;
/** Bytes of an upload, and of the whole log, read at a time (GETRANGE reads only them). */
const UPLOAD_CHUNK_BYTES = 256 * 1024;
const LOG_CHUNK_BYTES = 256 * 1024;

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

/** Text as the bytes of a download. */
async function* asBytes(texts: AsyncIterable<string>): AsyncGenerator<Buffer> {
  for await (const text of texts) yield Buffer.from(text);
}

/**
 * GET /jobs/:id/result.json: every result, with the job's id, type, state
 * and parameters. Made as it is sent, a page of results at a time; an ended
 * job's never change, so a range of it (a resumed download) is made again
 * from its start and cut (byte-range.ts, sendMade).
 */
export const resultJson = (store: JobStore, { endedJob }: JobLookup): Middleware => {
  const sizes = new MadeSizes();
  return async (ctx) => {
    const job = await endedJob(ctx);
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "json")}"`);
    ctx.type = "application/json";
    const head = `{\n  "id": ${JSON.stringify(job.id)},\n  "type": ${JSON.stringify(job.type)},\n  "state": ${JSON.stringify(job.state)},\n  "params": ${JSON.stringify(job.params)},\n  "results": [`;
    const make = async function* () {
      yield head;
      for await (const { index, text } of allResults(store, job.id, job.resultCount)) yield `${index === 0 ? "" : ","}\n    ${text}`;
      yield `${job.resultCount > 0 ? "\n  " : ""}]\n}\n`;
    };
    await sendMade(ctx, () => asBytes(make()), resultsEtag(job, "json"), sizes);
  };
};

/**
 * GET /jobs/:id/result.csv: every result, one row each, neutralised as every
 * CSV download is (csv.ts): (index, value), or, for results that are all
 * records, (index, one column per key). Made and sent as result.json is.
 */
export const resultCsv = (store: JobStore, { endedJob }: JobLookup): Middleware => {
  const sizes = new MadeSizes();
  return async (ctx) => {
    const job = await endedJob(ctx);
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "csv")}"`);
    ctx.type = "text/csv; charset=utf-8";
    const make = async function* () {
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
    };
    await sendMade(ctx, () => asBytes(make()), resultsEtag(job, "csv"), sizes);
  };
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
 * ever a field of the job's files hash, never a path. It is read from Redis
 * a chunk at a time. A .csv file is neutralised as every CSV download is
 * (csv.ts), a chunk at a time too.
 */
export const outputFile =
  (store: JobStore, { jobId, notFound, mayOpen }: JobLookup): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    const name = (ctx.params as Record<string, string | undefined>).name ?? "";
    const [files, job] = await Promise.all([store.listFiles(id), store.read(id, "auto", { resultLimit: 1 })]);
    const file = files.find((f) => f.name === name);
    if (!job) throw notFound();
    mayOpen(ctx, job);
    if (!file) throw new HttpError(404, "This job has no file of that name.", { title: "File not found" });
    const filename = safeFilename(name);
    ctx.set("Content-Disposition", `attachment; filename="${filename}"`);
    ctx.type = mediaType(filename);
    // Output files are written by the job's process, so only an ended job's are final.
    const etag = isTerminal(job.state) ? etagOf("file", id, name, file.size, job.finishedAt) : null;
    const local = store.localFile("file", id, name);
    const stored = local
      ? fileSource(local, file.size)
      : chunkedSource(file.size, FILE_CHUNK_BYTES, (start, end) => store.readFileRange(id, name, start, end));
    if (filename.toLowerCase().endsWith(".csv")) {
      if (etag !== null && notModified(ctx, etag)) return;
      sendBytes(ctx, await neutralisedSource(stored), etag);
      return;
    }
    sendBytes(ctx, stored, etag);
  };

/**
 * A CSV file as it is downloaded: neutralised a chunk at a time. Neutralising
 * adds bytes, so a first pass counts them (its Content-Length, and what its
 * ranges count in); a range is the neutralised file's, read from its start.
 */
function neutralisedSource(stored: ByteSource): Promise<ByteSource> {
  return generatedSource(async function* () {
    const neutraliser = new CsvNeutraliser();
    if (stored.size > 0) for await (const chunk of stored.read(0, stored.size - 1)) yield neutraliser.push(chunk);
    yield neutraliser.end();
  });
}

/**
 * GET /admin/jobs/:id/input/:field: the file a job was given for one of its
 * file fields, as it was sent (bytes unchanged, as a download, never shown
 * inline), while it is kept. It never changes once the job exists, so it
 * carries an ETag whatever the job's state.
 */
export const inputFile =
  (store: JobStore, { jobId, notFound }: Pick<JobLookup, "jobId" | "notFound">): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    const field = (ctx.params as Record<string, string | undefined>).field ?? "";
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (!job) throw notFound();
    const ref = Object.hasOwn(job.params, field) ? job.params[field] : undefined;
    if (!isUploadRef(ref)) throw new HttpError(404, "This job was given no file of that name.", { title: "File not found" });
    const size = await store.uploadSize(id, field);
    if (size === 0) {
      throw new HttpError(404, "This job's input file is no longer kept: an upload is kept as long as its job.", {
        title: "File no longer kept",
      });
    }
    ctx.set("Content-Disposition", `attachment; filename="${safeFilename(ref.name)}"`);
    ctx.type = "application/octet-stream";
    const local = store.localFile("upload", id, field);
    sendBytes(
      ctx,
      local
        ? fileSource(local, size)
        : chunkedSource(size, UPLOAD_CHUNK_BYTES, (start, end) => store.readUploadRange(id, field, start, end)),
      etagOf("input", id, field, size, job.createdAt),
    );
  };

/**
 * The job's whole log, as it wrote it (JOB_LOG_MAX_BYTES at most, then a
 * marker says where it was cut), read from the store a chunk at a time. A
 * job that kept no whole log (run before it was kept) gets its last lines,
 * with a first line saying how many earlier ones were dropped. `visible`
 * says who may read it: on the public route, only a log its type makes public
 * (job-view.ts, logIsPublic); the operators' route reads every log.
 */
export const logText =
  (
    store: JobStore,
    { jobId, notFound, mayOpen }: Pick<JobLookup, "jobId" | "notFound"> & Partial<Pick<JobLookup, "mayOpen">>,
    visible: (type: string) => boolean,
  ): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (!job) throw notFound();
    mayOpen?.(ctx, job);
    if (!visible(job.type)) {
      throw new HttpError(404, "This job's log is kept for the site's operators. The job's page says how it went.", {
        title: "Log not shown",
      });
    }
    ctx.set("Content-Disposition", `attachment; filename="${safeFilename(job.type)}-${id}.log"`);
    ctx.type = "text/plain; charset=utf-8";
    const size = await store.fullLogSize(id);
    if (size > 0) {
      // Its last bytes may come after the end is recorded: the tag names the size.
      const etag = isTerminal(job.state) ? etagOf("log", id, size, job.finishedAt) : null;
      sendBytes(
        ctx,
        chunkedSource(size, LOG_CHUNK_BYTES, (start, end) => store.readFullLogRange(id, start, end)),
        etag,
      );
      return;
    }
    const lines = await store.readLog(id);
    const marker =
      job.logDropped > 0
        ? [
            `[${job.logDropped} earlier ${job.logDropped === 1 ? "line was" : "lines were"} dropped: the log keeps its last ${lines.length} lines]`,
          ]
        : [];
    // Bounded by what the log keeps (LOG_MAX_LINES of LOG_LINE_MAX_CHARS), so made whole.
    const body = Buffer.from([...marker, ...lines].map((line) => `${line}\n`).join(""));
    sendBytes(ctx, bufferSource(body), isTerminal(job.state) ? etagOf(body) : null);
  };

// A job's pages: the status page (HTML or JSON), the status fragment htmx
// polls (JSON too, for a client that asks for it), cancel, the result
// downloads, the output files and the log.
import { Readable } from "node:stream";
import Router from "@koa/router";
import type { Context, Next } from "koa";
import { isJobId, isTerminal, type JobRecord, type JobStore } from "../../jobs/core/store.ts";
import { formatDuration } from "../../jobs/core/format.ts";
import { jobType } from "../../jobs/types/index.ts";
import { HttpError } from "../errors.ts";
import { announcement, failureMessage, jobView, phaseOf, type ViewSettings } from "../job-view.ts";
import { clockOf, statusFragment, takeRead, type PageRead } from "../status.ts";
import { FILE_ROUTE, fileUrl, JOB_ROUTE, jobUrl, LOG_ROUTE, logUrl, STATUS_ROUTE, statusUrl } from "../urls.ts";
import type { AppDeps } from "../deps.ts";

/** The most results a JSON answer holds (resultCount says how many there are; result.json has them all). */
export const JSON_RESULTS_MAX = 1000;
/** Results read from Redis at a time for a download. */
const DOWNLOAD_PAGE = 1000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job as a JSON client sees it. pid, host and detail only with SHOW_JOB_INTERNALS. */
export function jobJson(job: JobRecord, files: readonly { name: string; size: number }[], settings: ViewSettings) {
  const type = jobType(job.type);
  const unit = type?.unit ?? (["step", "steps"] as const);
  return {
    id: job.id,
    url: jobUrl(job.id),
    type: job.type,
    title: type ? jobView(job, { settings }).title : null,
    state: job.state,
    /** Why it ended (failed or cancelled), a code: see README. */
    reason: job.reason,
    /** What the page says about the job's state, in a sentence. */
    message: job.state === "failed" ? failureMessage(job, type?.words?.noun ?? "the job", unit) : announcement(job, type),
    /** The job's own error message (reason job-error). */
    error: job.error,
    /** What the job says it is doing. */
    status: job.status,
    params: job.params,
    done: job.done,
    total: job.total,
    resultCount: job.resultCount,
    /** The first JSON_RESULTS_MAX results; result.json has them all. */
    results: job.results,
    resultsUrl: { json: `${jobUrl(job.id)}/result.json`, csv: `${jobUrl(job.id)}/result.csv` },
    /** 1-based, while it waits: 1 is next. */
    queuePosition: job.queuePosition === null ? null : job.queuePosition + 1,
    cancelRequested: job.cancelRequestedAt !== null,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
    timeoutMs: job.timeoutMs,
    exitCode: job.exitCode,
    signal: job.signal,
    files: files.map((f) => ({ name: f.name, size: f.size, url: fileUrl(job.id, f.name) })),
    logUrl: logUrl(job.id),
    statusUrl: statusUrl(job.id),
    ...(settings.showJobInternals ? { pid: job.pid, host: job.host, detail: job.detail } : {}),
  };
}

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

function csvCell(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "");
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Every result of a job, read from Redis a page at a time. */
async function* allResults(store: JobStore, id: string, count: number): AsyncGenerator<{ index: number; value: unknown }> {
  for (let start = 0; start < count; start += DOWNLOAD_PAGE) {
    const page = await store.readResults(id, start, Math.min(count, start + DOWNLOAD_PAGE) - 1);
    for (const [i, value] of page.entries()) yield { index: start + i, value };
    if (page.length < DOWNLOAD_PAGE) return;
  }
}

export function jobRoutes({ store, pages, config, renderer, telemetry }: AppDeps): Router {
  const router = new Router({ prefix: JOB_ROUTE });

  const notFound = () =>
    new HttpError(404, "There is no job at this address. It may have expired, or the address may be mistyped.", {
      title: "Job not found",
      detail: [
        `Finished jobs are kept for ${formatDuration(config.jobTtlSucceededS * 1000)} after they succeed, ` +
          `and for ${formatDuration(config.jobTtlFailedS * 1000)} after they fail or are cancelled.`,
      ],
    });

  const jobId = (ctx: Context): string => {
    const id = (ctx.params as Record<string, string | undefined>).id;
    if (!isJobId(id)) throw notFound();
    return id;
  };

  const loadPage = async (ctx: Context, all = false): Promise<PageRead> => {
    const id = jobId(ctx);
    const found = await (takeRead(ctx.req) ?? pages.read(id, { all }));
    if (!found) throw notFound();
    return found;
  };

  const loadJson = async (ctx: Context) => {
    const id = jobId(ctx);
    const job = await store.read(id, "all", { resultLimit: JSON_RESULTS_MAX });
    if (!job) throw notFound();
    return jobJson(job, isTerminal(job.state) ? await store.listFiles(id) : [], config);
  };

  const wantsJson = (ctx: Context) => ctx.accepts("html", "json") === "json";

  // Status answers change by the second: never cache them.
  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    await next();
  });

  router.get("/", async (ctx) => {
    ctx.vary("Accept");
    if (wantsJson(ctx)) {
      ctx.body = await loadJson(ctx);
      return;
    }
    const all = ctx.query.all === "1";
    const found = await loadPage(ctx, all);
    await ctx.render("pages/job", { job: jobView(found.job, { settings: config, files: found.files, all, now: clockOf(found) }) });
  });

  // The fragment htmx polls. ?shown= is the phase the page last announced:
  // only a change adds an out-of-band update of the live region. The request
  // listener (listener.ts) answers the common case (the job exists and Redis
  // answers) with the same headers; this route answers the rest (errors,
  // HEAD, a JSON client), from the listener's read when it made one. A JSON
  // client (Accept: application/json, no HX-Request) gets the job as JSON,
  // always 200: 286 is htmx's signal only.
  router.get(STATUS_ROUTE, async (ctx) => {
    // In the order the request listener's POLL_HEADERS give.
    ctx.vary("HX-Request");
    ctx.vary("Accept");
    const htmx = ctx.get("HX-Request") === "true";
    if (!htmx && wantsJson(ctx)) {
      ctx.body = await loadJson(ctx);
      return;
    }
    ctx.state.kind = "fragment";
    const found = await loadPage(ctx);
    const answer = statusFragment(renderer, found, { shown: ctx.query.shown, log: ctx.query.log }, { settings: config, htmx });
    ctx.status = answer.status;
    if (answer.message) ctx.message = answer.message;
    ctx.type = "html";
    ctx.body = answer.body;
  });

  router.post("/cancel", async (ctx) => {
    const id = jobId(ctx);
    const reply = await store.cancel(id, config.jobCancelGraceMs);
    // The page this answer leads to must show the cancel, even before Redis' invalidation arrives.
    pages.forget(id);
    if (reply.outcome === "missing") throw notFound();
    if (reply.outcome === "requested") telemetry.events.cancelRequested(id);
    if (reply.outcome === "cancelled") {
      // It ended here (it was waiting): no process will report it.
      const job = await store.read(id, "auto", { resultLimit: 1 }).catch(() => null);
      if (job && isTerminal(job.state)) telemetry.events.finished(job, "cancel");
    }
    if (reply.outcome === "finished") {
      throw new HttpError(409, `This job has already ended (${reply.state}); there is nothing to cancel.`, {
        title: "Already finished",
        detail: [`See the job at ${jobUrl(id)}.`],
      });
    }
    if (wantsJson(ctx)) {
      ctx.status = 202;
      ctx.body = { id, outcome: reply.outcome };
    } else {
      ctx.status = 303;
      ctx.redirect(jobUrl(id));
    }
  });

  /** A job that has ended: its results (all of them when it succeeded, what it had made when it did not) can be downloaded. */
  const endedJob = async (ctx: Context): Promise<JobRecord> => {
    const job = await store.read(jobId(ctx), "auto", { resultLimit: 1 });
    if (!job) throw notFound();
    if (!isTerminal(job.state)) {
      throw new HttpError(
        409,
        `The results can be downloaded once the job has ended; it is ${phaseOf(job) === "cancelling" ? "stopping" : job.state}.`,
        {
          title: "No results yet",
        },
      );
    }
    return job;
  };

  const downloadName = (job: JobRecord, ext: string) =>
    `${safeFilename(job.type)}-${job.id}${job.state === "succeeded" ? "" : "-partial"}.${ext}`;

  router.get("/result.json", async (ctx) => {
    const job = await endedJob(ctx);
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "json")}"`);
    ctx.type = "application/json";
    const head = `{\n  "id": ${JSON.stringify(job.id)},\n  "type": ${JSON.stringify(job.type)},\n  "state": ${JSON.stringify(job.state)},\n  "params": ${JSON.stringify(job.params)},\n  "results": [`;
    ctx.body = Readable.from(
      (async function* () {
        yield head;
        for await (const { index, value } of allResults(store, job.id, job.resultCount))
          yield `${index === 0 ? "" : ","}\n    ${JSON.stringify(value) ?? "null"}`;
        yield `${job.resultCount > 0 ? "\n  " : ""}]\n}\n`;
      })(),
    );
  });

  router.get("/result.csv", async (ctx) => {
    const job = await endedJob(ctx);
    ctx.set("Content-Disposition", `attachment; filename="${downloadName(job, "csv")}"`);
    ctx.type = "text/csv; charset=utf-8";
    ctx.body = Readable.from(
      (async function* () {
        yield "index,value\r\n";
        for await (const { index, value } of allResults(store, job.id, job.resultCount)) yield `${index + 1},${csvCell(value)}\r\n`;
      })(),
    );
  });

  // An output file: the name must be one the job's listing has; it is only
  // ever a field of the job's files hash, never a path.
  router.get(FILE_ROUTE, async (ctx) => {
    const id = jobId(ctx);
    const name = ctx.params.name ?? "";
    const files = await store.listFiles(id);
    if (!files.some((f) => f.name === name)) {
      if (!(await store.read(id, "auto", { resultLimit: 1 }))) throw notFound();
      throw new HttpError(404, "This job has no file of that name.", { title: "File not found" });
    }
    const content = await store.readFile(id, name);
    if (!content) throw notFound();
    const filename = safeFilename(name);
    ctx.set("Content-Disposition", `attachment; filename="${filename}"`);
    ctx.type = mediaType(filename);
    ctx.body = content;
  });

  // The whole log kept for the job, as text; a first line says how many earlier lines were dropped.
  router.get(LOG_ROUTE, async (ctx) => {
    const id = jobId(ctx);
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (!job) throw notFound();
    const lines = await store.readLog(id);
    const marker =
      job.logDropped > 0
        ? [
            `[${job.logDropped} earlier ${job.logDropped === 1 ? "line was" : "lines were"} dropped: the log keeps its last ${lines.length} lines]`,
          ]
        : [];
    ctx.set("Content-Disposition", `attachment; filename="${safeFilename(job.type)}-${id}.log"`);
    ctx.type = "text/plain; charset=utf-8";
    ctx.body = [...marker, ...lines].map((line) => `${line}\n`).join("");
  });

  return router;
}

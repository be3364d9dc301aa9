// A job's pages: the status page (HTML or JSON), the status fragment htmx
// polls, cancel, and the result downloads.
import Router from "@koa/router";
import type { Context, Next } from "koa";
import { isJobId, type JobRecord } from "../../jobs/store.ts";
import { formatDuration } from "../../jobs/format.ts";
import { HttpError } from "../errors.ts";
import { jobView } from "../job-view.ts";
import { statusFragment, takeRead } from "../status.ts";
import { JOB_ROUTE, jobUrl, STATUS_ROUTE } from "../urls.ts";
import type { AppDeps } from "../app.ts";

export function jobJson(job: JobRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    params: job.params,
    done: job.done,
    total: job.total,
    results: job.results,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
    queuePosition: job.queuePosition,
    cancelRequested: job.cancelRequestedAt !== null,
    pid: job.pid,
    host: job.host,
    exitCode: job.exitCode,
    signal: job.signal,
    reason: job.reason,
    error: job.error,
    detail: job.detail,
  };
}

export function jobRoutes({ store, config, renderer }: AppDeps): Router {
  const router = new Router({ prefix: JOB_ROUTE });

  const notFound = () =>
    new HttpError(404, "There is no job at this address. It may have expired, or the address may be mistyped.", {
      title: "Job not found",
      detail: [
        `Finished jobs are kept for ${formatDuration(config.jobTtlSucceededS * 1000)} after they succeed, ` +
          `and for ${formatDuration(config.jobTtlFailedS * 1000)} after they fail or are cancelled.`,
      ],
    });

  const load = async (ctx: Context, results: "all" | "auto"): Promise<JobRecord> => {
    const id = ctx.params.id;
    const job = isJobId(id) ? await (takeRead(ctx.req) ?? store.read(id, results)) : null;
    if (!job) throw notFound();
    return job;
  };

  // Status answers change by the second: never cache them.
  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    await next();
  });

  router.get("/", async (ctx) => {
    ctx.vary("Accept");
    const wantsJson = ctx.accepts("html", "json") === "json";
    const job = await load(ctx, wantsJson ? "all" : "auto");
    if (wantsJson) {
      ctx.body = jobJson(job);
      return;
    }
    await ctx.render("pages/job", { job: jobView(job) });
  });

  // The fragment htmx polls. ?shown= is the state the page last announced:
  // only a change of state adds an out-of-band update of the live region.
  // The request listener (listener.ts) answers the common case (the job exists
  // and Redis answers) with the same headers; this route answers the rest
  // (errors, HEAD), from the listener's read when it made one.
  router.get(STATUS_ROUTE, async (ctx) => {
    ctx.state.kind = "fragment";
    const job = await load(ctx, "auto");
    const answer = statusFragment(renderer, job, ctx.query.shown);
    ctx.status = answer.status;
    if (answer.message) ctx.message = answer.message;
    ctx.type = "html";
    ctx.body = answer.body;
  });

  router.post("/cancel", async (ctx) => {
    const id = ctx.params.id;
    if (!isJobId(id)) throw notFound();
    const reply = await store.cancel(id, config.jobCancelGraceMs);
    const wantsJson = ctx.accepts("html", "json") === "json";
    if (reply.outcome === "missing") throw notFound();
    if (reply.outcome === "finished") {
      throw new HttpError(409, `This job has already ended (${reply.state}); there is nothing to cancel.`, {
        title: "Already finished",
        detail: [`See the job at ${jobUrl(id)}.`],
      });
    }
    if (wantsJson) {
      ctx.status = 202;
      ctx.body = { id, outcome: reply.outcome };
    } else {
      ctx.status = 303;
      ctx.redirect(jobUrl(id));
    }
  });

  const finishedResults = async (ctx: Context): Promise<JobRecord> => {
    const job = await load(ctx, "all");
    if (job.state !== "succeeded") {
      throw new HttpError(409, `The results can be downloaded once the job has succeeded; it is ${job.state}.`, {
        title: "No results yet",
      });
    }
    return job;
  };

  router.get("/result.json", async (ctx) => {
    const job = await finishedResults(ctx);
    ctx.set("Content-Disposition", `attachment; filename="count-${job.id}.json"`);
    ctx.type = "application/json";
    ctx.body = JSON.stringify({ id: job.id, params: job.params, results: job.results }, null, 2) + "\n";
  });

  router.get("/result.csv", async (ctx) => {
    const job = await finishedResults(ctx);
    ctx.set("Content-Disposition", `attachment; filename="count-${job.id}.csv"`);
    ctx.type = "text/csv; charset=utf-8";
    ctx.body = `index,value\r\n${job.results.map((v, i) => `${i + 1},${v}`).join("\r\n")}\r\n`;
  });

  return router;
}

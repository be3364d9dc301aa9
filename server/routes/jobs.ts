// A job's pages: the status page (HTML or JSON), the status fragment htmx
// polls (JSON too, for a client that asks for it), cancel, the result
// downloads, the output files and the log (downloads.ts). A job as JSON:
// job-json.ts.
import Router from "@koa/router";
import type { Context, Middleware, Next } from "koa";
import { HttpError } from "../errors.ts";
import { isTerminal } from "../../jobs/core/store.ts";
import { jobType } from "../../jobs/types/index.ts";
import { jobView, logIsPublic } from "../job-view.ts";
import { wantsJson } from "../negotiate.ts";
import { clockOf, statusFragment } from "../status.ts";
import { FILE_ROUTE, JOB_ROUTE, jobUrl, LOG_ROUTE, STATUS_ROUTE } from "../urls.ts";
import type { AppDeps } from "../deps.ts";
import { jobLookup, type JobLookup } from "./job-lookup.ts";
import { AnswerBudget, answerBytes } from "../answer-budget.ts";
import { BUSY_RETRY_AFTER_S } from "../http-server.ts";
import { RESULTS_ALL_BYTES, RESULTS_SHOWN_BYTES } from "../job-view.ts";
import { JSON_RESULTS_MAX_BYTES } from "../job-json.ts";
import { logText, outputFile, resultCsv, resultJson } from "./downloads.ts";
import { etagOf, notModified } from "../etag.ts";
import type { CancelReply, Job } from "../api-schemas.ts";
import { TypeRunners } from "../type-runners.ts";
import { zoneOf } from "../time-zone.ts";

export function jobRoutes(deps: AppDeps): Router {
  const { store } = deps;
  const lookup = jobLookup(deps);
  const budget = new AnswerBudget(deps.config.answerBytesInFlight);
  const router = new Router({ prefix: JOB_ROUTE });

  // Status answers change by the second: never cache them (an ended job's are revalidated by ETag: etag.ts).
  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    await next();
  });

  router.get("/", jobPage(deps, lookup, budget, new TypeRunners(store)));
  router.get(STATUS_ROUTE, statusPoll(deps, lookup));
  router.post("/cancel", cancel(deps, lookup));
  router.get("/result.json", resultJson(store, lookup));
  router.get("/result.csv", resultCsv(store, lookup));
  router.get(FILE_ROUTE, outputFile(store, lookup));
  router.get(
    LOG_ROUTE,
    logText(store, lookup, (type) => logIsPublic(jobType(type, deps.registry), deps.config)),
  );
  return router;
}

/** A job as JSON; once it has ended, with its ETag (304 for a client that has it). */
function answerJson(ctx: Context, job: Job): void {
  const body = JSON.stringify(job);
  if (isTerminal(job.state) && notModified(ctx, etagOf(body))) return;
  ctx.type = "application/json";
  ctx.body = body;
}

/** GET /jobs/:id: the job's page, or the job as JSON. ?all=1 shows every result (up to RESULTS_ALL_MAX). */
const jobPage =
  ({ config, pages }: AppDeps, { jobId, loadJson, loadPage, mayOpen }: JobLookup, budget: AnswerBudget, runners: TypeRunners): Middleware =>
  async (ctx) => {
    ctx.vary("Accept");
    const json = wantsJson(ctx);
    const all = !json && ctx.query.all === "1";
    // What the answer may hold, reserved until it has been sent: the most its
    // read may bring, or what a kept read holds; then what it did bring.
    const kept = json || all ? undefined : pages.peek(jobId(ctx));
    const most = json ? JSON_RESULTS_MAX_BYTES : all ? RESULTS_ALL_BYTES : RESULTS_SHOWN_BYTES;
    const reservation = await budget.reserve(answerBytes(kept?.resultBytes ?? most));
    if (!reservation) {
      throw new HttpError(503, "Too many large pages are being sent at once. Please try again in a moment.", {
        title: "Too busy right now",
        headers: { "Retry-After": String(BUSY_RETRY_AFTER_S) },
        code: "busy",
      });
    }
    ctx.res.once("close", () => reservation.release());
    try {
      if (json) {
        answerJson(ctx, await loadJson(ctx));
        return;
      }
      const found = kept ?? (await loadPage(ctx, all));
      mayOpen(ctx, found.job);
      if (found.resultBytes !== undefined) reservation.resize(answerBytes(found.resultBytes));
      // Read here only, for a queued job: the poll does not (the note stays until the page is reloaded).
      const noRunner =
        found.job.state === "queued" && (await runners.runs(found.job.type)) === false
          ? `No server runs ${found.job.type} jobs right now; it will start when one does.`
          : null;
      await ctx.render("pages/job", {
        job: jobView(found.job, { settings: config, files: found.files, all, now: clockOf(found), zone: zoneOf(ctx) }),
        noRunner,
      });
    } catch (err) {
      reservation.release();
      throw err;
    }
  };

/**
 * The fragment htmx polls. ?shown= is the phase the page last announced:
 * only a change adds an out-of-band update of the live region. The request
 * listener (listener.ts) answers the common case (the job exists and Redis
 * answers) with the same headers; this route answers the rest (errors,
 * HEAD, a JSON client), from the listener's read when it made one. A JSON
 * client (Accept: application/json, no HX-Request) gets the job as JSON,
 * always 200: 286 is htmx's signal only.
 */
const statusPoll =
  ({ config, renderer }: AppDeps, { loadJson, loadPage }: JobLookup): Middleware =>
  async (ctx) => {
    // In the order the request listener's POLL_HEADERS give.
    ctx.vary("HX-Request");
    ctx.vary("Accept");
    const htmx = ctx.get("HX-Request") === "true";
    if (!htmx && wantsJson(ctx)) {
      answerJson(ctx, await loadJson(ctx));
      return;
    }
    ctx.state.kind = "fragment";
    const found = await loadPage(ctx);
    const answer = statusFragment(
      renderer,
      found,
      { shown: ctx.query.shown, log: ctx.query.log },
      { settings: config, htmx, zone: zoneOf(ctx) },
    );
    ctx.status = answer.status;
    if (answer.message) ctx.message = answer.message;
    ctx.type = "html";
    ctx.body = answer.body;
  };

/** POST /jobs/:id/cancel: a waiting job ends here; a running one is asked to stop. */
const cancel =
  ({ store, pages, config, telemetry }: AppDeps, { jobId, notFound, mayOpenId }: JobLookup): Middleware =>
  async (ctx) => {
    const id = jobId(ctx);
    // Another person's job (JOB_VISIBILITY=owner): 404, and nothing changes.
    await mayOpenId(ctx, id);
    const reply = await store.cancel(id, config.jobCancelGraceMs);
    // The page this answer leads to must show the cancel, even before Redis' invalidation arrives.
    pages.forget(id);
    if (reply.outcome === "missing") throw notFound();
    if (reply.outcome === "requested") {
      // The reply names no type: the log line reads it (the cancel stands whatever this read does).
      const [summary] = await store.summaries([id]).catch(() => [null]);
      telemetry.events.cancelRequested(id, summary?.type ?? null);
    }
    // It ended by this call (it was waiting): the end is this call's to report.
    if (reply.outcome === "cancelled") await telemetry.events.ended(id, "cancel");
    if (reply.outcome === "finished") {
      throw new HttpError(409, `This job has already ended (${reply.state}); there is nothing to cancel.`, {
        title: "Already finished",
        detail: [`See the job at ${jobUrl(id)}.`],
      });
    }
    if (wantsJson(ctx)) {
      ctx.status = 202;
      ctx.body = { id, outcome: reply.outcome } satisfies CancelReply;
    } else {
      ctx.status = 303;
      ctx.redirect(jobUrl(id));
    }
  };

// The operator's actions on one job: cancel, retry (a new job with the
// ended job's type and parameters, and its uploads copied), delete.
import { recordAction } from "./audit.ts";
import type Router from "@koa/router";
import { isTerminal, newJobId, QueueFullError } from "../../jobs/core/store.ts";
import { jobType } from "../../jobs/types/index.ts";
import { HttpError } from "../errors.ts";
import { checkSubmission } from "../forms.ts";
import type { AppDeps } from "../deps.ts";
import { adminBody, done, jobIdOf, missing } from "./shared.ts";
import { ADMIN_ROUTE, adminJobUrl } from "./view.ts";

/** Creates a job with an ended job's type and parameters, through the supervisor (queue limits apply); the new job's id. */
export async function retryJob({ store, config, supervisor, memory, registry }: AppDeps, id: string): Promise<string> {
  const job = await store.read(id, "auto", { resultLimit: 1 });
  if (!job) throw missing();
  if (!isTerminal(job.state))
    throw new HttpError(409, `This job has not ended (it is ${job.state}): only an ended job can be retried.`, {
      title: "Not ended yet",
      code: "not-ended",
    });
  const type = jobType(job.type, registry);
  if (!type)
    throw new HttpError(409, `This job's type (${job.type}) is not one this site runs: it cannot be retried.`, {
      title: "Cannot retry",
      code: "unknown-type",
    });
  const check = checkSubmission(type, config, job.params);
  if (!check.ok && job.uploads.length === 0) {
    throw new HttpError(409, "This job's parameters are no longer accepted by its form, so it cannot be retried as it was.", {
      title: "Cannot retry",
      code: "invalid-params",
    });
  }
  // Redis nearly full: a 503 before the upload is copied or a job created.
  await memory.checkRoom();
  let newId: string | undefined;
  if (job.uploads.length > 0) {
    newId = newJobId();
    if (!(await store.copyUploads(id, newId, job.uploads))) {
      throw new HttpError(
        409,
        "The file uploaded for this job is no longer kept, so it cannot be retried. Start a new job with the file.",
        {
          title: "Cannot retry",
          code: "upload-gone",
        },
      );
    }
  }
  try {
    const created = await supervisor.submit({
      ...(newId ? { id: newId, uploads: job.uploads } : {}),
      type: type.name,
      params: job.params,
      total: check.ok ? check.total : 0,
      timeoutMs: type.timeoutMs ?? config.jobTimeoutMs,
      ttlSucceededS: type.ttlSucceededS,
      ttlFailedS: type.ttlFailedS,
      retryOf: id,
      // The retry is still the person's job: on their list, theirs to open.
      ...(job.user ? { user: job.user } : {}),
      // An operator's retry takes the person's turn, past their limit of waiting jobs.
      ...(job.submitter ? { submitter: job.submitter, maxQueuedPerSubmitter: 0 } : {}),
    });
    await store.markRetried(id, created);
    return created;
  } catch (err) {
    if (newId) await store.deleteUploads(newId, job.uploads).catch(() => {});
    if (err instanceof QueueFullError) {
      throw new HttpError(503, "The queue is full, so no job can be added now. Try again in a minute.", {
        title: "Too busy right now",
        headers: { "Retry-After": "30" },
        code: "queue-full",
      });
    }
    throw err;
  }
}

/** POST /admin/jobs/:id/cancel, /retry, /delete. */
export function actionRoutes(router: Router, deps: AppDeps): void {
  const { store, config, telemetry } = deps;

  router.post("/jobs/:id/cancel", adminBody, async (ctx) => {
    const id = jobIdOf(ctx);
    const reply = await store.cancel(id, config.jobCancelGraceMs);
    if (reply.outcome === "missing") throw missing();
    // As the public cancel: a waiting job ended by this call is reported here, once.
    if (reply.outcome === "cancelled") await telemetry.events.ended(id, "cancel");
    if (reply.outcome === "requested") {
      const [summary] = await store.summaries([id]).catch(() => [null]);
      telemetry.events.cancelRequested(id, summary?.type ?? null);
    }
    if (reply.outcome === "finished")
      throw new HttpError(409, `This job has already ended (${reply.state}); there is nothing to cancel.`, { title: "Already ended" });
    await recordAction(ctx, deps, "cancel", [id], reply.outcome === "cancelled" ? "cancelled" : "cancel requested");
    done(ctx, { id, outcome: reply.outcome }, adminJobUrl(id), 202);
  });

  router.post("/jobs/:id/retry", adminBody, async (ctx) => {
    const id = jobIdOf(ctx);
    const created = await retryJob(deps, id);
    await recordAction(ctx, deps, "retry", [id], `retried as ${created}`);
    done(ctx, { id, retriedAs: created, url: adminJobUrl(created) }, adminJobUrl(created), 201);
  });

  router.post("/jobs/:id/delete", adminBody, async (ctx) => {
    const id = jobIdOf(ctx);
    const reply = await store.delete(id);
    if (!reply.deleted) {
      if (!reply.state) throw missing();
      throw new HttpError(409, `This job has not ended (it is ${reply.state}): cancel it first, then delete it.`, {
        title: "Not ended yet",
        code: "not-ended",
      });
    }
    await recordAction(ctx, deps, "delete", [id], "deleted");
    done(ctx, { id, deleted: true }, `${ADMIN_ROUTE}/jobs`);
  });
}

// GET /admin/jobs/:id: one job as the operator sees it. The public page's
// view and JSON (job-view.ts, job-json.ts) with the internals shown, plus
// its parameters, its whole log, its timings, its process and its retries.
// GET /admin/jobs/:id/log: its log as text, whoever its type shows it to.
// GET /admin/jobs/:id/input/:field: a file it was given, while it is kept.
import type Router from "@koa/router";
import { isTerminal } from "../../jobs/core/store.ts";
import { jobType } from "../../jobs/types/index.ts";
import { formatDuration } from "../../jobs/core/format.ts";
import { jobJson } from "../job-json.ts";
import { jobView } from "../job-view.ts";
import { usageText } from "../job-words.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { inputFile, logText } from "../routes/downloads.ts";
import { isUploadRef } from "../../jobs/core/fields.ts";
import { jobIdOf, missing } from "./shared.ts";
import { adminJobUrl, utc } from "./view.ts";
import { notifyRows } from "../notify/view.ts";

export function adminJobRoutes(router: Router, { store, config, registry }: AppDeps): void {
  router.get("/jobs/:id", async (ctx) => {
    const id = jobIdOf(ctx);
    const job = await store.read(id, "all", { resultLimit: 100, logLines: 0 });
    if (!job) throw missing();
    const uploads = Object.entries(job.params).filter(([, value]) => isUploadRef(value));
    const [files, log, kept, notified] = await Promise.all([
      isTerminal(job.state) ? store.listFiles(id) : Promise.resolve([]),
      store.readLog(id),
      // Which of its input files are still kept (a succeeded job's are deleted at its end).
      Promise.all(uploads.map(async ([name]) => [name, (await store.uploadSize(id, name)) > 0] as const)).then((pairs) => new Map(pairs)),
      // Who asked to be told when it ends, and how each delivery went (server/notify/).
      store.notifications(id),
    ]);
    const notifications = notifyRows(notified, utc);
    const settings = { ...config, showJobInternals: true };
    const queuedMs = job.createdAt !== null ? (job.startedAt ?? job.finishedAt ?? job.readAt) - job.createdAt : null;
    const ranMs = job.startedAt !== null ? (job.finishedAt ?? job.readAt) - job.startedAt : null;
    const logUrl = `${adminJobUrl(id)}/log`;
    if (wantsJson(ctx)) {
      ctx.body = {
        ...jobJson(job, files, settings),
        logUrl,
        adminUrl: adminJobUrl(id),
        queuedMs,
        ranMs,
        retryOf: job.retryOf,
        retriedAs: job.retriedAs,
        log,
        logDropped: job.logDropped,
        notifications: notifications.map((row) => ({ ...row, delivery: notified.deliveries[row.channel] ?? null })),
      };
      return;
    }
    const view = jobView(job, { settings, files });
    if (view.log) view.log = { ...view.log, url: logUrl };
    await ctx.render("pages/admin-job", {
      title: `${view.title} (operator view)`,
      job: view,
      id,
      state: job.state,
      ended: isTerminal(job.state),
      canCancel: !isTerminal(job.state) && job.cancelRequestedAt === null,
      canRetry: isTerminal(job.state) && jobType(job.type, registry) !== undefined,
      params: Object.entries(job.params).map(([name, value]) => ({
        name,
        value: typeof value === "string" ? value : JSON.stringify(value),
        // A file field's upload, to download (the route says when it is no longer kept).
        input: isUploadRef(value)
          ? {
              url: `${adminJobUrl(id)}/input/${encodeURIComponent(name)}`,
              name: value.name,
              size: value.size,
              kept: kept.get(name) === true,
            }
          : null,
      })),
      log,
      logDropped: job.logDropped,
      timings: {
        submitted: job.createdAt === null ? null : utc(job.createdAt),
        started: job.startedAt === null ? null : utc(job.startedAt),
        finished: job.finishedAt === null ? null : utc(job.finishedAt),
        queuedFor: queuedMs === null ? null : formatDuration(Math.max(0, queuedMs)),
        ranFor: ranMs === null ? null : formatDuration(Math.max(0, ranMs)),
      },
      process: {
        pid: job.pid,
        host: job.host,
        exitCode: job.exitCode,
        signal: job.signal,
        reason: job.reason,
        detail: job.detail,
        usage: job.usage && isTerminal(job.state) ? usageText(job.usage) : null,
        slurm: job.slurm ? slurmJobText(job.slurm) : null,
      },
      retryOf: job.retryOf ? adminJobUrl(job.retryOf) : null,
      retriedAs: job.retriedAs ? adminJobUrl(job.retriedAs) : null,
      retryOfId: job.retryOf,
      retriedAsId: job.retriedAs,
      // Every attempt, the ended ones first, the current one (the record itself) last.
      attempts: [
        ...job.attempts.map((a) => ({
          attempt: a.attempt,
          reason: a.reason,
          started: a.startedAt === null ? null : utc(a.startedAt),
          ended: utc(a.endedAt),
          host: a.host,
          pid: a.pid,
          exit: a.signal ?? a.exitCode,
          error: a.error,
          usage: a.usage ? usageText(a.usage) : null,
          slurm: a.slurm ? slurmJobText(a.slurm) : null,
        })),
        {
          attempt: job.attempt,
          reason: isTerminal(job.state) ? (job.reason ?? "none") : `${job.state} now`,
          started: job.startedAt === null ? null : utc(job.startedAt),
          ended: job.finishedAt === null ? null : utc(job.finishedAt),
          host: job.host,
          pid: job.pid,
          exit: job.signal ?? job.exitCode,
          error: job.error,
          usage: job.usage && isTerminal(job.state) ? usageText(job.usage) : null,
          slurm: job.slurm ? slurmJobText(job.slurm) : null,
        },
      ],
      maxAttempts: job.maxAttempts,
      notifications,
    });
  });

  router.get(
    "/jobs/:id/log",
    logText(store, { jobId: jobIdOf, notFound: missing }, () => true),
  );
  router.get("/jobs/:id/input/:field", inputFile(store, { jobId: jobIdOf, notFound: missing }));
}

/** A Slurm job as the operators read it: "12345, NODE_FAIL" (and Slurm's reason while it waits). */
function slurmJobText(slurm: { jobId: string; state: string; reason?: string | null }): string {
  return `${slurm.jobId}, ${slurm.state || "state unknown"}${slurm.reason ? ` (${slurm.reason})` : ""}`;
}

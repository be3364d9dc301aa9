// POST /admin/bulk/:action: one action over many jobs (retry every failed
// job of a type, cancel every queued job). It always asks for confirmation
// first, naming how many jobs it would act on ("Cancel 6 queued jobs?"),
// and acts only on confirm=yes; it takes BULK_MAX jobs at most, and answers
// with a report (how many were done, skipped, failed, and why).
import type Router from "@koa/router";
import type { Context } from "koa";
import { jobType } from "../../jobs/types/index.ts";
import { formatNumber } from "../../jobs/core/format.ts";
import { plural } from "../job-words.ts";
import { HttpError } from "../errors.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { retryJob } from "./actions.ts";
import { recordAction } from "./audit.ts";
import { adminBody, field } from "./shared.ts";
import { ADMIN_ROUTE } from "./view.ts";

/** The most jobs one bulk action takes. */
export const BULK_MAX = 10_000;

const BULK = {
  "retry-failed": {
    /** typeTitle: the type's title, else its name. */
    title: (typeTitle: string) => `Retry every failed ${typeTitle} job`,
    /** The question the confirmation asks, and what it says when there is nothing to do. */
    question: (count: number, type: string) => `Retry ${plural(count, `failed ${type} job`)}?`,
    nothing: (type: string) => `No failed ${type} jobs to retry`,
    states: ["failed"] as const,
    needsType: true,
  },
  "cancel-queued": {
    title: () => "Cancel every queued job",
    question: (count: number) => `Cancel ${plural(count, "queued job")}?`,
    nothing: () => "No queued jobs to cancel",
    states: ["queued"] as const,
    needsType: false,
  },
} as const;
type BulkAction = keyof typeof BULK;

interface BulkReport {
  action: BulkAction;
  type: string | null;
  matched: number;
  done: number;
  skipped: number;
  failed: number;
  problems: string[];
  created: string[];
}

/** Asks the operator to confirm an action over `count` jobs, naming the count (a page, or 409 for a JSON client). */
async function askToConfirm(ctx: Context, action: BulkAction, type: string, typeTitle: string, count: number): Promise<void> {
  const spec = BULK[action];
  const acted = Math.min(count, BULK_MAX);
  const question = spec.question(acted, type);
  if (wantsJson(ctx)) {
    ctx.status = 409;
    ctx.body = { error: "confirm", message: `${question} Send confirm=yes to go ahead.`, count, status: 409 };
    return;
  }
  await ctx.render("pages/admin-confirm", {
    title: `Confirm: ${spec.title(typeTitle)}`,
    heading: acted > 0 ? question : spec.nothing(type),
    count: acted > 0 ? formatNumber(acted) : null,
    over: count > BULK_MAX ? formatNumber(BULK_MAX) : null,
    action: `${ADMIN_ROUTE}/bulk/${action}`,
    type,
    back: `${ADMIN_ROUTE}/jobs${type ? `?type=${type}&state=${spec.states[0]}` : `?state=${spec.states[0]}`}`,
  });
}

/** Acts on each job in turn; a job that no longer fits (it changed meanwhile) is skipped. */
async function run(deps: AppDeps, action: BulkAction, type: string, ids: string[]): Promise<BulkReport> {
  const { store, config } = deps;
  const report: BulkReport = { action, type: type || null, matched: ids.length, done: 0, skipped: 0, failed: 0, problems: [], created: [] };
  for (const id of ids) {
    try {
      if (action === "cancel-queued") {
        const reply = await store.cancel(id, config.jobCancelGraceMs);
        // Each job this action ends is reported by it, once (server/job-events.ts).
        if (reply.outcome === "cancelled") await deps.telemetry.events.ended(id, "cancel");
        if (reply.outcome === "requested") {
          const [summary] = await store.summaries([id]).catch(() => [null]);
          deps.telemetry.events.cancelRequested(id, summary?.type ?? null);
        }
        if (reply.outcome === "cancelled" || reply.outcome === "requested") report.done++;
        else report.skipped++;
      } else {
        const job = await store.read(id, "auto", { resultLimit: 1 });
        if (!job || job.state !== "failed" || job.retriedAs) {
          report.skipped++;
          continue;
        }
        report.created.push(await retryJob(deps, id));
        report.done++;
      }
    } catch (err) {
      report.failed++;
      const message = err instanceof HttpError ? err.message : "an error on the server";
      if (report.problems.length < 20) report.problems.push(`${id}: ${message}`);
      // A full queue refuses every next one too: stop there.
      if (err instanceof HttpError && err.status === 503) break;
    }
  }
  return report;
}

export function bulkRoutes(router: Router, deps: AppDeps): void {
  router.post("/bulk/:action", adminBody, async (ctx) => {
    const action = ctx.params.action as BulkAction;
    // Own names only: "constructor" and the like are no action.
    const spec = Object.hasOwn(BULK, action) ? BULK[action] : undefined;
    if (!spec) throw new HttpError(404, "There is no such bulk action.", { title: "No such action" });
    const type = field(ctx, "type");
    const names = deps.registry.map((t) => t.name);
    if (spec.needsType && !jobType(type, deps.registry)) {
      throw new HttpError(400, `Choose a job type: one of ${names.join(", ")}.`, { code: "bad-type" });
    }
    if (type && !jobType(type, deps.registry)) throw new HttpError(400, `There is no job type "${type}".`, { code: "bad-type" });
    const types = type ? [type] : names;
    const count = await deps.store.countIn(types, spec.states);
    // Always asked first, however few: a click on "Cancel every queued job" must not act on jobs nobody counted.
    const typeTitle = jobType(type, deps.registry)?.title ?? type;
    if (field(ctx, "confirm") !== "yes") return askToConfirm(ctx, action, type, typeTitle, count);
    const ids = await deps.store.allIds(types, spec.states, BULK_MAX);
    const report = await run(deps, action, type, ids);
    await recordAction(
      ctx,
      deps,
      `bulk:${action}${type ? ` (${type})` : ""}`,
      ids,
      `${formatNumber(report.done)} done, ${formatNumber(report.skipped)} skipped, ${formatNumber(report.failed)} refused`,
    );
    if (wantsJson(ctx)) {
      ctx.body = report;
      return;
    }
    const title = spec.title(typeTitle);
    await ctx.render("pages/admin-report", {
      title: `Done: ${title}`,
      heading: title,
      report: {
        matched: formatNumber(report.matched),
        done: formatNumber(report.done),
        skipped: formatNumber(report.skipped),
        failed: formatNumber(report.failed),
        problems: report.problems,
        verb: action === "cancel-queued" ? "cancelled" : "retried",
      },
      back: `${ADMIN_ROUTE}/jobs${type ? `?type=${type}` : ""}`,
    });
  });
}
